"""How the widgets state a PSF's widths (lateral and axial FWHM, in pixels or planes and in µm)
and read a layer's voxel size."""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_deconoising.io import spacing_from_scale
from napari_deconoising.psf.measure import psf_widths

VoxelSize = tuple[float | None, ...] | None


def widths_text(psf: np.ndarray, voxel_um: VoxelSize = None, separator: str = "\n") -> str:
    """The PSF's lateral FWHM in pixels and, for a 3D PSF, its axial FWHM in planes, each with
    its size in µm when ``voxel_um`` (one size per axis, Z first) gives it, and the kernel's
    sides; one item per line (``separator``), e.g. ``"FWHM 2.35 px (0.235 µm) lateral"``."""
    widths = psf_widths(psf)
    sizes = _sizes_um(psf.ndim, voxel_um)
    lateral = f"FWHM {widths['fwhm_px']:.2f} px{_in_um(widths['fwhm_px'], sizes[-1])} lateral"
    lines = [lateral]
    if "fwhm_z_planes" in widths:
        planes = widths["fwhm_z_planes"]
        lines.append(f"FWHM {planes:.2f} planes{_in_um(planes, sizes[0])} axial")
    sides = "×".join(str(side) for side in psf.shape)
    lines.append(f"kernel {sides} (Z×Y×X)" if psf.ndim == 3 else f"kernel {sides} px")
    return separator.join(lines)


def layer_spacing_um(layer: Any) -> dict[str, float]:
    """The physical sizes (µm) of a layer's last (up to three) axes, Z, Y, X, from its scale and
    units; an axis without one is left out."""
    axes = "ZYX"[-layer.ndim :]
    scale = tuple(layer.scale)[-len(axes) :]
    units = getattr(layer, "units", None)
    return spacing_from_scale(axes, scale, None if units is None else tuple(units)[-len(axes) :])


def layer_voxel_um(layer: Any) -> tuple[float | None, ...]:
    """A PSF layer's voxel size in µm, one per axis (Z first; None where unknown)."""
    spacing = layer_spacing_um(layer)
    return tuple(spacing.get(axis) for axis in "ZYX"[-min(layer.ndim, 3) :])


def _sizes_um(ndim: int, voxel_um: VoxelSize) -> tuple[float | None, ...]:
    """One size (µm or None) per spatial axis of a PSF of ``ndim`` dims, Z first."""
    known = tuple(voxel_um or ())[-ndim:]
    return (None,) * (ndim - len(known)) + known


def _in_um(width: float, size_um: float | None) -> str:
    return "" if size_um is None else f" ({width * size_um:.3g} µm)"
