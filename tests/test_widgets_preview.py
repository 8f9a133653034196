"""The Train widget's live preview, and training that goes on from a model."""

from __future__ import annotations

import numpy as np
import pytest

from napari_deconoising import load_model, make_sample
from napari_deconoising.widgets._continue import MODEL_PSF, NEW_MODEL
from napari_deconoising.widgets._preview import CONTEXT, read_request
from napari_deconoising.widgets.training_widget import N2V

TINY = {
    "steps": 100_000,
    "patch_size": 32,
    "batch_size": 4,
    "depth": 2,
    "start_filters": 8,
    "validation_interval": 1000,
    "device": "cpu",
}
SCALE, TRANSLATE = (1.0, 0.5, 0.5), (0.0, 3.0, 4.0)


@pytest.fixture(scope="module")
def large_sample():
    """Two 320 × 320 frames: larger than the 256 × 256 preview crop."""
    return make_sample(shape=(320, 320), n_frames=2, cell_size=24, seed=5)


@pytest.fixture
def trainer_ui(make_napari_viewer, large_sample, tiny_model, clean_registry, home):
    # tiny_model: torch's first run in a process is slow (kernel set-up); done once per session
    viewer = make_napari_viewer()
    viewer.add_image(large_sample.noisy, name="noisy", scale=SCALE, translate=TRANSLATE)
    viewer.add_image(large_sample.psf, name="true PSF")
    _, widget = viewer.window.add_plugin_dock_widget("napari-deconoising", "Train")
    widget.settings.set_values(**TINY)
    widget.preview.interval_s = 0.2
    return viewer, widget


def wait_idle(qtbot, widget, timeout: int = 60000) -> None:
    qtbot.waitUntil(lambda: not widget.running, timeout=timeout)


def preview_layers(viewer) -> list:
    return [layer for layer in viewer.layers if "preview" in layer.name]


def test_preview_follows_training_over_the_view(trainer_ui, qtbot):
    viewer, widget = trainer_ui
    raw = viewer.layers["noisy"]
    viewer.dims.set_current_step(0, 1)  # the second frame
    # the camera on data pixel (y 200, x 150): the 256 px crop starts at y 64 (the image's
    # last 256 rows) and x 22
    camera = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera
    camera.center = (0, TRANSLATE[1] + 200 * SCALE[1], TRANSLATE[2] + 150 * SCALE[2])
    widget.train_button.clicked()
    qtbot.waitUntil(lambda: widget.preview.refreshes >= 1, timeout=60000)
    layer = widget.preview.layer
    assert layer.name == "noisy preview deconvolved" and layer.visible
    assert layer.data.shape == (1, 256, 256) and np.isfinite(layer.data).all()
    # it overlays the raw image: same scale, translated to the crop's corner in this frame
    np.testing.assert_allclose(layer.scale, raw.scale)
    np.testing.assert_allclose(layer.translate, [1, 3 + 64 * 0.5, 4 + 22 * 0.5])
    first = np.array(layer.data)
    qtbot.waitUntil(lambda: widget.preview.refreshes >= 2, timeout=60000)
    assert widget.preview.layer is layer and preview_layers(viewer) == [layer]  # data replaced
    assert not np.array_equal(first, layer.data)  # the network has trained on
    assert widget.image.value is raw  # the preview never becomes the image to train on
    assert all(cost < 5 for cost in widget.preview.costs_s)
    widget.stop()
    wait_idle(qtbot, widget)
    assert preview_layers(viewer) == [] and widget.preview.layer is None  # only real outputs
    assert [layer.name for layer in viewer.layers] == ["noisy", "true PSF"]


