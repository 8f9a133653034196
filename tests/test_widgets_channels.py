"""Channels in the widgets: a 2-channel layer trains one network per channel with a PSF per
channel; the model dropdowns name the channels; compression refuses multi-channel models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_deconoising import gaussian_psf, load_model
from napari_deconoising.model.bundle import ChannelModels
from napari_deconoising.psf.prepare import prepare_psf
from napari_deconoising.widgets._jobs import JobRunner
from napari_deconoising.widgets.compression_widget import LOAD_FILE
from tiny_settings import TINY_TRAINING as TINY

PLUGIN = "napari-deconoising"
MULTI_CHANNEL_REFUSAL = (
    "this model holds 2 channels; compression works on single-channel models for now "
    "(train one model per channel to use it)"
)


def dock(viewer, name: str):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    return widget


def shown(widget) -> bool:
    return not widget.native.isHidden()


@pytest.fixture
def two_channels(make_napari_viewer, tiny_sample, tiny_model, clean_registry, home):
    viewer = make_napari_viewer()
    two = np.stack([tiny_sample.noisy[0], tiny_sample.noisy[1] * 2 + 50])
    viewer.add_image(two, name="two", axis_labels=("c", "y", "x"), scale=(1, 0.1, 0.1))
    viewer.add_image(np.ones((20, 20), np.float32), name="flat")
    viewer.add_image(tiny_sample.psf, name="PSF")
    viewer.add_image(gaussian_psf(2.0), name="wide psf")
    return viewer


def test_two_channels_train_two_networks_with_their_own_psfs(
    two_channels, qtbot, clean_registry, notifications
):
    viewer = two_channels
    widget = dock(viewer, "Train")
    widget.settings.set_values(**TINY)
    assert widget.image.value is viewer.layers["two"]
    assert widget.axes.info.value == "2 channels × 64 × 64 (CYX) — from the layer; pixel 0.1 µm"
    combos = widget.channel_psfs.active
    assert [combo.label for combo in combos] == ["PSF channel 0", "PSF channel 1"]
    assert all(shown(combo) for combo in combos)
    # each starts on the chosen PSF, and follows it when it changes
    assert widget.psf.value is viewer.layers["wide psf"]
    assert all(combo.value is viewer.layers["wide psf"] for combo in combos)
    widget.psf.value = viewer.layers["PSF"]
    assert all(combo.value is viewer.layers["PSF"] for combo in combos)
    combos[1].value = viewer.layers["wide psf"]
    widget.train_button.clicked()
    assert widget.running and not any(combo.enabled for combo in combos)
    qtbot.waitUntil(lambda: not widget.running, timeout=60000)
    assert not [n for n in notifications if "error" in n[0].lower()]
    model = clean_registry.get(widget.model_name)
    assert isinstance(model, ChannelModels) and model.n_channels == 2
    np.testing.assert_allclose(model.channels[0].psf, prepare_psf(viewer.layers["PSF"].data))
    np.testing.assert_allclose(model.channels[1].psf, prepare_psf(gaussian_psf(2.0)))
    assert model.pixel_size_um == pytest.approx(0.1)
    assert load_model(Path(widget.finished.model_path)).n_channels == 2
    assert all(combo.enabled for combo in combos)
    # the dropdowns of the other widgets say how many channels it has
    predict = dock(viewer, "Denoise & Deconvolve")
    assert predict.model.native.currentText() == f"{widget.model_name} (2 channels)"
    # one channel: the dropdowns go away and the PSF above is used
    widget.image.value = viewer.layers["flat"]
    assert widget.channel_psfs.active == [] and not any(shown(combo) for combo in combos)


def test_each_channel_needs_a_psf(two_channels, notifications, monkeypatch):
    started = []
    monkeypatch.setattr(JobRunner, "start", lambda self, *args, **kw: started.append(args))
    viewer = two_channels
    widget = dock(viewer, "Train")
    widget.channel_psfs.active[1].value = None
    widget.train_button.clicked()
    assert notifications[-1][1] == "choose a PSF layer for channel 1" and started == []
    widget.channel_psfs.active[1].value = viewer.layers["two"]
    widget.train_button.clicked()
    assert "the PSF of channel 1 is the image itself" in notifications[-1][1]
    widget.channel_psfs.active[1].value = viewer.layers["PSF"]
    widget.train_button.clicked()
    image, psfs = started[0][1], started[0][2]  # (function, image, psfs, ...)
    assert image.axes == "CYX" and image.spacing == {"X": 0.1, "Y": 0.1}
    assert [label for label, _ in psfs] == [
        "PSF layer 'wide psf' (channel 0)",
        "PSF layer 'PSF' (channel 1)",
    ]


def test_a_bad_psf_of_one_channel_is_named(two_channels, qtbot, notifications):
    viewer = two_channels
    viewer.add_image(-np.ones((7, 7)), name="not a psf")
    widget = dock(viewer, "Train")
    widget.settings.set_values(**TINY)
    widget.channel_psfs.active[0].value = viewer.layers["PSF"]
    widget.channel_psfs.active[1].value = viewer.layers["not a psf"]
    widget.train_button.clicked()
    qtbot.waitUntil(lambda: not widget.running, timeout=30000)
    message = notifications[-1][1]
    assert message.startswith("PSF layer 'not a psf' (channel 1) is not usable as a PSF")


def test_compress_refuses_a_two_channel_model(
    two_channels, qtbot, two_channel_model, clean_registry, home, notifications
):
    viewer = two_channels
    clean_registry.add("trained: two", two_channel_model)
    widget = dock(viewer, "Compress")
    assert widget.model.native.currentText() == "trained: two (2 channels)"
    widget.compress_button.clicked()
    assert not widget.running and widget.jobs.worker is None
    assert notifications == [("error", MULTI_CHANNEL_REFUSAL)]
    assert widget.status.text() == f"Error: {MULTI_CHANNEL_REFUSAL}"
    # the same from a model file (read in the worker)
    path = two_channel_model.save(home / "two.pt")
    widget.model.value = LOAD_FILE
    widget.model_file.value = path
    widget.compress_button.clicked()
    qtbot.waitUntil(lambda: not widget.running, timeout=30000)
    assert [text for _, text in notifications] == [MULTI_CHANNEL_REFUSAL] * 2
    assert widget.result is None and "Traceback" not in widget.status.text()


def test_compress_refuses_an_image_with_more_channels(
    two_channels, tiny_model, clean_registry, notifications
):
    viewer = two_channels
    clean_registry.add("trained: tiny", tiny_model)
    widget = dock(viewer, "Compress")
    assert widget.image.value is viewer.layers["two"]
    widget.compress_button.clicked()
    assert not widget.running
    assert "trained on 1 channel(s), but two has 2" in notifications[-1][1]
