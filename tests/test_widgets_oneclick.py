"""The One-click widget: a raw layer to denoised and deconvolved layers with one button (2D and
z-stacks, automatic or chosen PSF, re-runs, cancel, messages), and the orthogonal views."""

from __future__ import annotations

import numpy as np
import pytest

from napari_deconoising.config.psf import OpticsConfig
from napari_deconoising.data.automatic_psf import automatic_recipe
from napari_deconoising.psf.measure import psf_fwhm, psf_fwhm_z
from napari_deconoising.psf.models import gaussian_psf_3d
from napari_deconoising.psf.recipe import make_psf
from napari_deconoising.widgets._axes import layer_image
from napari_deconoising.widgets._grid import plane_order
from napari_deconoising.widgets.oneclick_widget import RUN_TEXT
from tiny_settings import TINY_TRAINING

PLUGIN = "napari-deconoising"
WIDGET = "One-click Denoise & Deconvolve"
VOXEL = (0.25, 0.1, 0.1)
#: A tiny 3D run: the sizes 3D training needs besides the tiny 2D ones.
TINY_3D = {**TINY_TRAINING, "steps": 3, "patch_size_z": 8}


@pytest.fixture
def one_click(make_napari_viewer, clean_registry, home):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    widget.settings = dict(TINY_TRAINING)
    return viewer, widget


def add_raw(viewer, tiny_sample, **options):
    return viewer.add_image(tiny_sample.noisy, name="raw", **options)


def add_stack(viewer, shape=(12, 32, 32)):
    data = np.random.default_rng(0).poisson(20, shape).astype(np.float32) + 100
    return viewer.add_image(
        data, name="stack", scale=VOXEL, units=("µm",) * 3, axis_labels=("z", "y", "x")
    )


def shown(widget) -> bool:
    return not widget.native.isHidden()


def click_and_wait(widget, qtbot) -> None:
    widget.run_button.clicked()
    assert widget.running and widget.run_button.text == "Cancel"
    qtbot.waitUntil(lambda: not widget.running, timeout=120000)
    assert widget.run_button.text == RUN_TEXT


def test_one_click_adds_both_layers_and_a_rerun_replaces_them(one_click, qtbot, tiny_sample, home):
    viewer, widget = one_click
    raw = add_raw(viewer, tiny_sample, scale=(1, 0.5, 0.5), contrast_limits=(90, 140))
    viewer.add_image(tiny_sample.psf, name="true PSF")
    assert widget.image.value is raw and widget.psf.value is viewer.layers["true PSF"]
    assert widget.psf_info.value.startswith("PSF: layer 'true PSF': FWHM ")
    click_and_wait(widget, qtbot)
    names = [layer.name for layer in viewer.layers]
    assert names == ["raw", "true PSF", "raw denoised", "raw deconvolved"]
    for name in ("raw denoised", "raw deconvolved"):
        layer = viewer.layers[name]
        assert layer.data.shape == raw.data.shape and np.isfinite(layer.data).all()
        np.testing.assert_array_equal(layer.scale, raw.scale)
        assert tuple(layer.contrast_limits) == (90, 140)
    status = widget.status.value
    assert status.startswith("Added 'raw denoised' and 'raw deconvolved'.\nTrained 2D: 4 steps")
    assert "PSF: layer 'true PSF'" in status and "not saved" in status
    assert "'one-click: raw'" in status
    assert not (home / "deconoising-models").exists()  # nothing written unasked
    from napari_deconoising.widgets._models import model_registry

    assert model_registry.get("one-click: raw").spatial_dims == 2
    denoised = viewer.layers["raw denoised"]
    click_and_wait(widget, qtbot)
    assert [layer.name for layer in viewer.layers] == names
    assert viewer.layers["raw denoised"] is denoised


def test_automatic_psf_comes_from_the_pixel_size_and_says_so(one_click, tiny_sample):
    viewer, widget = one_click
    raw = add_raw(viewer, tiny_sample, scale=(1, 0.1, 0.1), units=("µm",) * 3)
    assert widget.psf.value is None
    psf = make_psf(automatic_recipe(layer_image(raw)))
    fwhm = psf_fwhm(psf)
    assert widget.psf_info.value == (
        "PSF: automatic: a Gaussian for typical optics (NA 1.4, 520 nm emission) at the layer's "
        f"0.1 µm pixels; FWHM {fwhm:.2f} px ({fwhm * 0.1:.3g} µm) lateral, "
        f"kernel {psf.shape[0]}×{psf.shape[1]} px"
    )
    raw.scale, raw.units = (1, 1, 1), ("pixel",) * 3  # no physical size: from the spectrum
    sigma = automatic_recipe(layer_image(raw)).sigma
    assert sigma != OpticsConfig().sigma
    assert (
        f"a Gaussian of sigma {sigma:.3g} px estimated from the layer's spectrum (the layer has "
        "no pixel size)"
    ) in widget.psf_info.value
    raw.data = np.random.default_rng(0).poisson(50, raw.data.shape).astype(np.float32)
    assert (
        "a Gaussian of sigma 1.5 px (the layer has no pixel size, and its spectrum shows no "
        "measurable blur)"
    ) in widget.psf_info.value


