"""One recipe for every PSF the command line and the PSF widget make, and :func:`make_psf`.

A recipe says what the PSF is made from: a measured bead image or stack, a Gaussian of given
widths, or the optics (a Gaussian or widefield model); and how many spatial dimensions it has.
The front ends only collect the recipe's parameters, call :func:`make_psf` and show or write
what it returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from napari_deconoising.config.psf import StackOpticsConfig
from napari_deconoising.errors import PSFError
from napari_deconoising.psf import models
from napari_deconoising.psf.prepare import SPATIAL_DIMS, match_voxel_size, prepare_psf

GAUSSIAN, WIDEFIELD = "gaussian", "widefield"
#: The PSF models made from the optics.
MODELS = (GAUSSIAN, WIDEFIELD)
NM_PER_UM = 1000.0


@dataclass(frozen=True, eq=False)
class PSFRecipe:
    """What :func:`make_psf` makes a PSF of ``spatial_dims`` (2: Y, X; 3: Z, Y, X) from.

    - ``bead``: a measured bead image or stack, prepared (:func:`~.prepare.prepare_psf`) and,
      when ``bead_voxel_nm`` and ``voxel_nm`` are both known, resampled from the one to the
      other (:func:`~.prepare.match_voxel_size`);
    - else ``sigma``: a Gaussian of ``sigma`` pixels laterally and ``sigma_z`` planes axially
      (default :class:`~.optics.StackOpticsConfig`'s);
    - else the optics, ``na``, ``wavelength_nm`` and ``voxel_nm``: the ``model`` ("gaussian" or
      "widefield") for them, with ``immersion_index`` (None: from the NA).

    Voxel sizes hold one size in nm (None: unknown) per spatial axis, Z first. ``sigma_z``,
    ``planes`` (odd; None: enough for the axial spread) and ``immersion_index`` concern the
    axial (Z) axis: a 2D PSF has none and leaves them unused.
    """

    spatial_dims: int = 2
    model: str = GAUSSIAN
    sigma: float | None = None
    sigma_z: float | None = None
    na: float | None = None
    wavelength_nm: float | None = None
    voxel_nm: tuple[float | None, ...] | None = None
    immersion_index: float | None = None
    planes: int | None = None
    bead: np.ndarray | None = None
    bead_voxel_nm: tuple[float | None, ...] | None = None

    def __post_init__(self) -> None:
        if self.spatial_dims not in SPATIAL_DIMS:
            raise PSFError(f"a PSF is 2D or 3D, not {self.spatial_dims}D")
        if self.model not in MODELS:
            raise PSFError(f"unknown PSF model '{self.model}'; one of {', '.join(MODELS)}")
        for sizes in (self.voxel_nm, self.bead_voxel_nm):
            if sizes is not None and len(sizes) != self.spatial_dims:
                raise PSFError(
                    f"a {self.spatial_dims}D PSF needs one voxel size per axis, got {sizes}"
                )

    @property
    def voxel_um(self) -> tuple[float | None, ...] | None:
        """``voxel_nm`` in µm."""
        return None if self.voxel_nm is None else _in_um(self.voxel_nm)


def make_psf(recipe: PSFRecipe) -> np.ndarray:
    """The PSF ``recipe`` describes (float32, odd sides, centred, summing to 1).

    Raises :class:`PSFError` when its parameters cannot make a PSF.
    """
    if recipe.bead is not None:
        return _from_bead(recipe)
    if recipe.sigma is not None:
        if recipe.model == WIDEFIELD:
            raise PSFError("the widefield model needs the optics, not a sigma")
        return FROM_SIGMA[recipe.spatial_dims](recipe)
    optics = (recipe.na, recipe.wavelength_nm, *(recipe.voxel_nm or [None]))
    if any(value is None for value in optics):
        raise PSFError("a PSF needs a sigma, or the NA, the wavelength and the voxel size")
    return FROM_OPTICS[recipe.spatial_dims](recipe)


def _from_bead(recipe: PSFRecipe) -> np.ndarray:
    kernel = prepare_psf(np.asarray(recipe.bead), spatial_dims=recipe.spatial_dims)
    if recipe.bead_voxel_nm is None or recipe.voxel_nm is None:
        return kernel
    return match_voxel_size(kernel, _in_um(recipe.bead_voxel_nm), _in_um(recipe.voxel_nm))


def _in_um(sizes_nm: tuple[float | None, ...]) -> tuple[float | None, ...]:
    return tuple(None if size is None else size / NM_PER_UM for size in sizes_nm)


def _plane_from_sigma(recipe: PSFRecipe) -> np.ndarray:
    return models.gaussian_psf(recipe.sigma)


def _stack_from_sigma(recipe: PSFRecipe) -> np.ndarray:
    sigma_z = StackOpticsConfig().sigma_z if recipe.sigma_z is None else recipe.sigma_z
    return models.gaussian_psf_3d(recipe.sigma, sigma_z, planes=recipe.planes)


def _plane_from_optics(recipe: PSFRecipe) -> np.ndarray:
    make = {GAUSSIAN: models.gaussian_psf_from_optics, WIDEFIELD: models.widefield_psf}
    return make[recipe.model](recipe.na, recipe.wavelength_nm, recipe.voxel_nm[-1])


def _stack_from_optics(recipe: PSFRecipe) -> np.ndarray:
    make = {GAUSSIAN: models.gaussian_psf_3d_from_optics, WIDEFIELD: models.widefield_psf_3d}
    z_step, _, pixel = recipe.voxel_nm
    return make[recipe.model](
        recipe.na,
        recipe.wavelength_nm,
        pixel,
        z_step,
        immersion_index=recipe.immersion_index,
        planes=recipe.planes,
    )


#: The public 2D and 3D model functions, by the number of spatial dimensions.
FROM_SIGMA: dict[int, Callable[[PSFRecipe], np.ndarray]] = {
    2: _plane_from_sigma,
    3: _stack_from_sigma,
}
FROM_OPTICS: dict[int, Callable[[PSFRecipe], np.ndarray]] = {
    2: _plane_from_optics,
    3: _stack_from_optics,
}
