"""Point spread functions: models, loading, validation, preparation and beads.

The names below are loaded on first use, so that importing one module of this package does
not import all of them.
"""

from __future__ import annotations

from napari_deconoising._exports import lazy_exports

_HOMES = {
    "AIRY_SIGMA_FACTOR": "napari_deconoising.psf.core",
    "AXIAL_HALF_WIDTH_SIGMAS": "napari_deconoising.psf.core",
    "IMMERSION_BY_NA": "napari_deconoising.psf.core",
    "MAX_PSF_SIZE": "napari_deconoising.psf.core",
    "MAX_RESAMPLING": "napari_deconoising.psf.core",
    "PEAK_PROMINENCE": "napari_deconoising.psf.core",
    "SUPPORT_ENERGY": "napari_deconoising.psf.core",
    "SUPPORT_NOISE": "napari_deconoising.psf.core",
    "StackOpticsConfig": "napari_deconoising.psf.core",
    "VOXEL_SIZE_TOLERANCE": "napari_deconoising.psf.core",
    "default_planes": "napari_deconoising.psf.core",
    "gaussian_psf": "napari_deconoising.psf.core",
    "gaussian_psf_3d": "napari_deconoising.psf.core",
    "gaussian_psf_3d_from_optics": "napari_deconoising.psf.core",
    "gaussian_psf_from_optics": "napari_deconoising.psf.core",
    "immersion_index_for": "napari_deconoising.psf.core",
    "load_psf": "napari_deconoising.psf.core",
    "match_voxel_size": "napari_deconoising.psf.core",
    "prepare_psf": "napari_deconoising.psf.core",
    "psf_from_bead_stack": "napari_deconoising.psf.core",
    "psf_fwhm": "napari_deconoising.psf.core",
    "psf_fwhm_z": "napari_deconoising.psf.core",
    "remove_background": "napari_deconoising.psf.core",
    "sigma_from_optics": "napari_deconoising.psf.core",
    "sigmas_3d_from_optics": "napari_deconoising.psf.core",
    "widefield_psf": "napari_deconoising.psf.core",
    "widefield_psf_3d": "napari_deconoising.psf.core",
}

__all__ = sorted(_HOMES)


__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
