"""A PSF width estimated from the images themselves, for images without pixel size or optics.

The power spectrum of an image shows how much it is blurred (:mod:`.psf_check`: a Gaussian
fitted to the top octave of the band where signal stands above the
noise). That blur is the PSF's and the objects' own width together, so the PSF is taken as a
fraction (:data:`SPECTRUM_FRACTION`) of it: a PSF too wide costs far more (ringing, invented
detail) than one too narrow (less sharpening). :func:`estimated_psf_sigma` gives the Gaussian
sigma; :func:`sample_planes_of` reads the bounded sample of an image (lazy or not) it is
measured on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from napari_deconoising.data.images import pixel_source, read_pixels, spread
from napari_deconoising.data.psf_check import FWHM_PER_SIGMA, check_psf
from napari_deconoising.io.axes import AxesImage
from napari_deconoising.psf.models import gaussian_psf

#: The PSF's FWHM is this share of the blur (FWHM) the images' spectrum shows, which includes
#: the objects' own width. Set from a benchmark on real recordings; erring low is safer.
SPECTRUM_FRACTION = 0.5
#: The narrowest PSF estimated (FWHM, pixels): below it a Gaussian is hardly a blur at all.
MIN_FWHM_PX = 1.0
#: At most about this many pixels of an image are read for the estimate (evenly spread planes,
#: central crops): 1024 x 1024, about a quarter of a second.
SAMPLE_PIXELS = 2**20


def estimated_psf_sigma(images: np.ndarray | Sequence[np.ndarray]) -> float | None:
    """The Gaussian sigma (pixels) of the PSF estimated from ``images`` (a 2D image, a stack or
    a list of such; the last two axes are Y, X): ``max(SPECTRUM_FRACTION * blur FWHM,
    MIN_FWHM_PX) / FWHM_PER_SIGMA``, where the blur is the one their power spectrum shows
    (:attr:`~napari_deconoising.data.psf_check.PSFCheck.data_fwhm_px`). None when the spectrum
    shows no measurable blur (pure noise, or signal up to the highest frequencies)."""
    return psf_sigma_from_blur(check_psf(images, gaussian_psf(1.0)).data_fwhm_px)


def psf_sigma_from_blur(
    data_fwhm_px: float | None, fraction: float = SPECTRUM_FRACTION
) -> float | None:
    """The Gaussian sigma (pixels) of a PSF ``fraction`` as wide as the blur (FWHM, pixels) an
    image's spectrum shows, at least :data:`MIN_FWHM_PX` wide; None without a blur."""
    if data_fwhm_px is None:
        return None
    return max(fraction * data_fwhm_px, MIN_FWHM_PX) / FWHM_PER_SIGMA


def sample_planes_of(
    image: AxesImage, channel: int = 0, max_pixels: int = SAMPLE_PIXELS
) -> list[np.ndarray]:
    """Float32 Y-X planes of ``image``'s ``channel`` (its only one without a C axis): evenly
    spread planes, each cropped to its central part, about ``max_pixels`` pixels in all. Only
    those pixels are read, so a lazy image stays mostly on disk."""
    canonical = image.canonical()
    data = canonical.data
    if canonical.has("C"):
        data = data[(slice(None),) * canonical.axes.index("C") + (channel,)]
    leading, plane_shape = tuple(data.shape[:-2]), tuple(data.shape[-2:])
    crop = _central_crop(plane_shape, max_pixels)
    per_plane = min(math.prod(plane_shape), max_pixels)
    chosen = spread(math.prod(leading), max(1, max_pixels // per_plane))
    source = pixel_source(image)
    return [
        read_pixels(data, (*_plane_index(index, leading), *crop), source=source, dtype=np.float32)
        for index in chosen
    ]


def _plane_index(index: int, leading: tuple[int, ...]) -> tuple[int, ...]:
    """The indices along the leading axes of the ``index``-th plane."""
    return tuple(int(i) for i in np.unravel_index(index, leading)) if leading else ()


def _central_crop(shape: tuple[int, int], max_pixels: int) -> tuple[slice, slice]:
    """The slices of the central part of a plane of ``shape`` with at most ``max_pixels``
    pixels (same aspect)."""
    scale = min(1.0, math.sqrt(max_pixels / math.prod(shape)))
    height, width = (max(1, int(n * scale)) for n in shape)
    top, left = (shape[0] - height) // 2, (shape[1] - width) // 2
    return slice(top, top + height), slice(left, left + width)
