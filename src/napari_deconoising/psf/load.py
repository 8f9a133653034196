"""Measured PSFs: from a TIFF file (:func:`load_psf`) or a bead stack
(:func:`psf_from_bead_stack`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from napari_deconoising.errors import ImageError, PSFError
from napari_deconoising.io import read_tiff
from napari_deconoising.psf.prepare import match_voxel_size, prepare_psf


def load_psf(
    path: str | Path,
    spatial_dims: int | None = 2,
    voxel_size_um: Sequence[float] | None = None,
) -> np.ndarray:
    """Read a PSF from a TIFF and :func:`prepare_psf` it.

    ``spatial_dims`` 2 (the default) gives a 2D PSF (the brightest plane of a stack), 3 a 3D
    one, None whatever the file holds (a stack stays 3D). With ``voxel_size_um`` (the image's
    (Z,) Y, X sizes in µm) the PSF is resampled to it when the file records its own voxel size
    (:func:`match_voxel_size`).
    """
    path = Path(path)
    if not path.is_file():
        raise PSFError(f"PSF file not found: {path}")
    try:
        image = read_tiff(path)
    except ImageError as err:
        raise PSFError(f"cannot read PSF {path}: {err}") from err
    psf = prepare_psf(np.asarray(image.data), spatial_dims=spatial_dims)
    if voxel_size_um is None:
        return psf
    own = [image.spacing.get(axis) for axis in "ZYX"[-psf.ndim :]]
    if any(size is None for size in own):
        return psf
    return match_voxel_size(psf, own, list(voxel_size_um)[-psf.ndim :])


def psf_from_bead_stack(stack: np.ndarray) -> np.ndarray:
    """A 3D PSF from a measured bead stack (Z, Y, X): background removed, centred on the bead's
    brightest voxel, cropped to its support and normalised. Raises :class:`PSFError` when the
    stack has no clear peak."""
    return prepare_psf(stack, spatial_dims=3)
