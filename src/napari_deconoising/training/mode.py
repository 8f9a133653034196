"""How images are trained: plane by plane (2 spatial dims) or as volumes (3).

The user-facing ``mode`` setting (``auto``, ``2d``, ``3d``) is resolved once, here, into a number
of spatial dimensions; everything downstream works with that number.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from napari_deconoising.config.training import MODE_DIMS
from napari_deconoising.errors import ImageError, PSFError
from napari_deconoising.io.axes import SPATIAL_AXES, AxesImage
from napari_deconoising.model.bundle import AnyModel

PSFs = np.ndarray | Sequence[np.ndarray] | None


def mode_name(spatial_dims: int) -> str:
    """The ``mode`` setting that trains with ``spatial_dims`` (``"2d"`` or ``"3d"``)."""
    return f"{spatial_dims}d"


def resolve_mode(
    mode: str,
    images: Sequence[AxesImage],
    psf: PSFs,
    init: AnyModel | None = None,
) -> str:
    """``"2d"`` or ``"3d"``: how images with these axes and this PSF are trained.

    ``auto`` means 3D when every image has a Z axis and the PSF is 3D (or when continuing a 3D
    model), else 2D. Raises a clear :class:`ImageError` / :class:`PSFError` when ``3d`` is asked
    without a Z axis or with a 2D PSF, when a 3D PSF comes with images without Z (in ``auto``),
    or when a continued model's dimensionality does not match.
    """
    return mode_name(resolve_spatial_dims(mode, images, psf, init))


def resolve_spatial_dims(
    mode: str,
    images: Sequence[AxesImage],
    psf: PSFs,
    init: AnyModel | None = None,
) -> int:
    """The number of spatial dimensions (2 or 3) training uses; see :func:`resolve_mode`."""
    image_dims = min(sum(image.has(axis) for axis in SPATIAL_AXES) for image in images)
    if init is not None:
        return _continued_dims(mode, init, image_dims)
    asked, psf_dims = MODE_DIMS.get(mode), psf_spatial_dims(psf)
    if asked is None:
        return _automatic_dims(images, psf_dims, image_dims)
    if asked > image_dims:
        raise ImageError(
            f"{mode_name(asked).upper()} mode needs z-stacks, but "
            + _without_z(images)
            + " has no Z axis; give the axes with Z (e.g. --axes ZYX) or use --mode 2d"
        )
    if psf_dims is not None and psf_dims < asked:
        raise PSFError(
            f"{mode_name(asked).upper()} mode needs a 3D PSF (planes, Y, X); make one with "
            "`deconoising psf` (with --planes and --z-step), or train plane by plane with --mode 2d"
        )
    return asked


def psf_spatial_dims(psf: PSFs) -> int | None:
    """The fewest spatial dims of the PSF (or of the PSFs of a list), ignoring axes of size 1
    and counting at most the three of ``ZYX`` (:func:`prepare_psf` refuses more); None when
    there is no PSF."""
    if psf is None:
        return None
    psfs = [psf] if hasattr(psf, "shape") else list(psf)
    dims = (min(np.squeeze(np.asarray(p)).ndim, len(SPATIAL_AXES)) for p in psfs)
    return min(dims, default=None)


def _automatic_dims(images: Sequence[AxesImage], psf_dims: int | None, image_dims: int) -> int:
    """``auto`` mode: as many spatial dims as the PSF has (2 without one)."""
    dims = 2 if psf_dims is None else psf_dims
    if dims > image_dims:
        raise PSFError(
            f"the PSF is {mode_name(dims).upper()} but "
            + _without_z(images)
            + " has no Z axis; give the images' axes with Z (e.g. --axes ZYX), or use a 2D PSF "
            "(or --mode 2d to use the PSF's in-focus plane)"
        )
    return dims


def _without_z(images: Sequence[AxesImage]) -> str:
    return ", ".join(i.describe() for i in images if not i.has("Z"))


def _continued_dims(mode: str, init: AnyModel, image_dims: int) -> int:
    """The spatial dims of a continued model, checked against the asked mode and the images."""
    model_dims = init.spatial_dims
    if MODE_DIMS.get(mode, model_dims) != model_dims:
        raise ImageError(
            f"the model to continue is a {mode_name(model_dims).upper()} model; it cannot "
            f"continue in {mode.upper()} mode (train a new model instead)"
        )
    if model_dims > image_dims:
        raise ImageError(
            f"the model to continue is a {mode_name(model_dims).upper()} model, but the images "
            "have no Z axis; give their axes with Z (e.g. --axes ZYX)"
        )
    return model_dims
