"""The PSF widget states the PSF's lateral FWHM (px and µm) and, in 3D, its axial FWHM (planes
and µm), as the engine measures them."""

from __future__ import annotations

import numpy as np
import pytest

from napari_deconoising.psf.measure import psf_fwhm, psf_fwhm_z
from napari_deconoising.psf.models import gaussian_psf
from napari_deconoising.widgets import psf_widget as pw


@pytest.fixture
def psf_ui(make_napari_viewer):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-deconoising", "PSF")
    return viewer, widget


def test_2d_psf_from_optics_gives_the_lateral_fwhm_in_pixels_and_um(psf_ui):
    viewer, widget = psf_ui
    widget.mode.value = pw.GAUSSIAN_OPTICS
    widget.na.value, widget.wavelength.value, widget.pixel_size.value = 1.2, 600.0, 80.0
    widget.make_button.clicked()
    psf = viewer.layers["PSF"].data
    fwhm = psf_fwhm(psf)
    side = psf.shape[0]
    assert widget.fwhm_text == (
        f"FWHM {fwhm:.2f} px ({fwhm * 0.08:.3g} µm) lateral\nkernel {side}×{side} px"
    )


def test_3d_psf_from_optics_adds_the_axial_fwhm_in_planes_and_um(psf_ui):
    viewer, widget = psf_ui
    widget.mode.value = pw.GAUSSIAN_OPTICS
    widget.dims.value = pw.VOLUME
    widget.na.value, widget.pixel_size.value, widget.z_step.value = 1.1, 100.0, 250.0
    widget.make_button.clicked()
    psf = viewer.layers["PSF"].data
    lateral, axial = psf_fwhm(psf), psf_fwhm_z(psf)
    assert axial * 0.25 > lateral * 0.1  # longer along Z than it is wide (in µm)
    lines = widget.fwhm_text.split("\n")
    assert lines == [
        f"FWHM {lateral:.2f} px ({lateral * 0.1:.3g} µm) lateral",
        f"FWHM {axial:.2f} planes ({axial * 0.25:.3g} µm) axial",
        "kernel " + "×".join(map(str, psf.shape)) + " (Z×Y×X)",
    ]


def test_gaussian_in_pixels_has_no_size_in_um(psf_ui):
    _, widget = psf_ui
    widget.sigma.value = 2.0
    widget.make_button.clicked()
    fwhm = psf_fwhm(gaussian_psf(2.0))
    assert widget.fwhm_text.startswith(f"FWHM {fwhm:.2f} px lateral\n")
    assert "µm" not in widget.fwhm_text


def test_psf_from_a_bead_layer_takes_the_layers_pixel_size(psf_ui, qtbot):
    viewer, widget = psf_ui
    bead = np.full((31, 31), 100.0)
    bead[10:21, 10:21] += 1000 * gaussian_psf(1.5, size=11)
    viewer.add_image(bead, name="bead", scale=(0.065, 0.065), units=("µm", "µm"))
    widget.mode.value = pw.FROM_LAYER
    widget.source.value = viewer.layers["bead"]
    widget.make_button.clicked()
    qtbot.waitUntil(lambda: "PSF" in viewer.layers, timeout=10000)
    fwhm = psf_fwhm(viewer.layers["PSF"].data)
    assert widget.fwhm_text.startswith(f"FWHM {fwhm:.2f} px ({fwhm * 0.065:.3g} µm) lateral")


def test_3d_psf_beside_a_zstack_in_um_comes_in_um_without_a_units_warning(psf_ui):
    viewer, widget = psf_ui
    viewer.add_image(np.zeros((8, 16, 16)), name="stack", scale=(0.25, 0.1, 0.1), units="µm")
    widget.mode.value = pw.GAUSSIAN_OPTICS
    widget.pixel_from.value = viewer.layers["stack"]  # 100 nm pixels, 250 nm z-step: 3D
    assert widget.dims.value == pw.VOLUME
    units_at_insert = []
    viewer.layers.events.inserted.connect(
        lambda _: units_at_insert.append(viewer.layers.extent.units)
    )
    widget.make_button.clicked()
    layer = viewer.layers["PSF"]
    np.testing.assert_allclose(layer.scale, (0.25, 0.1, 0.1))
    assert tuple(str(unit) for unit in layer.units) == ("micrometer",) * 3
    # napari warns "Inconsistent units across layers" when the layers' extent has no units
    assert len(units_at_insert) == 1 and units_at_insert[0] is not None
    assert viewer.dims.ndisplay == 3
