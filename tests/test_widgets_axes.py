"""Axes and physical sizes in the widgets: how a layer is read, the "axes" box, outputs that keep
the raw layer's shape and metadata, and the pixel-size warning."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from napari_deconoising import PredictionConfig, Predictor
from napari_deconoising.data.channels import pixel_size_warning
from napari_deconoising.errors import ImageError
from napari_deconoising.io import AxesImage, validate_axes
from napari_deconoising.widgets._jobs import JobRunner

PLUGIN = "napari-deconoising"
WIDGETS = ["Train", "Denoise & Deconvolve", "Compress"]
VOLUME = {"scale": (0.25, 0.1, 0.1), "units": ("µm", "µm", "µm"), "axis_labels": ("z", "y", "x")}


def dock(viewer, name: str):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    return widget


def errors(notifications) -> list[str]:
    return [text for severity, text in notifications if "error" in severity.lower()]


@pytest.mark.parametrize("name", WIDGETS)
def test_the_axes_line_says_how_the_layer_is_read(make_napari_viewer, clean_registry, home, name):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((3, 40, 50), np.float32), name="stack")
    widget = dock(viewer, name)
    assert widget.axes.info.value == (
        "reading (3, 40, 50) as SYX: 3 frames; say CYX or ZYX in 'axes' if that is wrong"
    )
    viewer.add_image(
        np.zeros((3, 40, 50), np.float32),
        name="cells",
        axis_labels=("c", "y", "x"),
        scale=(1, 0.065, 0.065),
        units=("µm", "µm", "µm"),
    )
    widget.image.value = viewer.layers["cells"]
    assert widget.axes.info.value == "3 channels × 40 × 50 (CYX) — from the layer; pixel 0.065 µm"
    widget.axes.box.value = "zyx"  # the user's word wins
    assert widget.axes.info.value == (
        "3 planes × 40 × 50 (ZYX) — as typed in 'axes'; pixel 0.065 µm; z-step 1 µm"
    )
    widget.axes.box.value = ""
    viewer.layers["cells"].axis_labels = ("t", "y", "x")  # the line follows the layer
    assert widget.axes.info.value.startswith("3 time points × 40 × 50 (TYX) — from the layer")
    viewer.layers["cells"].data = np.zeros((40, 50), np.float32)
    assert widget.axes.info.value.startswith("40 × 50 (YX)")


@pytest.mark.parametrize("name", WIDGETS)
def test_bad_axes_are_one_notification_and_nothing_runs(
    make_napari_viewer,
    tiny_sample,
    tiny_model,
    clean_registry,
    home,
    notifications,
    monkeypatch,
    name,
):
    started = []
    monkeypatch.setattr(JobRunner, "start", lambda self, *args, **kw: started.append(args))
    clean_registry.add("trained: tiny", tiny_model)
    viewer = make_napari_viewer()
    viewer.add_image(tiny_sample.noisy, name="noisy")
    viewer.add_image(tiny_sample.psf, name="PSF")
    widget = dock(viewer, name)
    widget.axes.box.value = "QYX"
    with pytest.raises(ImageError) as expected:
        validate_axes("QYX", tiny_sample.noisy.shape)
    message = str(expected.value)
    assert widget.axes.info.value == message
    assert notifications == []  # typing is not an error yet
    widget.jobs.button.clicked()
    assert [text for _, text in notifications] == [message]
    assert errors(notifications) == [message]
    assert started == [] and not widget.running
    assert widget.jobs.status.value == f"Error: {message}"
    widget.axes.box.value = "SYX"  # the same inputs with good axes do start
    widget.jobs.button.clicked()
    assert len(started) == 1 and len(notifications) == 1


@pytest.mark.parametrize("name", WIDGETS)
def test_rgb_layers_are_refused_with_the_engines_message(
    make_napari_viewer, clean_registry, home, notifications, name
):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((40, 40, 3), np.uint8), name="photo", rgb=True)
    widget = dock(viewer, name)
    widget.image.value = viewer.layers["photo"]
    assert "RGB(A) colour image" in widget.axes.info.value
    widget.axes.box.value = "YXC"  # typed axes do not make an RGB layer usable
    widget.jobs.button.clicked()
    assert "RGB(A) colour image" in errors(notifications)[-1] and not widget.running


@pytest.fixture
def predict_volume(make_napari_viewer, tiny_sample, tiny_model, clean_registry):
    viewer = make_napari_viewer()
    viewer.add_image(tiny_sample.noisy, name="raw", translate=(0, 3, 4), **VOLUME)
    widget = dock(viewer, "Denoise & Deconvolve")
    widget.tile.value, widget.overlap.value = 32, 8
    return viewer, widget


def run(widget, qtbot) -> None:
    widget.run_button.clicked()
    assert widget.running
    qtbot.waitUntil(lambda: not widget.running, timeout=30000)


def assert_like_raw(layer, raw) -> None:
    assert layer.data.shape == raw.data.shape
    np.testing.assert_array_equal(layer.scale, raw.scale)
    np.testing.assert_array_equal(layer.translate, raw.translate)
    assert tuple(layer.units) == tuple(raw.units)
    assert tuple(layer.axis_labels) == tuple(raw.axis_labels)
    assert tuple(layer.contrast_limits) == tuple(raw.contrast_limits)


def test_outputs_of_a_volume_keep_its_scale_units_and_labels(
    predict_volume, qtbot, tiny_sample, tiny_model, clean_registry, notifications
):
    viewer, widget = predict_volume
    clean_registry.add("trained: tiny", tiny_model)
    assert widget.axes.info.value == (
        "2 planes × 64 × 64 (ZYX) — from the layer; pixel 0.1 µm; z-step 0.25 µm"
    )
    run(widget, qtbot)
    raw = viewer.layers["raw"]
    expected = Predictor(tiny_model, PredictionConfig(tile=32, overlap=8)).predict(
        AxesImage(tiny_sample.noisy, "ZYX")
    )
    for suffix, data in (("denoised", expected.denoised), ("deconvolved", expected.deconvolved)):
        layer = viewer.layers[f"raw {suffix}"]
        assert_like_raw(layer, raw)
        assert tuple(layer.axis_labels) == ("z", "y", "x")
        assert [str(u) for u in layer.units] == ["micrometer"] * 3
        np.testing.assert_allclose(layer.data, data, rtol=1e-4, atol=1e-3)
    assert not [n for n in notifications if "warning" in n[0].lower()]  # model has no pixel size


def test_a_pixel_size_mismatch_is_a_warning(
    predict_volume, qtbot, tiny_model, clean_registry, notifications
):
    viewer, widget = predict_volume
    seen = notifications
    clean_registry.add("trained: 0.1", replace(tiny_model, metadata={"pixel_size_um": 0.104}))
    assert "trained at 0.104 µm pixels" in widget.model_info.value
    run(widget, qtbot)
    assert seen == []  # within 10%: no warning
    clean_registry.add("trained: 0.25", replace(tiny_model, metadata={"pixel_size_um": 0.25}))
    run(widget, qtbot)
    image = AxesImage(viewer.layers["raw"].data, "ZYX", {"X": 0.1}, name="raw")
    assert seen == [("warning", pixel_size_warning(0.25, image))]
    assert "trained at 0.25 µm" in seen[0][1] and "Warning:" in widget.status.value
    assert "raw denoised" in viewer.layers  # a warning, not an error


def test_outputs_of_two_channels_keep_the_channel_axis(
    make_napari_viewer, qtbot, tiny_sample, two_channel_model, clean_registry
):
    viewer = make_napari_viewer()
    two = np.stack([tiny_sample.noisy[0], tiny_sample.noisy[1] * 2 + 50])
    viewer.add_image(
        two, name="two", axis_labels=("c", "y", "x"), scale=(1, 0.1, 0.1), translate=(0, 2, 2)
    )
    clean_registry.add("trained: two", two_channel_model)
    widget = dock(viewer, "Denoise & Deconvolve")
    widget.tile.value, widget.overlap.value = 32, 8
    assert widget.model.native.currentText() == "trained: two (2 channels)"
    assert widget.model.value == "trained: two"
    assert widget.model_info.value.startswith("DecoNoising, 2 channels,")
    run(widget, qtbot)
    raw = viewer.layers["two"]
    expected = Predictor(two_channel_model, PredictionConfig(tile=32, overlap=8)).predict(
        AxesImage(two, "CYX")
    )
    for suffix, data in (("denoised", expected.denoised), ("deconvolved", expected.deconvolved)):
        layer = viewer.layers[f"two {suffix}"]
        assert_like_raw(layer, raw)
        assert layer.data.shape == (2, 64, 64) and tuple(layer.axis_labels) == ("c", "y", "x")
        np.testing.assert_allclose(layer.data, data, rtol=1e-4, atol=1e-3)
    # each channel went through its own network: the outputs differ from one model for both
    one = Predictor(two_channel_model.channels[0], PredictionConfig(tile=32, overlap=8))
    alone = one.predict(AxesImage(two, "SYX")).denoised
    assert np.abs(alone[1] - viewer.layers["two denoised"].data[1]).max() > 1


def test_a_model_for_other_channels_is_refused_before_running(
    make_napari_viewer, tiny_sample, tiny_model, clean_registry, notifications
):
    viewer = make_napari_viewer()
    two = np.stack([tiny_sample.noisy[0], tiny_sample.noisy[1]])
    viewer.add_image(two, name="two", axis_labels=("c", "y", "x"))
    clean_registry.add("trained: tiny", tiny_model)
    widget = dock(viewer, "Denoise & Deconvolve")
    widget.run_button.clicked()
    assert not widget.running
    assert "trained on 1 channel(s), but two has 2" in errors(notifications)[-1]


def test_psf_widget_takes_the_pixel_size_from_a_layer(make_napari_viewer):
    from napari_deconoising.widgets import psf_widget as pw

    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((20, 20)), name="cells", scale=(0.065, 0.065), units=("µm", "µm"))
    viewer.add_image(np.zeros((20, 20)), name="beads", scale=(80, 80), units="nm")
    viewer.add_image(np.zeros((20, 20)), name="plain")
    widget = dock(viewer, "PSF")
    widget.mode.value = pw.GAUSSIAN_OPTICS
    assert not widget.pixel_from.native.isHidden() and widget.pixel_from.value is None
    widget.pixel_from.value = viewer.layers["cells"]
    assert widget.pixel_size.value == pytest.approx(65.0)
    assert widget.fwhm_text == "Pixel size 65 nm from layer 'cells'"
    widget.pixel_from.value = viewer.layers["beads"]
    assert widget.pixel_size.value == pytest.approx(80.0)
    widget.pixel_from.value = viewer.layers["plain"]
    assert widget.pixel_size.value == pytest.approx(80.0)  # unchanged
    assert "no physical pixel size" in widget.fwhm_text
    widget.mode.value = pw.GAUSSIAN_SIGMA
    assert widget.pixel_from.native.isHidden()
