"""The PSF widget: Gaussian, optics, widefield, measured and automatic PSFs in one ``PSF`` layer."""

from __future__ import annotations

import numpy as np
import pytest

from napari_deconoising import gaussian_psf, psf_fwhm
from napari_deconoising.data.automatic_psf import automatic_recipe
from napari_deconoising.widgets import psf_widget as pw
from napari_deconoising.widgets._axes import layer_image
from test_automatic_psf import blurred_points, write_ome


@pytest.fixture
def psf_widget(make_napari_viewer):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-deconoising", "PSF")
    return viewer, widget


def shown(widget) -> bool:
    """Visible once the dock is shown (the test viewer itself is not shown)."""
    return not widget.native.isHidden()


def test_gaussian_psf_layer_updated_in_place(psf_widget):
    viewer, widget = psf_widget
    widget.sigma.value = 2.0
    widget.make_button.clicked()
    layer = viewer.layers["PSF"]
    np.testing.assert_allclose(layer.data, gaussian_psf(2.0))
    assert f"FWHM {psf_fwhm(gaussian_psf(2.0)):.2f} px" in widget.fwhm_text
    widget.sigma.value = 1.0
    widget.make_button.clicked()
    assert [x.name for x in viewer.layers] == ["PSF"]  # the same layer, new data
    assert viewer.layers["PSF"] is layer
    assert layer.data.shape == gaussian_psf(1.0).shape
    assert "FWHM 2." in widget.fwhm_text


def test_optics_fields_follow_mode(psf_widget):
    viewer, widget = psf_widget
    widget.mode.value = pw.GAUSSIAN_OPTICS
    assert shown(widget.na) and not shown(widget.sigma) and not shown(widget.source)
    widget.na.value, widget.wavelength.value, widget.pixel_size.value = 1.2, 600.0, 100.0
    widget.make_button.clicked()
    expected = 0.21 * 600 / 1.2 / 100  # sigma (px) of the Gaussian approximation
    assert viewer.layers["PSF"].data.shape == gaussian_psf(expected).shape


def test_widefield_psf_runs_in_worker(psf_widget, qtbot):
    pytest.importorskip("psfmodels")
    viewer, widget = psf_widget
    widget.mode.value = pw.WIDEFIELD
    widget.make_button.clicked()
    assert not widget.make_button.enabled  # busy while the worker runs
    qtbot.waitUntil(lambda: "PSF" in viewer.layers, timeout=20000)
    qtbot.waitUntil(lambda: widget.make_button.enabled, timeout=5000)
    psf = viewer.layers["PSF"].data
    assert psf.ndim == 2 and abs(psf.sum() - 1) < 1e-4
    assert "FWHM" in widget.fwhm_text


def test_psf_from_layer_removes_background(psf_widget, qtbot):
    viewer, widget = psf_widget
    bead = np.full((31, 31), 100.0)
    bead[10:21, 10:21] += 1000 * gaussian_psf(1.5, size=11)
    viewer.add_image(bead, name="bead")
    widget.mode.value = pw.FROM_LAYER
    widget.source.value = viewer.layers["bead"]
    widget.make_button.clicked()
    qtbot.waitUntil(lambda: "PSF" in viewer.layers, timeout=10000)
    psf = viewer.layers["PSF"].data
    assert psf.shape[0] <= 13  # cropped to the bead, not to the 31 px background
    assert abs(psf_fwhm(psf) - psf_fwhm(gaussian_psf(1.5))) < 0.5


def test_bad_psf_layer_is_a_notification(psf_widget, qtbot, notifications):
    viewer, widget = psf_widget
    viewer.add_image(np.zeros((9, 9)), name="empty")
    widget.mode.value = pw.FROM_LAYER
    widget.source.value = viewer.layers["empty"]
    widget.make_button.clicked()
    qtbot.waitUntil(lambda: bool(notifications), timeout=10000)
    assert "layer 'empty' is not usable as a PSF" in notifications[-1][1]
    assert "sums to zero" in notifications[-1][1]
    assert "PSF" not in viewer.layers
    qtbot.waitUntil(lambda: widget.make_button.enabled, timeout=5000)


def test_rgb_source_is_refused(psf_widget, notifications):
    viewer, widget = psf_widget
    viewer.add_image(np.zeros((16, 16, 3), dtype=np.uint8), name="photo", rgb=True)
    widget.mode.value = pw.FROM_LAYER
    widget.source.value = viewer.layers["photo"]
    widget.make_button.clicked()
    assert "RGB" in notifications[-1][1]
    assert "error" in notifications[-1][0].lower()


def test_automatic_psf_for_an_image_layer_from_its_spectrum_or_its_files_optics(
    psf_widget, tmp_path
):
    viewer, widget = psf_widget
    points = viewer.add_image(blurred_points(2.0, size=128), name="points")
    widget.mode.value = pw.FROM_IMAGE
    assert shown(widget.for_image) and not shown(widget.dims) and not shown(widget.sigma)
    widget.for_image.value = points
    widget.make_button.clicked()
    sigma = automatic_recipe(layer_image(points)).sigma
    np.testing.assert_allclose(viewer.layers["PSF"].data, gaussian_psf(sigma))
    assert widget.fwhm_text.startswith(
        f"For layer 'points': a Gaussian of sigma {sigma:.3g} px estimated from the layer's "
        "spectrum (the layer has no pixel size)\nFWHM "
    )
    # a layer napari opened from an OME-TIFF, at its pixel size: the file's optics
    path = write_ome(tmp_path / "cells.ome.tif", np.zeros((64, 64), np.uint16))
    (cells,) = viewer.open(str(path), plugin="napari")
    cells.scale, cells.units = (0.1, 0.1), ("µm", "µm")
    widget.for_image.value = cells
    widget.make_button.clicked()
    assert "the file's optics (NA 1.2, 600 nm emission) at the layer's 0.1 µm pixels" in (
        widget.fwhm_text
    )
    assert psf_fwhm(viewer.layers["PSF"].data) == pytest.approx(2.55, rel=0.1)
