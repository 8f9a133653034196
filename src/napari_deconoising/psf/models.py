"""PSF models: Gaussians (from widths in pixels, or from the optics) and vectorial widefield PSFs
(computed by ``psfmodels``), as planes (Y, X) or stacks (Z, Y, X).

One Gaussian engine, :func:`gaussian_kernel`, makes them for any number of axes; the 2D and 3D
functions name their parameters and check them. From the optics, a plane follows the Airy-disk
approximation (:func:`~.optics.sigma_from_optics`) and a stack the widefield fit of Zhang et al.
2007 (:func:`~.optics.sigmas_3d_from_optics`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from napari_deconoising.config.base import bounds
from napari_deconoising.config.psf import MAX_PSF_SIZE, OpticsConfig, StackOpticsConfig
from napari_deconoising.errors import PSFError
from napari_deconoising.psf.optics import (
    StackOptics,
    check_optics,
    check_planes,
    check_setting,
    check_stack_setting,
    default_planes,
    immersion_index_for,
    largest_odd,
    resolve_immersion_index,
    sigma_from_optics,
    sigmas_3d_from_optics,
)
from napari_deconoising.psf.prepare import prepare_psf

#: Gaussian profiles reach this many sigmas each side of the centre before cropping to support.
GAUSSIAN_HALF_WIDTH_SIGMAS = 4


def gaussian_kernel(sigmas: Sequence[float], sizes: Sequence[int | None]) -> np.ndarray:
    """A normalised separable Gaussian PSF, one standard deviation (pixels or planes) and one
    odd size (None: cropped to what holds 99.9% of its energy) per axis."""
    profiles = [
        gaussian_profile(size // 2 if size else _default_half(sigma), sigma)
        for sigma, size in zip(sigmas, sizes, strict=True)
    ]
    kernel = profiles[-1]
    for profile in reversed(profiles[:-1]):
        kernel = profile.reshape(-1, *[1] * kernel.ndim) * kernel[None]
    crop = all(size is None for size in sizes)
    return prepare_psf(kernel, crop=crop, spatial_dims=len(sigmas))


def gaussian_profile(half: int, sigma: float) -> np.ndarray:
    """A Gaussian of standard deviation ``sigma`` sampled at the ``2 * half + 1`` integers
    around 0 (peak 1)."""
    coords = np.arange(-half, half + 1, dtype=np.float64)
    return np.exp(-(coords**2) / (2 * sigma**2))


def _default_half(sigma: float) -> int:
    return max(1, math.ceil(GAUSSIAN_HALF_WIDTH_SIGMAS * sigma))


def gaussian_psf(sigma: float, size: int | None = None) -> np.ndarray:
    """A normalised 2D Gaussian PSF with standard deviation ``sigma`` pixels.

    ``size`` (odd) defaults to what holds 99.9% of its energy.
    """
    check_setting("sigma", sigma, "PSF sigma (pixels)")
    return gaussian_kernel((sigma, sigma), (size, size))


def gaussian_psf_3d(
    sigma_xy: float, sigma_z: float, size: int | None = None, planes: int | None = None
) -> np.ndarray:
    """A normalised 3D Gaussian PSF (Z, Y, X): ``sigma_xy`` pixels laterally, ``sigma_z`` planes
    axially. ``size`` and ``planes`` (odd) default to what holds 99.9% of its energy."""
    check_setting("sigma", sigma_xy, "lateral PSF sigma (pixels)")
    check_stack_setting("sigma_z", sigma_z, "axial PSF sigma (planes)")
    check_planes(planes)
    return gaussian_kernel((sigma_z, sigma_xy, sigma_xy), (planes, size, size))


def gaussian_psf_from_optics(na: float, wavelength_nm: float, pixel_size_nm: float) -> np.ndarray:
    """Gaussian approximation of the in-focus widefield PSF for the given optics."""
    return gaussian_psf(sigma_from_optics(na, wavelength_nm, pixel_size_nm))


def _from_stack_optics(model: Callable[[StackOptics], np.ndarray]) -> Callable[..., np.ndarray]:
    """``model``, a 3D PSF of checked :class:`~.optics.StackOptics`, as a public function of the
    optics and voxel size, which checks them and resolves the immersion index and planes."""

    def psf(
        na: float,
        wavelength_nm: float,
        pixel_size_nm: float,
        z_step_nm: float,
        immersion_index: float | None = None,
        planes: int | None = None,
    ) -> np.ndarray:
        check_optics(na, wavelength_nm, pixel_size_nm)
        check_stack_setting("z_step_nm", z_step_nm, "z-step (nm)")
        check_planes(planes)
        index = resolve_immersion_index(na, immersion_index)
        planes = planes or default_planes(na, wavelength_nm, z_step_nm, index)
        return model(StackOptics(na, wavelength_nm, pixel_size_nm, z_step_nm, index, planes))

    psf.__name__ = psf.__qualname__ = model.__name__
    psf.__doc__ = model.__doc__
    return psf


@_from_stack_optics
def gaussian_psf_3d_from_optics(optics: StackOptics) -> np.ndarray:
    """Gaussian approximation (Zhang et al. 2007) of the 3D widefield PSF for the given optics
    and voxel size: ``(na, wavelength_nm, pixel_size_nm, z_step_nm, immersion_index=None,
    planes=None)``; ``planes`` (odd) defaults to :func:`default_planes`."""
    sigma_xy, sigma_z = sigmas_3d_from_optics(
        optics.na, optics.wavelength_nm, optics.immersion_index
    )
    return gaussian_psf_3d(
        max(sigma_xy / optics.pixel_size_nm, bounds(OpticsConfig, "sigma").low or 0.1),
        max(sigma_z / optics.z_step_nm, bounds(StackOpticsConfig, "sigma_z").low or 0.1),
        planes=optics.planes,
    )


def widefield_psf(na: float, wavelength_nm: float, pixel_size_nm: float) -> np.ndarray:
    """In-focus plane of a vectorial widefield PSF (Aguet et al.), computed with ``psfmodels``."""
    sigma = sigma_from_optics(na, wavelength_nm, pixel_size_nm)
    psfmodels = import_psfmodels()
    size = int(min(MAX_PSF_SIZE, max(15, 2 * math.ceil(12 * sigma) + 1)))
    immersion = immersion_index_for(na)
    kernel = psfmodels.make_psf(
        1,
        nx=size,
        dxy=pixel_size_nm / 1000,
        NA=na,
        wvl=wavelength_nm / 1000,
        ns=immersion,
        ni=immersion,
        ni0=immersion,
    )[0]
    return prepare_psf(kernel)


@_from_stack_optics
def widefield_psf_3d(optics: StackOptics) -> np.ndarray:
    """A vectorial widefield 3D PSF (Aguet et al.) computed with ``psfmodels`` for the stack's
    optics and voxel size: ``(na, wavelength_nm, pixel_size_nm, z_step_nm,
    immersion_index=None, planes=None)``, the point source at focus in a medium matching the
    immersion (no spherical aberration). ``planes`` (odd) defaults to :func:`default_planes`;
    laterally it is computed wide enough for the most defocused plane, then cropped to its
    support."""
    index = optics.immersion_index
    sigma_xy = sigmas_3d_from_optics(optics.na, optics.wavelength_nm, index)[0]
    defocus_nm = (optics.planes // 2) * optics.z_step_nm
    spread_nm = defocus_nm * math.tan(math.asin(optics.na / index)) + 6 * sigma_xy
    half = max(7, math.ceil(spread_nm / optics.pixel_size_nm))
    size = min(2 * half + 1, largest_odd(MAX_PSF_SIZE))
    kernel = import_psfmodels().make_psf(
        optics.planes,
        nx=size,
        dxy=optics.pixel_size_nm / 1000,
        dz=optics.z_step_nm / 1000,
        NA=optics.na,
        wvl=optics.wavelength_nm / 1000,
        ns=index,
        ni=index,
        ni0=index,
    )
    return prepare_psf(kernel, spatial_dims=3)


def import_psfmodels():
    """The ``psfmodels`` module; :class:`PSFError` saying how to install it when it is missing."""
    try:
        import psfmodels
    except ImportError as err:
        raise PSFError(
            "the widefield model needs the 'psfmodels' package: pip install psfmodels"
        ) from err
    return psfmodels