def test_unchecking_stops_the_preview(trainer_ui, qtbot):
    viewer, widget = trainer_ui
    widget.train_button.clicked()
    qtbot.waitUntil(lambda: widget.preview.refreshes >= 1, timeout=60000)
    widget.preview.checkbox.value = False
    seen = widget.preview.refreshes
    assert not widget.preview.layer.visible
    qtbot.wait(2000)
    assert widget.running and widget.preview.refreshes == seen
    widget.preview.checkbox.value = True  # and back on
    qtbot.waitUntil(lambda: widget.preview.refreshes > seen, timeout=60000)
    assert widget.preview.layer.visible
    widget.stop()
    wait_idle(qtbot, widget)
    assert widget.finished.stopped and preview_layers(viewer) == []


def test_a_removed_preview_layer_turns_the_preview_off(trainer_ui, qtbot, notifications):
    viewer, widget = trainer_ui
    widget.train_button.clicked()
    qtbot.waitUntil(lambda: widget.preview.refreshes >= 1, timeout=60000)
    viewer.layers.remove(widget.preview.layer)
    assert not widget.preview.checkbox.value and widget.preview.layer is None
    qtbot.wait(1000)
    assert preview_layers(viewer) == [] and widget.running
    widget.stop()
    wait_idle(qtbot, widget)
    assert not [n for n in notifications if "error" in n[0].lower()]


def test_preview_of_a_multichannel_layer(make_napari_viewer, qtbot, tiny_sample, tiny_model, home):
    viewer = make_napari_viewer()
    frame = tiny_sample.noisy[0]
    viewer.add_image(np.stack([frame, frame * 2 + 50]), name="two colours")
    viewer.add_image(tiny_sample.psf, name="true PSF")
    _, widget = viewer.window.add_plugin_dock_widget("napari-deconoising", "Train")
    widget.settings.set_values(**TINY)
    widget.preview.interval_s = 0.2
    widget.axes.box.value = "CYX"
    viewer.dims.set_current_step(0, 1)  # channel 1 in view
    widget.train_button.clicked()
    qtbot.waitUntil(lambda: widget.preview.refreshes >= 1, timeout=60000)
    layer = widget.preview.layer
    assert layer.data.shape == (1, 64, 64)
    np.testing.assert_allclose(layer.translate, [1, 0, 0])
    assert widget.preview.last.request.channel == 1  # channel 1's network
    widget.stop()
    wait_idle(qtbot, widget)
    assert widget.finished is not None and widget.finished.stopped
    assert preview_layers(viewer) == []


def test_continuing_numbers_steps_on_and_extends_the_plot(trainer_ui, qtbot, clean_registry):
    viewer, widget = trainer_ui
    widget.settings.set_values(steps=12, validation_interval=4, start_filters=16)
    assert widget.preview.checkbox.value  # live preview on
    widget.train_button.clicked()
    wait_idle(qtbot, widget)
    assert widget.finished is not None and not widget.finished.stopped
    assert preview_layers(viewer) == []  # training ended: only the real layers are left
    first = widget.model_name
    assert widget.continue_from.combo.value == NEW_MODEL  # a new model is not adopted
    widget.continue_from.combo.value = first
    settings = widget.settings
    assert not settings.depth.enabled and not settings.start_filters.enabled
    assert settings.start_filters.value == 16 and not widget.mode.enabled
    assert widget.psf.value is None and widget.psf.native.currentText() == MODEL_PSF
    widget.train_button.clicked()
    wait_idle(qtbot, widget)
    assert [s for s, _ in widget.loss_plot.train_points] == list(range(1, 25))
    assert [s for s, _ in widget.loss_plot.validation_points] == [4, 8, 12, 16, 20, 24]
    assert widget.loss_plot.marks == [12]
    assert widget.finished.steps == 24 and not widget.finished.stopped
    assert widget.progress.value() == widget.progress.maximum()
    second = widget.model_name
    assert second != first and clean_registry.names() == [first, second]
    assert widget.continue_from.combo.value == second  # a third run goes on from here
    model = load_model(widget.finished.model_path)
    assert model.channels[0].metadata["steps"] == 24
    assert model.network.config.start_filters == 16
    widget.continue_from.combo.value = NEW_MODEL
    assert settings.start_filters.enabled and widget.mode.enabled


