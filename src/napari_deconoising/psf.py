"""Point spread functions: models, loading, validation, centring, cropping, normalisation.

Every PSF that enters training or prediction goes through :func:`prepare_psf`, which returns a
2D float32 kernel of odd size, centred, cropped to the square that holds 99.9% of its energy,
summing to 1.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .config import OpticsConfig, bounds
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
    _check_setting("sigma", sigma, "PSF sigma (pixels)")
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
    kernel = remove_background(kernel)
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
    _check_setting("na", na, "numerical aperture")
    _check_setting("wavelength_nm", wavelength_nm, "emission wavelength (nm)")
    _check_setting("pixel_size_nm", pixel_size_nm, "pixel size (nm)")


def _check_setting(name: str, value: float, label: str) -> None:
    """Raise :class:`PSFError` when ``value`` is outside what :class:`OpticsConfig` declares."""
    declared = bounds(OpticsConfig, name)
    if not declared.accepts(value):
        raise PSFError(f"{label} must be {declared.describe()}, got {value}")


def remove_background(image: np.ndarray) -> np.ndarray:
    """Subtract the camera background of a measured bead image and clip at zero.

    The background is the median of the image's outermost pixels (every border row and column of
    the last two axes). It is removed only when it is a noticeable level (above 1e-3 of the
    peak), so analytic PSFs, which reach about zero at their border, are left untouched. This is
    the one place where the widgets, the CLI and the API remove a PSF's background.
    """
    data = np.asarray(image, dtype=np.float64)
    border = np.concatenate(
        [
            data[..., 0, :].ravel(),
            data[..., -1, :].ravel(),
            data[..., :, 0].ravel(),
            data[..., :, -1].ravel(),
        ]
    )
    level = float(np.median(border))
    if level <= 1e-3 * float(data.max()):
        return data
    return np.clip(data - level, 0, None)


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
