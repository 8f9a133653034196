"""Every PSF that enters training or prediction goes through :func:`prepare_psf`.

It returns a float32 kernel of odd sizes, centred, cropped to the box that holds 99.9% of its
energy, summing to 1, for any of the spatial dimensionalities a PSF may have: a plane (Y, X) or
a stack (Z, Y, X). The last two axes are always the lateral ones (Y, X) and keep one square
size; a leading (axial) axis is centred and cropped on its own.
:func:`match_voxel_size` resamples a PSF made for another voxel size.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from scipy import ndimage

from napari_deconoising.config.psf import MAX_PSF_SIZE
from napari_deconoising.errors import PSFError
from napari_deconoising.psf.beads import locate_bead, remove_background

#: The spatial dimensionalities a PSF may have: a plane (Y, X) or a stack (Z, Y, X).
SPATIAL_DIMS = (2, 3)
#: Share of a PSF's total energy kept when cropping it to its support.
SUPPORT_ENERGY = 0.999
#: Voxel sizes closer than this (relative) are treated as equal; a PSF is never resampled by
#: more than ``MAX_RESAMPLING`` along any axis (beyond that it is refused).
VOXEL_SIZE_TOLERANCE = 0.10
MAX_RESAMPLING = 8.0

#: What is wrong with an array that cannot be a PSF of this many spatial dimensions.
WRONG_SHAPE = {
    2: "a PSF must be 2D, got an array of shape {shape}",
    3: "a 3D PSF must be a (Z, Y, X) stack, got an array of shape {shape}",
}
#: What is wrong with a PSF of this many spatial dimensions whose support is too large.
TOO_LARGE = {
    2: "the PSF support is {shape[0]} px wide; at most {limit}",
    3: "the PSF support is {shape[0]} planes x {shape[1]} px; at most {limit}",
}


def prepare_psf(array: np.ndarray, crop: bool = True, spatial_dims: int | None = 2) -> np.ndarray:
    """Validate, centre, crop to support and normalise a PSF.

    ``spatial_dims`` 2 (the default): a 2D array, or a 3D stack of which the plane with the
    largest peak is taken (the in-focus one). 3: a 3D stack (Z, Y, X), background removed,
    centred on its brightest voxel (after light smoothing, so noise does not decide), cropped
    separately in Z and in Y/X; a stack without a clear peak is refused. None: the array's own
    dimensionality (2 or 3). Raises :class:`PSFError` with a readable message when the array
    cannot be a PSF.
    """
    raw = checked_values(psf_array(array, spatial_dims))
    kernel = remove_background(raw)
    if not kernel.sum() > 0:
        raise PSFError("the PSF sums to zero; a PSF must have a positive sum")
    kernel, centre = find_centre(raw, kernel)
    kernel = centre_on(kernel / kernel.sum(), centre)
    if crop:
        kernel = crop_to_support(kernel)
    if max(kernel.shape) > MAX_PSF_SIZE:
        raise PSFError(TOO_LARGE[kernel.ndim].format(shape=kernel.shape, limit=MAX_PSF_SIZE))
    return (kernel / kernel.sum()).astype(np.float32)


def psf_array(array: np.ndarray, spatial_dims: int | None) -> np.ndarray:
    """``array`` as a PSF of ``spatial_dims`` axes (None: its own, when a PSF may have that many).

    Singleton leading axes are dropped (the last two are the lateral plane and stay); a PSF
    with one axis more (a stack, when a plane is asked for) gives its brightest slice. Raises
    :class:`PSFError` when the shape cannot be a PSF's.
    """
    kernel = np.asarray(array)
    leading = [side for side in kernel.shape[:-2] if side != 1]
    kernel = kernel.reshape((*leading, *kernel.shape[-2:]))
    if spatial_dims is None:
        spatial_dims = kernel.ndim if kernel.ndim in SPATIAL_DIMS else SPATIAL_DIMS[0]
    if spatial_dims not in SPATIAL_DIMS:
        raise PSFError(f"a PSF is 2D or 3D, not {spatial_dims}D")
    if kernel.ndim == spatial_dims + 1 and kernel.ndim in SPATIAL_DIMS:
        kernel = brightest_slice(kernel)
    if kernel.ndim != spatial_dims:
        raise PSFError(WRONG_SHAPE[spatial_dims].format(shape=np.shape(array)))
    return kernel


def brightest_slice(stack: np.ndarray) -> np.ndarray:
    """The slice along the first axis holding the stack's largest value (the in-focus plane)."""
    return stack[int(np.argmax(stack.reshape(len(stack), -1).max(axis=1)))]


def checked_values(kernel: np.ndarray) -> np.ndarray:
    """``kernel`` as float64 after checking it holds finite, real, non-negative numbers."""
    if not np.issubdtype(kernel.dtype, np.number) or np.iscomplexobj(kernel):
        raise PSFError(f"a PSF must hold real numbers, got dtype {kernel.dtype}")
    kernel = kernel.astype(np.float64)
    if not np.all(np.isfinite(kernel)):
        raise PSFError("the PSF contains NaN or infinite values")
    if kernel.min() < -1e-6 * max(kernel.max(), 1e-30):
        raise PSFError("the PSF has negative values; a PSF must be non-negative")
    return kernel


