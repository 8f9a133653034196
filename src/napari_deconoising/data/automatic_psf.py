"""The PSF assumed for an image when the user gives none: :func:`automatic_psf`.

In this order (:data:`~napari_deconoising.psf.automatic.SOURCES`): a Gaussian for the optics
its OME-TIFF file records, else for the default optics, at its voxel size
(:func:`~napari_deconoising.psf.automatic.optics_psf`); without a voxel size, a Gaussian whose
lateral sigma is estimated from the image's spectrum (:mod:`.psf_estimate`, on a bounded
sample), else of the default sigma (:func:`~napari_deconoising.psf.automatic.sigma_psf`). The
One-click and PSF widgets, ``deconoising train --psf auto`` and ``deconoising psf
--from-image`` all call it.
"""

from __future__ import annotations

from napari_deconoising.data.psf_estimate import estimated_psf_sigma, sample_planes_of
from napari_deconoising.io.axes import AxesImage
from napari_deconoising.psf.automatic import AutomaticPSF, optics_psf, sigma_psf
from napari_deconoising.psf.recipe import PSFRecipe


def automatic_psf(image: AxesImage, channel: int = 0) -> AutomaticPSF:
    """The PSF assumed for ``channel`` of ``image`` (3D when it has a Z axis, else 2D), with
    what it was made from (:meth:`~napari_deconoising.psf.automatic.AutomaticPSF.describe`).
    Pixels are read only for the spectrum estimate, at most
    :data:`~.psf_estimate.SAMPLE_PIXELS` of them."""
    from_optics = optics_psf(image, channel)
    if from_optics is not None:
        return from_optics
    return sigma_psf(image, estimated_psf_sigma(sample_planes_of(image, channel)), channel)


def automatic_recipe(image: AxesImage, channel: int = 0) -> PSFRecipe:
    """The recipe of the PSF assumed for ``channel`` of ``image`` (:func:`automatic_psf`)."""
    return automatic_psf(image, channel).recipe
