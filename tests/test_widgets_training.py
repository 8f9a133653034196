"""The Train widget: a tiny training through the GUI, Stop, the loss plot, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_deconoising import load_model
from napari_deconoising.widgets._continue import FROM_FILE
from napari_deconoising.widgets.loss_plot import TRAIN_COLOUR, VALIDATION_COLOUR
from napari_deconoising.widgets.training_widget import N2V, TrainingWidget

TINY = {
    "steps": 12,
    "patch_size": 32,
    "batch_size": 4,
    "depth": 2,
    "start_filters": 8,
    "validation_interval": 4,
    "device": "cpu",
}


@pytest.fixture
def trainer_ui(make_napari_viewer, tiny_sample, tiny_model, clean_registry, home):
    # tiny_model: torch's first run in a process is slow (kernel set-up); done once per session
    viewer = make_napari_viewer()
    viewer.add_image(tiny_sample.noisy, name="noisy", scale=(1, 0.5, 0.5))
    viewer.add_image(tiny_sample.psf, name="true PSF")
    _, widget = viewer.window.add_plugin_dock_widget("napari-deconoising", "Train")
    widget.settings.set_values(**TINY)
    return viewer, widget


def coloured_pixels(plot, colour) -> int:
    """Pixels of the plot drawn in ``colour`` (the test viewer is not shown: render it)."""
    image = plot.grab().toImage()
    target = colour.rgb() & 0xFFFFFF
    return sum(
        (image.pixel(x, y) & 0xFFFFFF) == target
        for x in range(image.width())
        for y in range(image.height())
    )


def wait_idle(qtbot, widget: TrainingWidget, timeout: int = 60000) -> None:
    qtbot.waitUntil(lambda: not widget.running, timeout=timeout)


def test_defaults_come_from_layers_and_config(trainer_ui, home):
    viewer, widget = trainer_ui
    assert widget.image.value is viewer.layers["noisy"]
    assert widget.psf.value is viewer.layers["true PSF"]  # PSF-named layers are preferred
    path = Path(widget.model_file.value)
    assert path.parent == home / "deconoising-models" and path.name.startswith("noisy-")
    viewer.add_image(np.ones((5, 5)) / 25, name="PSF")  # e.g. made by the PSF widget
    assert widget.psf.value is viewer.layers["PSF"]


def test_the_form_is_simple_by_default(trainer_ui):
    from superqt import QCollapsible

    from napari_deconoising.widgets.training_form import (
        ADVANCED_FIELDS,
        INTERACTIVE_MINUTES,
        TrainingSettings,
    )

    _, widget = trainer_ui
    settings = TrainingSettings()  # as it opens (the fixture set a steps budget)
    assert settings.budget.value == "minutes" and settings.minutes.value == INTERACTIVE_MINUTES
    config = settings.config()
    assert config.steps is None and config.minutes == INTERACTIVE_MINUTES
    main = [*widget._top, *widget.settings.main]
    shown = [w.label for w in main if w.label and not w.native.isHidden()]
    assert shown == [
        "image",
        "axes",
        "continue from",
        "method",
        "PSF",
        "budget in",
        "steps",  # the fixture's budget: minutes otherwise
        "2D / 3D",
        "Z patch size",
    ]
    widget.settings.budget.value = "minutes"
    assert [w.label for w in widget.settings.main if not w.native.isHidden()] == [
        "budget in",
        "minutes",
        "2D / 3D",
        "Z patch size",
    ]
    assert not widget.settings.patch_size_z.enabled  # no Z in this layer
    advanced = set(widget.settings.advanced)
    assert {getattr(widget.settings, name) for name, *_ in ADVANCED_FIELDS} <= advanced
    for name in ("patch_size", "batch_size", "learning_rate", "depth", "seed", "tv_weight"):
        assert getattr(widget.settings, name) in advanced
    folded = widget.findChild(QCollapsible)
    assert folded is not None and not folded.isExpanded()


def test_tiny_training_runs_to_the_end(trainer_ui, qtbot, notifications, clean_registry):
    _, widget = trainer_ui
    widget.train_button.clicked()
    assert widget.running and widget.train_button.text == "Stop"
    wait_idle(qtbot, widget)
    assert widget.train_button.text == "Train"
    assert [s for s, _ in widget.loss_plot.train_points] == list(range(1, 13))
    assert [s for s, _ in widget.loss_plot.validation_points] == [4, 8, 12]
    assert all(np.isfinite(v) for _, v in widget.loss_plot.train_points)
    assert coloured_pixels(widget.loss_plot, TRAIN_COLOUR) > 50  # the curve is drawn
    assert coloured_pixels(widget.loss_plot, VALIDATION_COLOUR) > 20
    assert widget.progress.value() == widget.progress.maximum()
    assert widget.finished is not None and widget.finished.steps == 12
    assert not widget.finished.stopped
    # the model is shared with the other widgets, and saved where the widget said
    saved = Path(widget.finished.model_path)
    assert widget.model_name == f"trained: {saved.stem}"
    assert clean_registry.names() == [widget.model_name]
    assert clean_registry.path(widget.model_name) == str(saved)
    assert load_model(saved).info()["kind"] == "deconoising"
    assert "Ready in Denoise & Deconvolve" in widget.status.value
    assert not [n for n in notifications if "error" in n[0].lower()]


def test_stop_ends_early_and_keeps_a_model(trainer_ui, qtbot, clean_registry):
    _, widget = trainer_ui
    widget.settings.set_values(steps=100_000, validation_interval=1000)
    widget.train_button.clicked()
    qtbot.waitUntil(lambda: len(widget.loss_plot.train_points) >= 3, timeout=30000)
    widget.train_button.clicked()  # Stop
    assert widget.train_button.text == "Stopping…"
    wait_idle(qtbot, widget)
    assert widget.finished.stopped
    assert 3 <= widget.finished.steps < 1000
    assert widget.model_name in clean_registry.names()
    assert len(widget.loss_plot.validation_points) == 1  # the final validation
    assert widget.train_button.text == "Train" and widget.train_button.enabled


def test_n2v_mode_needs_no_psf(trainer_ui, qtbot, clean_registry):
    viewer, widget = trainer_ui
    viewer.layers.remove("true PSF")
    widget.mode.value = N2V
    widget.model_file.line_edit.value = ""  # no file: keep the model in memory only
    widget.train_button.clicked()
    wait_idle(qtbot, widget)
    assert widget.finished.model_path is None
    assert clean_registry.get(widget.model_name).info()["kind"] == "n2v"
    assert widget.model_name.startswith("trained: noisy")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (None, "choose an image layer"),
        (np.zeros((20, 20, 3), dtype=np.uint8), "RGB"),
        (np.zeros((2, 2, 40, 40)), "4D"),
        (np.random.default_rng(0).normal(size=(24, 24)), "smaller than the training patch"),
    ],
    ids=["no-image", "rgb", "4d", "too-small"],
)
def test_bad_images_are_notifications(make_napari_viewer, qtbot, notifications, data, expected):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-deconoising", "Train")
    widget.settings.set_values(**TINY)
    widget.mode.value = N2V
    if data is not None:
        viewer.add_image(data, name="bad", rgb=data.ndim == 3)
        widget.image.value = viewer.layers["bad"]
    widget.train_button.clicked()
    wait_idle(qtbot, widget)
    errors = [m for s, m in notifications if "error" in s.lower()]
    assert errors and expected in errors[-1]
    assert widget.train_button.text == "Train" and widget.finished is None
    assert "Error:" in widget.status.value


def test_a_layer_that_is_not_a_psf(trainer_ui, qtbot, notifications):
    viewer, widget = trainer_ui
    viewer.add_image(-np.ones((7, 7)), name="not a psf")
    widget.psf.value = viewer.layers["not a psf"]
    widget.train_button.clicked()
    wait_idle(qtbot, widget)
    assert "PSF layer 'not a psf' is not usable as a PSF" in notifications[-1][1]
    assert "negative" in notifications[-1][1]
    widget.psf.value = viewer.layers["noisy"]
    widget.train_button.clicked()
    assert "the same layer" in notifications[-1][1]
    assert not widget.running


def test_bad_setting_is_a_notification(trainer_ui, notifications):
    _, widget = trainer_ui
    widget.settings.set_values(depth=3, patch_size=36)  # not a multiple of 2**3
    widget.train_button.clicked()
    assert "patch_size must be" in notifications[-1][1]
    assert not widget.running


@pytest.mark.parametrize("what", ["dock", "viewer"])
def test_closing_stops_training(trainer_ui, qtbot, what):
    viewer, widget = trainer_ui
    widget.settings.set_values(steps=100_000)
    widget.train_button.clicked()
    qtbot.waitUntil(lambda: len(widget.loss_plot.train_points) >= 2, timeout=30000)
    worker = widget.jobs.worker
    if what == "dock":
        viewer.window.remove_dock_widget(widget)  # what the dock's close button does
    else:
        viewer.close()
    qtbot.waitUntil(lambda: not worker.is_running, timeout=30000)
    assert worker.abort_requested


def test_continuing_a_model_file(trainer_ui, qtbot, notifications, tiny_model, clean_registry):
    _, widget = trainer_ui
    path = tiny_model.save(Path(widget.model_file.value).parent / "earlier.pt")  # 5 steps
    widget.continue_from.combo.value = FROM_FILE
    assert not widget.continue_from.file.native.isHidden()  # the file box is offered
    assert not widget.settings.depth.enabled
    widget.train_button.clicked()  # no file chosen yet
    assert "choose the model file to continue" in notifications[-1][1] and not widget.running
    widget.continue_from.file.value = str(path)
    widget.train_button.clicked()
    wait_idle(qtbot, widget)
    assert [s for s, _ in widget.loss_plot.train_points] == list(range(6, 18))
    assert widget.finished.steps == 17 and widget.loss_plot.marks == [5]
    # the file's model was registered, and the next run goes on from this one
    assert clean_registry.names() == ["file: earlier", widget.model_name]
    assert widget.continue_from.combo.value == widget.model_name
    assert "continuing from step 5" not in widget.status.value  # replaced by the summary


def test_default_model_paths_never_overwrite_a_model(home, monkeypatch):
    import napari_deconoising.widgets._model_files as model_files

    monkeypatch.setattr(model_files.time, "strftime", lambda _format: "20261126-070000")
    first = model_files.default_model_path("noisy image")
    assert first == home / "deconoising-models" / "noisy-image-20261126-070000.pt"
    first.parent.mkdir()
    first.write_bytes(b"model")
    second = model_files.default_model_path("noisy image")
    second.with_suffix(".last.pt").write_bytes(b"last")
    third = model_files.default_model_path("noisy image")
    assert [second.name, third.name] == [
        "noisy-image-20261126-070000-2.pt",
        "noisy-image-20261126-070000-3.pt",
    ]


def test_a_dask_layer_larger_than_the_cache_trains_from_disk(
    make_napari_viewer, tiny_model, clean_registry, home, qtbot, notifications
):
    import dask.array as da

    from napari_deconoising import make_sample

    sample = make_sample(shape=(512, 512), n_frames=2, seed=0)  # 2 MB as float32
    viewer = make_napari_viewer()
    viewer.add_image(da.from_array(sample.noisy, chunks=(1, 128, 128)), name="big")
    viewer.add_image(sample.psf, name="PSF")
    _, widget = viewer.window.add_plugin_dock_widget("napari-deconoising", "Train")
    widget.settings.set_values(**TINY, cache_mb=1)
    assert widget.settings.config().cache_mb == 1
    widget.train_button.clicked()
    qtbot.waitUntil(lambda: "cache" in widget.jobs.status.value, timeout=60000)
    assert "the images take 2 MB as float32, more than the 1 MB cache" in widget.jobs.status.value
    wait_idle(qtbot, widget)
    assert widget.finished is not None and widget.finished.steps == 12
    assert isinstance(viewer.layers["big"].data, da.Array)  # the layer was never loaded
    model = load_model(widget.finished.model_path)
    assert model.normalisation.offset == pytest.approx(sample.offset, abs=3)