def find_centre(raw: np.ndarray, kernel: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """``(kernel, centre)``: the voxel a PSF is centred on, with ``kernel`` (its background
    removed from ``raw``) kept to the bead's support when it is a measured stack.

    A stack is centred on its brightest voxel (:func:`~.beads.locate_bead`): its axial profile
    may be lopsided, and it must have a clear peak. A plane is centred on its centre of mass.
    """
    if kernel.ndim == 3:
        return locate_bead(raw, kernel)
    return kernel, centre_of_mass(kernel / kernel.sum())


def centre_of_mass(kernel: np.ndarray) -> tuple[int, ...]:
    """The index nearest to the centre of mass of ``kernel`` (which sums to 1)."""
    return tuple(round(float((grid * kernel).sum())) for grid in np.indices(kernel.shape))


def centre_on(kernel: np.ndarray, centre: Sequence[int]) -> np.ndarray:
    """``kernel`` padded with zeros so that ``centre`` sits in the middle of an array with odd
    sides, the lateral (last two) sides equal."""
    halves = [max(at, side - 1 - at) for at, side in zip(centre, kernel.shape, strict=True)]
    halves[-2:] = [max(halves[-2:])] * 2
    out = np.zeros([2 * half + 1 for half in halves])
    out[
        tuple(
            slice(half - at, half - at + side)
            for half, at, side in zip(halves, centre, kernel.shape, strict=True)
        )
    ] = kernel
    return out


def crop_to_support(kernel: np.ndarray) -> np.ndarray:
    """A centred ``kernel`` cropped to its support: along each leading (axial) axis the fewest
    centred planes holding ``SUPPORT_ENERGY`` of the total, then the smallest centred odd square
    (Y/X) holding ``SUPPORT_ENERGY`` of what is left."""
    for axis in range(kernel.ndim - 2):
        profile = kernel.sum(axis=tuple(other for other in range(kernel.ndim) if other != axis))
        kernel = centred_window(kernel, [axis], support_radius(profile))
    lateral = kernel.sum(axis=tuple(range(kernel.ndim - 2)))
    return centred_window(kernel, [-2, -1], support_radius(lateral))


def support_radius(projection: np.ndarray) -> int:
    """The smallest radius of a centred window (the same along every axis of ``projection``,
    which has odd, equal sides) holding ``SUPPORT_ENERGY`` of its total; else the largest."""
    half = projection.shape[0] // 2
    for radius in range(half + 1):
        window = centred_window(projection, range(projection.ndim), radius)
        if window.sum() >= SUPPORT_ENERGY * projection.sum():
            return radius
    return half


def centred_window(array: np.ndarray, axes: Iterable[int], radius: int) -> np.ndarray:
    """The middle ``2 * radius + 1`` entries of ``array`` along each of ``axes``."""
    window = [slice(None)] * array.ndim
    for axis in axes:
        middle = array.shape[axis] // 2
        window[axis] = slice(middle - radius, middle + radius + 1)
    return array[tuple(window)]


def match_voxel_size(
    psf: np.ndarray,
    psf_voxel_um: Sequence[float | None] | None,
    image_voxel_um: Sequence[float | None] | None,
) -> np.ndarray:
    """``psf`` resampled (spline interpolation, then prepared again) from its voxel size to the
    image's, one size per axis of ``psf`` ((Z,) Y, X, in µm).

    Returned as it is when a size is unknown on either side or all agree within
    ``VOXEL_SIZE_TOLERANCE``. Raises :class:`PSFError` when they differ by more than
    ``MAX_RESAMPLING`` times, or when the resampled PSF is too small to be a PSF.
    """
    kernel = np.asarray(psf, dtype=np.float64)
    mine, theirs = known_sizes(psf_voxel_um, kernel.ndim), known_sizes(image_voxel_um, kernel.ndim)
    if mine is None or theirs is None:
        return np.asarray(psf, dtype=np.float32)
    factors = [own / target for own, target in zip(mine, theirs, strict=True)]
    if all(abs(factor - 1) <= VOXEL_SIZE_TOLERANCE for factor in factors):
        return np.asarray(psf, dtype=np.float32)
    described = _describe_sizes(mine), _describe_sizes(theirs)
    if any(not 1 / MAX_RESAMPLING <= factor <= MAX_RESAMPLING for factor in factors):
        raise PSFError(
            f"the PSF's voxel size ({described[0]} µm) and the image's ({described[1]} µm) "
            f"differ more than {MAX_RESAMPLING:g} times; make the PSF for the image's voxel size"
        )
    resampled = _resample_centred(kernel, factors)
    if min(resampled.shape) < 1 or not resampled.sum() > 0:
        raise PSFError(
            f"the PSF resampled from {described[0]} µm to {described[1]} µm voxels is empty"
        )
    return prepare_psf(resampled, spatial_dims=kernel.ndim)


def known_sizes(sizes: Sequence[float | None] | None, ndim: int) -> list[float] | None:
    """The last ``ndim`` voxel sizes when all are known and positive, else None."""
    if sizes is None:
        return None
    values = list(sizes)[-ndim:]
    if len(values) != ndim or any(v is None or not v > 0 for v in values):
        return None
    return [float(v) for v in values]


def _describe_sizes(sizes: Sequence[float]) -> str:
    return " x ".join(f"{size:.4g}" for size in sizes)


def _resample_centred(kernel: np.ndarray, factors: Sequence[float]) -> np.ndarray:
    """``kernel`` (odd sides, centred) sampled ``factors`` times as densely along each axis
    (cubic splines), keeping its centre on the middle voxel of odd sides; clipped at zero."""
    halves = [int((side // 2) * factor) for side, factor in zip(kernel.shape, factors, strict=True)]
    grids = np.meshgrid(
        *[
            side // 2 + np.arange(-half, half + 1) / factor
            for side, half, factor in zip(kernel.shape, halves, factors, strict=True)
        ],
        indexing="ij",
    )
    resampled = ndimage.map_coordinates(kernel, grids, order=3, mode="constant")
    return np.clip(resampled, 0, None)