def test_zstack_trains_3d_with_an_automatic_3d_psf_and_shows_orthogonal_views(one_click, qtbot):
    viewer, widget = one_click
    stack = add_stack(viewer)
    widget.settings = dict(TINY_3D)
    psf = make_psf(automatic_recipe(layer_image(stack)))
    assert psf.ndim == 3
    axial = psf_fwhm_z(psf)
    assert f"FWHM {axial:.2f} planes ({axial * 0.25:.3g} µm) axial" in widget.psf_info.value
    assert "a 3D Gaussian for typical optics (NA 1.4, 520 nm emission)" in widget.psf_info.value
    assert not shown(widget.comparison.planes)
    click_and_wait(widget, qtbot)
    assert "Trained 3D: 3 steps" in widget.status.value
    from napari_deconoising.widgets._models import model_registry

    assert model_registry.get("one-click: stack").spatial_dims == 3
    for name in ("stack denoised", "stack deconvolved"):
        assert viewer.layers[name].data.shape == stack.data.shape
    comparison = widget.comparison
    assert shown(comparison.planes) and comparison.planes.value == "XY"
    viewer.dims.ndisplay = 3  # e.g. left there by the PSF widget
    comparison.show_plane("XZ")
    grid = viewer.canvas.grid
    assert grid.enabled and comparison.grid_button.text == "Single view"
    visible = [layer.name for layer in viewer.layers if layer.visible]
    assert visible == ["stack", "stack denoised", "stack deconvolved"]
    assert viewer.dims.ndisplay == 2
    assert tuple(viewer.dims.order) == (1, 0, 2)  # Z vertical, X across, the Y slider
    comparison.show_plane("YZ")
    assert tuple(viewer.dims.order) == (2, 0, 1)
    comparison.show_plane("XY")
    assert tuple(viewer.dims.order) == (0, 1, 2) and grid.enabled
    comparison.grid_button.clicked()
    assert not grid.enabled and all(layer.visible for layer in viewer.layers)
    # Denoise & Deconvolve offers the model, and the same views after its run
    _, predictor = viewer.window.add_plugin_dock_widget(PLUGIN, "Denoise & Deconvolve")
    assert predictor.model.value == "one-click: stack"
    predictor.run_button.clicked()
    qtbot.waitUntil(lambda: not predictor.running, timeout=60000)
    assert shown(predictor.comparison.planes)
    predictor.comparison.show_plane("YZ")
    assert tuple(viewer.dims.order) == (2, 0, 1) and grid.enabled


def test_denoise_and_deconvolve_without_a_model_points_to_one_click(
    make_napari_viewer, clean_registry
):
    viewer = make_napari_viewer()
    _, predictor = viewer.window.add_plugin_dock_widget(PLUGIN, "Denoise & Deconvolve")
    assert (
        f"No model yet? Plugins > DecoNoising > {WIDGET} trains one" in predictor.model_info.value
    )


def test_orthogonal_views_are_offered_for_zstacks_only(one_click, qtbot, tiny_sample):
    viewer, widget = one_click
    add_raw(viewer, tiny_sample)
    viewer.add_image(tiny_sample.psf, name="PSF")
    click_and_wait(widget, qtbot)
    assert not shown(widget.comparison.planes)  # frames, not a z-stack
    widget.comparison.grid_button.clicked()
    assert viewer.canvas.grid.enabled


def test_plane_order_keeps_other_dims_in_front():
    assert plane_order((0, 1, 2, 3), "CZYX", "XZ") == (0, 2, 1, 3)
    assert plane_order((0, 1, 2, 3), "CZYX", "YZ") == (0, 3, 1, 2)
    assert plane_order((1, 0, 2, 3, 4), "ZYX", "XZ") == (1, 0, 3, 2, 4)  # a 3D layer, 5D viewer
    assert plane_order((3, 0, 1, 2), "ZYX", "XY") == (0, 1, 2, 3)  # Z, Y, X last, in order


def test_cancel_changes_no_layer(one_click, qtbot, tiny_sample, clean_registry):
    viewer, widget = one_click
    add_raw(viewer, tiny_sample)
    viewer.add_image(tiny_sample.psf, name="PSF")
    widget.settings = {**TINY_TRAINING, "steps": 100_000}
    widget.run_button.clicked()
    qtbot.waitUntil(lambda: widget.progress.format().startswith("training 2D"), timeout=60000)
    widget.run_button.clicked()  # Cancel
    qtbot.waitUntil(lambda: not widget.running, timeout=60000)
    assert widget.status.value == "Cancelled; no layers were changed."
    assert [layer.name for layer in viewer.layers] == ["raw", "PSF"]
    assert "one-click: raw" not in clean_registry


def test_without_an_image_the_message_says_what_to_do(one_click, notifications):
    _, widget = one_click
    assert widget.psf_info.value.startswith("PSF: none yet (choose an image layer")
    widget.run_button.clicked()
    assert not widget.running
    assert "choose an image layer" in notifications[-1][1]
    assert "Open Sample" in widget.status.value


def test_a_3d_psf_for_a_layer_without_z_is_refused_clearly(one_click, tiny_sample, notifications):
    viewer, widget = one_click
    add_raw(viewer, tiny_sample)
    viewer.add_image(gaussian_psf_3d(1.0, 1.0), name="PSF")
    widget.run_button.clicked()
    assert not widget.running
    assert "the PSF is 3D" in notifications[-1][1] and "no Z axis" in notifications[-1][1]


def test_save_the_model_writes_it_under_the_models_folder(one_click, qtbot, tiny_sample, home):
    viewer, widget = one_click
    add_raw(viewer, tiny_sample)
    viewer.add_image(tiny_sample.psf, name="PSF")
    widget.save_model.value = True
    click_and_wait(widget, qtbot)
    folder = home / "deconoising-models"
    (best,) = [path for path in folder.iterdir() if not path.name.endswith(".last.pt")]
    assert best.name.startswith("raw-") and best.suffix == ".pt"
    assert f"Model saved to {best};" in widget.status.value