def test_continuing_another_model_starts_the_plot_at_its_steps(
    trainer_ui, qtbot, tiny_model, clean_registry
):
    viewer, widget = trainer_ui
    widget.mode.value = N2V
    widget.settings.set_values(steps=6, validation_interval=3, start_filters=24, depth=3)
    widget.loss_plot.add_train(1, 1.0)  # an earlier run's curve
    clean_registry.add("tiny", tiny_model)  # trained 5 steps, 8 filters, with a PSF
    widget.continue_from.combo.value = "tiny"
    settings = widget.settings
    assert (settings.start_filters.value, settings.depth.value) == (8, 2)
    assert widget.mode.value != N2V  # the model's method
    widget.psf.value = viewer.layers["true PSF"]  # a PSF layer replaces the model's
    widget.train_button.clicked()
    wait_idle(qtbot, widget)
    assert [s for s, _ in widget.loss_plot.train_points] == list(range(6, 12))
    assert widget.loss_plot.marks == [5]
    assert widget.finished.steps == 11
    widget.continue_from.combo.value = NEW_MODEL  # the user's own values come back
    assert (settings.start_filters.value, settings.depth.value) == (24, 3)
    assert widget.mode.value == N2V and widget.psf.value is viewer.layers["true PSF"]


def test_continuing_with_other_channels_is_one_notification(
    trainer_ui, qtbot, notifications, tiny_model, clean_registry
):
    viewer, widget = trainer_ui
    frame = viewer.layers["noisy"].data[0]
    viewer.add_image(np.stack([frame, frame]), name="two colours")
    widget.image.value = viewer.layers["two colours"]
    widget.axes.box.value = "CYX"
    clean_registry.add("one colour", tiny_model)
    widget.continue_from.combo.value = "one colour"
    before = len(notifications)
    widget.train_button.clicked()
    shown = notifications[before:]
    assert len(shown) == 1 and "error" in shown[0][0].lower()
    assert shown[0][1] == (
        "the model to continue was trained on 1 channel(s), but the images have 2; "
        "continue with images of the same channels"
    )
    assert not widget.running and widget.finished is None
    assert preview_layers(viewer) == []  # nothing ran


class FakeLayer:
    def __init__(self, data):
        self.data = data
        self.name = "recording"


@pytest.mark.parametrize("axes", ["TCYX", "XYT"])
def test_the_crop_is_read_around_the_point_in_any_axis_order(axes):
    sizes = {"T": 3, "C": 2, "Y": 300, "X": 100}
    shape = tuple(sizes[a] for a in axes)
    data = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    point = {"T": 2.2, "C": 1, "Y": 290.0, "X": 50.4}
    request = read_request(FakeLayer(data), axes, np.array([point[a] for a in axes]), 8, 7)
    # Y: 256 rows (a multiple of 8), clamped to the image's end; X: the whole 96 px (100 // 8)
    y, x, height, width = request.inner
    assert (height, width) == (256, 96)
    corner = dict(zip(axes, request.placement.corner, strict=True))
    assert corner["Y"] == 300 - 256 and corner["X"] == 2 and corner["T"] == 2
    assert request.channel == corner.get("C", 0)
    crop = request.window[y : y + height, x : x + width]
    placed = request.placement.layer_data(crop)  # back in the layer's axis order
    index = tuple(
        slice(corner[a], corner[a] + (height if a == "Y" else width)) if a in "YX" else corner[a]
        for a in axes
    )
    np.testing.assert_array_equal(placed.squeeze(), data[index])
    assert placed.shape == tuple({"Y": height, "X": width}.get(a, 1) for a in axes)
    # the context around the crop is real image, where there is some
    assert request.window.shape == (256 + CONTEXT, 100)
