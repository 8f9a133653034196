"""The PSF to assume for an image when the user gives none: typical optics at its pixel size.

A Gaussian for the default optics (:class:`~napari_deconoising.config.OpticsConfig`: NA and
emission wavelength) at the image's pixel size and, for an image with a Z axis, its z-step (a
3D PSF, so that ``mode="auto"`` trains a 3D network). Without physical sizes, a Gaussian of the
default sigmas in pixels (and planes). Made by :func:`~.recipe.make_psf`, like every PSF.
"""

from __future__ import annotations

from napari_deconoising.config.psf import OpticsConfig, StackOpticsConfig
from napari_deconoising.io.axes import AxesImage
from napari_deconoising.psf.recipe import GAUSSIAN, NM_PER_UM, PSFRecipe


def automatic_recipe(image: AxesImage) -> PSFRecipe:
    """The recipe of the PSF assumed for ``image``: 3D when it has a Z axis, else 2D; from the
    default optics when its voxel size is known on every spatial axis, else from the default
    sigmas (pixels, planes)."""
    spatial_dims = 3 if image.has("Z") else 2
    voxel_um = [image.spacing.get(axis) for axis in "ZYX"[-spatial_dims:]]
    if None in voxel_um:
        stack = StackOpticsConfig()
        sigma_z = stack.sigma_z if spatial_dims == 3 else None
        return PSFRecipe(spatial_dims=spatial_dims, sigma=OpticsConfig().sigma, sigma_z=sigma_z)
    optics = OpticsConfig()
    return PSFRecipe(
        spatial_dims=spatial_dims,
        model=GAUSSIAN,
        na=optics.na,
        wavelength_nm=optics.wavelength_nm,
        voxel_nm=tuple(size * NM_PER_UM for size in voxel_um),
    )
