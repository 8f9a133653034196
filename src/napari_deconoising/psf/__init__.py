"""Point spread functions: models, loading, validation, preparation, beads and recipes.

The modules: :mod:`~.optics` (settings and widths from the objective), :mod:`~.models`
(Gaussian and widefield PSFs), :mod:`~.prepare` (validation, centring, cropping, normalisation,
resampling), :mod:`~.beads` (background and bead location of measured PSFs), :mod:`~.load`
(PSFs from files and bead stacks), :mod:`~.measure` (widths) and :mod:`~.recipe` (one recipe
that the command line and the widget make every PSF from).

The names below are loaded on first use, so that importing one module of this package does
not import all of them.
"""

from __future__ import annotations

from napari_deconoising._exports import lazy_exports

_HOMES = {
    "AIRY_SIGMA_FACTOR": "napari_deconoising.psf.optics",
    "AXIAL_HALF_WIDTH_SIGMAS": "napari_deconoising.psf.optics",
    "IMMERSION_BY_NA": "napari_deconoising.psf.optics",
    "MAX_PSF_SIZE": "napari_deconoising.psf.prepare",
    "MAX_RESAMPLING": "napari_deconoising.psf.prepare",
    "PEAK_PROMINENCE": "napari_deconoising.psf.beads",
    "PSFRecipe": "napari_deconoising.psf.recipe",
    "SUPPORT_ENERGY": "napari_deconoising.psf.prepare",
    "SUPPORT_NOISE": "napari_deconoising.psf.beads",
    "StackOpticsConfig": "napari_deconoising.psf.optics",
    "VOXEL_SIZE_TOLERANCE": "napari_deconoising.psf.prepare",
    "default_planes": "napari_deconoising.psf.optics",
    "gaussian_psf": "napari_deconoising.psf.models",
    "gaussian_psf_3d": "napari_deconoising.psf.models",
    "gaussian_psf_3d_from_optics": "napari_deconoising.psf.models",
    "gaussian_psf_from_optics": "napari_deconoising.psf.models",
    "immersion_index_for": "napari_deconoising.psf.optics",
    "load_psf": "napari_deconoising.psf.load",
    "make_psf": "napari_deconoising.psf.recipe",
    "match_voxel_size": "napari_deconoising.psf.prepare",
    "prepare_psf": "napari_deconoising.psf.prepare",
    "psf_from_bead_stack": "napari_deconoising.psf.load",
    "psf_fwhm": "napari_deconoising.psf.measure",
    "psf_fwhm_z": "napari_deconoising.psf.measure",
    "psf_widths": "napari_deconoising.psf.measure",
    "remove_background": "napari_deconoising.psf.beads",
    "sigma_from_optics": "napari_deconoising.psf.optics",
    "sigmas_3d_from_optics": "napari_deconoising.psf.optics",
    "widefield_psf": "napari_deconoising.psf.models",
    "widefield_psf_3d": "napari_deconoising.psf.models",
}

__all__ = sorted(_HOMES)


__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
