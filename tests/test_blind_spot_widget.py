"""The Train widget: the design and blind-spot settings, and the noise notes of a run."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from napari_deconoising.config.training import BLIND_SPOTS, DESIGNS
from napari_deconoising.widgets.training_form import TOOLTIPS
from napari_deconoising.widgets.training_widget import DECONOISING, N2V
from tiny_settings import TINY_TRAINING


def test_design_and_blind_spot_are_advanced_settings(make_napari_viewer, tiny_sample, home):
    viewer = make_napari_viewer()
    viewer.add_image(tiny_sample.noisy, name="noisy")
    viewer.add_image(tiny_sample.psf, name="PSF")
    _, widget = viewer.window.add_plugin_dock_widget("napari-deconoising", "Train")
    settings = widget.settings
    assert tuple(settings.design.choices) == DESIGNS and settings.design.value == "joint"
    assert settings.design in set(settings.advanced)
    assert settings.design.tooltip == TOOLTIPS["design"]
    assert TOOLTIPS["design"].startswith("joint: the network's output is the deconvolved image")
    assert tuple(settings.blind_spot.choices) == BLIND_SPOTS
    settings.set_values(design="two-stage", blind_spot="y", blind_spot_span=2)
    config = settings.config()
    assert (config.design, config.blind_spot, config.blind_spot_span) == ("two-stage", "y", 2)
    settings.set_values(blind_spot_span=0)
    assert settings.config().blind_spot_span is None  # 0: the measured length
    widget.mode.value = N2V
    assert not settings.design.enabled  # no PSF, nothing to deconvolve
    widget.mode.value = DECONOISING
    assert settings.design.enabled


def test_a_run_shows_what_the_noise_measurement_found(make_napari_viewer, qtbot, home):
    rng = np.random.default_rng(0)
    kernel = np.array([0.7, 1.0, 0.7]) / np.sqrt(1.98)
    noisy = 300 + ndimage.correlate1d(rng.normal(0, 5, (2, 64, 64)), kernel, axis=-1)
    viewer = make_napari_viewer()
    viewer.add_image(noisy.astype(np.float32), name="rows")
    viewer.add_image(np.outer(*[np.exp(-(np.arange(-3, 4) ** 2) / 2)] * 2), name="PSF")
    _, widget = viewer.window.add_plugin_dock_widget("napari-deconoising", "Train")
    widget.settings.set_values(**TINY_TRAINING)
    widget.train_button.clicked()
    qtbot.waitUntil(lambda: not widget.running, timeout=60000)
    assert widget.finished is not None and not widget.finished.stopped
    assert "noise is correlated along X over 2 pixels" in widget.notes.value
    assert "spans 5 pixels along X" in widget.notes.value
