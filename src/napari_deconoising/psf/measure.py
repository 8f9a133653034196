"""The widths of a PSF: lateral FWHM (pixels) and, along each axial axis, FWHM (planes)."""

from __future__ import annotations

import math

import numpy as np

from napari_deconoising.errors import PSFError
from napari_deconoising.psf.prepare import brightest_slice

#: The names :func:`psf_widths` gives the axial widths, one per leading axis (Z).
AXIAL_WIDTH_NAMES = ("fwhm_z_planes",)


def psf_fwhm(psf: np.ndarray) -> float:
    """Full width at half maximum (pixels) of a PSF, from the area above half its peak (of its
    brightest plane for a 3D PSF)."""
    kernel = np.asarray(psf, dtype=np.float64)
    plane = brightest_slice(kernel.reshape(-1, *kernel.shape[-2:]))
    area = float((plane >= plane.max() / 2).sum())
    return 2 * math.sqrt(area / math.pi)


def psf_fwhm_z(psf: np.ndarray) -> float:
    """Axial full width at half maximum (planes) of a 3D PSF, along the line through its
    brightest voxel (linearly interpolated between planes): the Z one of
    :func:`psf_axial_fwhms`."""
    widths = psf_axial_fwhms(psf)
    if not widths:
        raise PSFError(f"an axial width needs a 3D PSF, got shape {np.shape(psf)}")
    return widths[0]


def psf_axial_fwhms(psf: np.ndarray) -> tuple[float, ...]:
    """Full width at half maximum (planes) along each leading (axial) axis of a PSF, before its
    two lateral ones, through its brightest voxel; none for a 2D PSF."""
    kernel = np.asarray(psf, dtype=np.float64)
    peak = np.unravel_index(int(np.argmax(kernel)), kernel.shape)
    widths = []
    for axis in range(kernel.ndim - 2):
        line = kernel[(*peak[:axis], slice(None), *peak[axis + 1 :])]
        profile = line / line.max()
        centre = int(np.argmax(profile))
        widths.append(half_crossing(profile[centre:]) + half_crossing(profile[centre::-1]))
    return tuple(widths)


def psf_widths(psf: np.ndarray) -> dict[str, float]:
    """``fwhm_px`` (:func:`psf_fwhm`) and, for a 3D PSF, ``fwhm_z_planes`` (:func:`psf_fwhm_z`)."""
    axial = psf_axial_fwhms(psf)
    return {"fwhm_px": psf_fwhm(psf), **dict(zip(AXIAL_WIDTH_NAMES, axial, strict=False))}


def half_crossing(profile: np.ndarray) -> float:
    """Distance from ``profile[0]`` (the peak, 1) to where it first falls to 0.5."""
    below = np.flatnonzero(profile < 0.5)
    if len(below) == 0:
        return float(len(profile) - 1)
    i = int(below[0])
    return i - 1 + (profile[i - 1] - 0.5) / (profile[i - 1] - profile[i])
