"""The optics a PSF is computed from, in 2D and for a z-stack, and the largest PSF accepted."""

from __future__ import annotations

from dataclasses import dataclass

from napari_deconoising.config.base import (
    Config,
    setting,
)

MAX_PSF_SIZE = 257


@dataclass(frozen=True)
class OpticsConfig(Config):
    """The microscope optics a PSF is computed from (and the Gaussian sigma when given directly)."""

    sigma: float = setting(1.5, low=0.1, high=50, help="Gaussian PSF sigma (px)")
    na: float = setting(1.4, low=0.05, high=1.7, help="numerical aperture")
    wavelength_nm: float = setting(520.0, low=200, high=2000, help="emission wavelength (nm)")
    pixel_size_nm: float = setting(100.0, low=1, high=10_000, help="pixel size (nm)")


@dataclass(frozen=True)
class StackOpticsConfig(Config):
    """The axial side of a 3D PSF: the z-step, the immersion medium and the number of planes.

    Used with :class:`~napari_deconoising.config.OpticsConfig` (NA, wavelength, pixel size).
    ``immersion_index`` None means "from the NA" (see :func:`immersion_index_for`), ``planes``
    None means enough planes for the axial spread (see :func:`default_planes`).
    """

    z_step_nm: float = setting(250.0, low=1, high=100_000, help="distance between planes (nm)")
    immersion_index: float | None = setting(
        None, low=1.0, high=2.0, optional=True, help="refractive index of the immersion medium"
    )
    planes: int | None = setting(
        None, low=3, high=MAX_PSF_SIZE, optional=True, help="planes of the 3D PSF (odd)"
    )
    sigma_z: float = setting(2.0, low=0.1, high=50, help="axial Gaussian PSF sigma (planes)")
