"""Point spread functions: models, loading, validation, centring, cropping, normalisation.

Every PSF that enters training or prediction goes through :func:`prepare_psf`, which returns a
2D float32 kernel of odd size, centred, cropped to the square that holds 99.9% of its energy,
summing to 1.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .errors import PSFError

#: Share of a PSF's total energy kept when cropping it to its support.
SUPPORT_ENERGY = 0.999
#: Zhang et al. (2007): a widefield Airy disk is well approximated by a Gaussian of this many
#: wavelengths / NA in standard deviation.
AIRY_SIGMA_FACTOR = 0.21
MAX_PSF_SIZE = 257


def gaussian_psf(sigma: float, size: int | None = None) -> np.ndarray:
    """A normalised 2D Gaussian PSF with standard deviation ``sigma`` pixels.

    ``size`` (odd) defaults to what holds 99.9% of its energy.
    """
    if not (math.isfinite(sigma) and 0.1 <= sigma <= 50):
        raise PSFError(f"PSF sigma must be between 0.1 and 50 pixels, got {sigma}")
    half = (size // 2) if size else max(1, math.ceil(4 * sigma))
    coords = np.arange(-half, half + 1, dtype=np.float64)
    profile = np.exp(-(coords**2) / (2 * sigma**2))
    return prepare_psf(np.outer(profile, profile), crop=size is None)


def sigma_from_optics(na: float, wavelength_nm: float, pixel_size_nm: float) -> float:
    """Gaussian sigma (pixels) approximating the Airy disk of an objective."""
    _check_optics(na, wavelength_nm, pixel_size_nm)
    return AIRY_SIGMA_FACTOR * wavelength_nm / na / pixel_size_nm


def gaussian_psf_from_optics(na: float, wavelength_nm: float, pixel_size_nm: float) -> np.ndarray:
    """Gaussian approximation of the in-focus widefield PSF for the given optics."""
    return gaussian_psf(sigma_from_optics(na, wavelength_nm, pixel_size_nm))


def widefield_psf(na: float, wavelength_nm: float, pixel_size_nm: float) -> np.ndarray:
    """In-focus plane of a vectorial widefield PSF (Aguet et al.), computed with ``psfmodels``."""
    sigma = sigma_from_optics(na, wavelength_nm, pixel_size_nm)
    try:
        import psfmodels
    except ImportError as err:
        raise PSFError(
            "the widefield model needs the 'psfmodels' package: pip install psfmodels"
        ) from err
    size = int(min(MAX_PSF_SIZE, max(15, 2 * math.ceil(12 * sigma) + 1)))
    immersion = 1.515 if na > 1.33 else (1.33 if na > 0.95 else 1.0)
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


def load_psf(path: str | Path) -> np.ndarray:
    """Read a PSF from a TIFF (2D, or a 3D stack of which the brightest plane is used)."""
    import tifffile

    path = Path(path)
    if not path.is_file():
        raise PSFError(f"PSF file not found: {path}")
    try:
        array = tifffile.imread(path)
    except Exception as err:
        raise PSFError(f"cannot read PSF {path}: {err}") from err
    return prepare_psf(array)


def prepare_psf(array: np.ndarray, crop: bool = True) -> np.ndarray:
    """Validate, centre, crop to support and normalise a PSF.

    Accepts a 2D array, or a 3D stack (the plane with the largest peak is taken, as the in-focus
    one). Raises :class:`PSFError` with a readable message when the array cannot be a PSF.
    """
    kernel = np.asarray(array)
    kernel = np.squeeze(kernel) if kernel.ndim > 2 else kernel
    if kernel.ndim == 3:
        kernel = kernel[int(np.argmax(kernel.reshape(len(kernel), -1).max(axis=1)))]
    if kernel.ndim != 2:
        raise PSFError(f"a PSF must be 2D, got an array of shape {np.shape(array)}")
    if not np.issubdtype(kernel.dtype, np.number) or np.iscomplexobj(kernel):
        raise PSFError(f"a PSF must hold real numbers, got dtype {kernel.dtype}")
    kernel = kernel.astype(np.float64)
    if not np.all(np.isfinite(kernel)):
        raise PSFError("the PSF contains NaN or infinite values")
    if kernel.min() < -1e-6 * max(kernel.max(), 1e-30):
        raise PSFError("the PSF has negative values; a PSF must be non-negative")
    kernel = np.clip(kernel - _background(kernel), 0, None)
    total = kernel.sum()
    if not total > 0:
        raise PSFError("the PSF sums to zero; a PSF must have a positive sum")
    kernel = _centre(kernel / total)
    if crop:
        kernel = _crop_to_support(kernel)
    if max(kernel.shape) > MAX_PSF_SIZE:
        raise PSFError(f"the PSF support is {kernel.shape[0]} px wide; at most {MAX_PSF_SIZE}")
    return (kernel / kernel.sum()).astype(np.float32)


def psf_fwhm(psf: np.ndarray) -> float:
    """Full width at half maximum (pixels) of a PSF, from the area above half its peak."""
    kernel = np.asarray(psf, dtype=np.float64)
    area = float((kernel >= kernel.max() / 2).sum())
    return 2 * math.sqrt(area / math.pi)


def _check_optics(na: float, wavelength_nm: float, pixel_size_nm: float) -> None:
    if not (0.05 <= na <= 1.7):
        raise PSFError(f"numerical aperture must be between 0.05 and 1.7, got {na}")
    if not (200 <= wavelength_nm <= 2000):
        raise PSFError(f"emission wavelength must be 200-2000 nm, got {wavelength_nm}")
    if not (1 <= pixel_size_nm <= 10000):
        raise PSFError(f"pixel size must be 1-10000 nm, got {pixel_size_nm}")


def _background(kernel: np.ndarray) -> float:
    """Median of the outermost ring when it is a noticeable level (a measured bead image), else 0.

    Analytic PSFs reach ~0 at their border and are left untouched.
    """
    ring = np.concatenate([kernel[0], kernel[-1], kernel[1:-1, 0], kernel[1:-1, -1]])
    level = float(np.median(ring))
    return level if level > 1e-3 * kernel.max() else 0.0


def _centre(kernel: np.ndarray) -> np.ndarray:
    """Shift (integer pixels) so that the centre of mass sits on the middle of an odd array."""
    rows, cols = np.indices(kernel.shape)
    centre = (round(float((rows * kernel).sum())), round(float((cols * kernel).sum())))
    half = max(
        centre[0], kernel.shape[0] - 1 - centre[0], centre[1], kernel.shape[1] - 1 - centre[1]
    )
    out = np.zeros((2 * half + 1, 2 * half + 1))
    top, left = half - centre[0], half - centre[1]
    out[top : top + kernel.shape[0], left : left + kernel.shape[1]] = kernel
    return out


def _crop_to_support(kernel: np.ndarray) -> np.ndarray:
    """Smallest centred odd square holding ``SUPPORT_ENERGY`` of the total."""
    half = kernel.shape[0] // 2
    total = kernel.sum()
    for radius in range(half + 1):
        window = kernel[half - radius : half + radius + 1, half - radius : half + radius + 1]
        if window.sum() >= SUPPORT_ENERGY * total:
            return window
    return kernel
