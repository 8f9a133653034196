"""The optics of a PSF: the axial settings of a stack, Gaussian widths from the objective, the
immersion medium, and the checks that give a readable :class:`PSFError` for bad settings."""

from __future__ import annotations

import math
from dataclasses import dataclass

from napari_deconoising.config.base import bounds
from napari_deconoising.config.psf import MAX_PSF_SIZE, OpticsConfig, StackOpticsConfig
from napari_deconoising.errors import PSFError

#: Zhang et al. (2007): a widefield Airy disk is well approximated by a Gaussian of this many
#: wavelengths / NA in standard deviation.
AIRY_SIGMA_FACTOR = 0.21
#: Refractive index of the immersion medium assumed from the NA when it is not given:
#: (lowest NA that needs it, index): oil, water, air.
IMMERSION_BY_NA = ((1.33, 1.515), (0.95, 1.33), (0.0, 1.0))
#: A 3D PSF from the optics spans this many axial Gaussian sigmas each side of focus by default.
AXIAL_HALF_WIDTH_SIGMAS = 4.0


@dataclass(frozen=True)
class StackOptics:
    """Checked optics of a 3D PSF: NA, emission wavelength (nm), pixel size and z-step (nm), the
    immersion index (resolved: given, or from the NA) and the number of planes (odd).

    The 3D PSF models from the optics take it (:mod:`~napari_deconoising.psf.models`)."""

    na: float
    wavelength_nm: float
    pixel_size_nm: float
    z_step_nm: float
    immersion_index: float
    planes: int


def sigma_from_optics(na: float, wavelength_nm: float, pixel_size_nm: float) -> float:
    """Gaussian sigma (pixels) approximating the Airy disk of an objective."""
    check_optics(na, wavelength_nm, pixel_size_nm)
    return AIRY_SIGMA_FACTOR * wavelength_nm / na / pixel_size_nm


def immersion_index_for(na: float) -> float:
    """The immersion medium an objective of this NA most likely uses: oil (1.515) above NA 1.33,
    water (1.33) above 0.95, else air (1.0)."""
    for lowest_na, index in IMMERSION_BY_NA:
        if na > lowest_na:
            return index
    return IMMERSION_BY_NA[-1][1]


def resolve_immersion_index(na: float, given: float | None) -> float:
    """The immersion index to use (``given``, else from the NA); :class:`PSFError` unless the NA
    is below it."""
    if given is None:
        index = immersion_index_for(na)
    else:
        check_stack_setting("immersion_index", given, "immersion refractive index")
        index = given
    if not na < index:
        raise PSFError(
            f"the numerical aperture ({na:g}) must be below the immersion refractive index "
            f"({index:g})"
        )
    return index


def sigmas_3d_from_optics(
    na: float, wavelength_nm: float, immersion_index: float | None = None
) -> tuple[float, float]:
    """Lateral and axial Gaussian sigmas (nm) of a widefield PSF: (sigma_xy, sigma_z).

    The non-paraxial least-squares fit of Zhang, Zerubia & Olivo-Marin, "Gaussian
    approximations of fluorescence microscope point-spread function models", Applied Optics
    46(10), 2007 (widefield, 3D), with the half-aperture angle ``asin(NA / n)``.
    """
    check_setting("na", na, "numerical aperture")
    check_setting("wavelength_nm", wavelength_nm, "emission wavelength (nm)")
    index = resolve_immersion_index(na, immersion_index)
    cos_a = math.cos(math.asin(na / index))
    wavenumber = 2 * math.pi / wavelength_nm
    lateral_ratio = (4 - 7 * cos_a**1.5 + 3 * cos_a**3.5) / (7 * (1 - cos_a**1.5))
    sigma_xy = 1 / (index * wavenumber * math.sqrt(lateral_ratio))
    axial_terms = 4 * cos_a**5 - 25 * cos_a**3.5 + 42 * cos_a**2.5 - 25 * cos_a**1.5 + 4
    sigma_z = (
        5
        * math.sqrt(7)
        * (1 - cos_a**1.5)
        / (math.sqrt(6) * index * wavenumber * math.sqrt(axial_terms))
    )
    return sigma_xy, sigma_z


def default_planes(
    na: float, wavelength_nm: float, z_step_nm: float, immersion_index: float | None = None
) -> int:
    """Planes (odd, >= 3) of a 3D PSF from the optics: ``AXIAL_HALF_WIDTH_SIGMAS`` axial
    Gaussian sigmas each side of focus, which holds all but 1e-4 of that Gaussian's energy."""
    check_stack_setting("z_step_nm", z_step_nm, "z-step (nm)")
    sigma_z = sigmas_3d_from_optics(na, wavelength_nm, immersion_index)[1]
    half = max(1, math.ceil(AXIAL_HALF_WIDTH_SIGMAS * sigma_z / z_step_nm))
    return min(2 * half + 1, largest_odd(MAX_PSF_SIZE))


def largest_odd(limit: int) -> int:
    """The largest odd number not above ``limit``."""
    return limit if limit % 2 else limit - 1


def check_optics(na: float, wavelength_nm: float, pixel_size_nm: float) -> None:
    """Raise :class:`PSFError` when the NA, wavelength or pixel size is out of bounds."""
    check_setting("na", na, "numerical aperture")
    check_setting("wavelength_nm", wavelength_nm, "emission wavelength (nm)")
    check_setting("pixel_size_nm", pixel_size_nm, "pixel size (nm)")


def check_setting(name: str, value: float, label: str) -> None:
    """Raise :class:`PSFError` when ``value`` is outside what :class:`OpticsConfig` declares."""
    declared = bounds(OpticsConfig, name)
    if not declared.accepts(value):
        raise PSFError(f"{label} must be {declared.describe()}, got {value}")


def check_stack_setting(name: str, value: float, label: str) -> None:
    """Raise :class:`PSFError` when ``value`` is outside what :class:`StackOpticsConfig`
    declares."""
    declared = bounds(StackOpticsConfig, name)
    if not declared.accepts(value):
        raise PSFError(f"{label} must be {declared.describe()}, got {value}")


def check_planes(planes: int | None) -> None:
    """Raise :class:`PSFError` unless ``planes`` is None (automatic) or an odd number within
    :class:`StackOpticsConfig`'s bounds."""
    if planes is None:
        return
    check_stack_setting("planes", planes, "number of PSF planes")
    if planes % 2 == 0:
        raise PSFError(
            f"the number of PSF planes must be odd (the focus in the middle), got {planes}"
        )
