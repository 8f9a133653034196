"""Point spread functions: models, loading, validation, centring, cropping, normalisation.

Every PSF that enters training or prediction goes through :func:`prepare_psf`, which returns a
float32 kernel of odd sizes, centred, cropped to the box that holds 99.9% of its energy,
summing to 1: 2D by default (a stack gives its in-focus plane), 3D (Z, Y, X) with
``spatial_dims=3``.

3D PSFs come from the optics (a Gaussian whose lateral and axial widths follow Zhang et al.
2007, or a vectorial widefield PSF computed by ``psfmodels``) or from a measured bead stack;
:func:`match_voxel_size` resamples a PSF made for another voxel size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from napari_deconoising.config.settings import Config, OpticsConfig, bounds, setting
from napari_deconoising.errors import PSFError

#: Share of a PSF's total energy kept when cropping it to its support.
SUPPORT_ENERGY = 0.999
#: Zhang et al. (2007): a widefield Airy disk is well approximated by a Gaussian of this many
#: wavelengths / NA in standard deviation.
AIRY_SIGMA_FACTOR = 0.21
MAX_PSF_SIZE = 257
#: Refractive index of the immersion medium assumed from the NA when it is not given:
#: (lowest NA that needs it, index): oil, water, air.
IMMERSION_BY_NA = ((1.33, 1.515), (0.95, 1.33), (0.0, 1.0))
#: A 3D PSF from the optics spans this many axial Gaussian sigmas each side of focus by default.
AXIAL_HALF_WIDTH_SIGMAS = 4.0
#: A bead stack's (lightly smoothed) peak must stand this many noise deviations (of the raw
#: stack's border) above the border's level; a measured PSF keeps the connected region where
#: the smoothed stack stands ``SUPPORT_NOISE`` of its own border deviations above that level.
PEAK_PROMINENCE = 3.0
SUPPORT_NOISE = 4.0
#: Voxel sizes closer than this (relative) are treated as equal; a PSF is never resampled by
#: more than ``MAX_RESAMPLING`` along any axis (beyond that it is refused).
VOXEL_SIZE_TOLERANCE = 0.10
MAX_RESAMPLING = 8.0


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
    psfmodels = _psfmodels()
    size = int(min(MAX_PSF_SIZE, max(15, 2 * math.ceil(12 * sigma) + 1)))
    immersion = immersion_index_for(na)
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


def immersion_index_for(na: float) -> float:
    """The immersion medium an objective of this NA most likely uses: oil (1.515) above NA 1.33,
    water (1.33) above 0.95, else air (1.0)."""
    for lowest_na, index in IMMERSION_BY_NA:
        if na > lowest_na:
            return index
    return IMMERSION_BY_NA[-1][1]


def sigmas_3d_from_optics(
    na: float, wavelength_nm: float, immersion_index: float | None = None
) -> tuple[float, float]:
    """Lateral and axial Gaussian sigmas (nm) of a widefield PSF: (sigma_xy, sigma_z).

    The non-paraxial least-squares fit of Zhang, Zerubia & Olivo-Marin, "Gaussian
    approximations of fluorescence microscope point-spread function models", Applied Optics
    46(10), 2007 (widefield, 3D), with the half-aperture angle ``asin(NA / n)``.
    """
    _check_setting("na", na, "numerical aperture")
    _check_setting("wavelength_nm", wavelength_nm, "emission wavelength (nm)")
    index = _immersion(na, immersion_index)
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
    _check_stack_setting("z_step_nm", z_step_nm, "z-step (nm)")
    sigma_z = sigmas_3d_from_optics(na, wavelength_nm, immersion_index)[1]
    half = max(1, math.ceil(AXIAL_HALF_WIDTH_SIGMAS * sigma_z / z_step_nm))
    return min(2 * half + 1, _largest_odd(MAX_PSF_SIZE))


def gaussian_psf_3d(
    sigma_xy: float, sigma_z: float, size: int | None = None, planes: int | None = None
) -> np.ndarray:
    """A normalised 3D Gaussian PSF (Z, Y, X): ``sigma_xy`` pixels laterally, ``sigma_z`` planes
    axially. ``size`` and ``planes`` (odd) default to what holds 99.9% of its energy."""
    _check_setting("sigma", sigma_xy, "lateral PSF sigma (pixels)")
    _check_stack_setting("sigma_z", sigma_z, "axial PSF sigma (planes)")
    _check_planes(planes)
    half_xy = (size // 2) if size else max(1, math.ceil(4 * sigma_xy))
    half_z = (planes // 2) if planes else max(1, math.ceil(4 * sigma_z))
    lateral = _gaussian_profile(half_xy, sigma_xy)
    axial = _gaussian_profile(half_z, sigma_z)
    kernel = axial[:, None, None] * np.outer(lateral, lateral)[None]
    return prepare_psf(kernel, crop=size is None and planes is None, spatial_dims=3)


def gaussian_psf_3d_from_optics(
    na: float,
    wavelength_nm: float,
    pixel_size_nm: float,
    z_step_nm: float,
    immersion_index: float | None = None,
    planes: int | None = None,
) -> np.ndarray:
    """Gaussian approximation (Zhang et al. 2007) of the 3D widefield PSF for the given optics
    and voxel size; ``planes`` (odd) defaults to :func:`default_planes`."""
    _check_optics(na, wavelength_nm, pixel_size_nm)
    _check_stack_setting("z_step_nm", z_step_nm, "z-step (nm)")
    sigma_xy, sigma_z = sigmas_3d_from_optics(na, wavelength_nm, immersion_index)
    planes = planes or default_planes(na, wavelength_nm, z_step_nm, immersion_index)
    return gaussian_psf_3d(
        max(sigma_xy / pixel_size_nm, bounds(OpticsConfig, "sigma").low or 0.1),
        max(sigma_z / z_step_nm, bounds(StackOpticsConfig, "sigma_z").low or 0.1),
        planes=planes,
    )


def widefield_psf_3d(
    na: float,
    wavelength_nm: float,
    pixel_size_nm: float,
    z_step_nm: float,
    immersion_index: float | None = None,
    planes: int | None = None,
) -> np.ndarray:
    """A vectorial widefield 3D PSF (Aguet et al.) computed with ``psfmodels`` for the stack's
    pixel size and z-step, the point source at focus in a medium matching the immersion
    (no spherical aberration). ``planes`` (odd) defaults to :func:`default_planes`; laterally
    it is computed wide enough for the most defocused plane, then cropped to its support."""
    _check_optics(na, wavelength_nm, pixel_size_nm)
    _check_stack_setting("z_step_nm", z_step_nm, "z-step (nm)")
    _check_planes(planes)
    index = _immersion(na, immersion_index)
    planes = planes or default_planes(na, wavelength_nm, z_step_nm, index)
    sigma_xy = sigmas_3d_from_optics(na, wavelength_nm, index)[0]
    defocus_nm = (planes // 2) * z_step_nm
    spread_nm = defocus_nm * math.tan(math.asin(na / index)) + 6 * sigma_xy
    half = max(7, math.ceil(spread_nm / pixel_size_nm))
    size = min(2 * half + 1, _largest_odd(MAX_PSF_SIZE))
    kernel = _psfmodels().make_psf(
        planes,
        nx=size,
        dxy=pixel_size_nm / 1000,
        dz=z_step_nm / 1000,
        NA=na,
        wvl=wavelength_nm / 1000,
        ns=index,
        ni=index,
        ni0=index,
    )
    return prepare_psf(kernel, spatial_dims=3)


def psf_from_bead_stack(stack: np.ndarray) -> np.ndarray:
    """A 3D PSF from a measured bead stack (Z, Y, X): background removed, centred on the bead's
    brightest voxel, cropped to its support and normalised. Raises :class:`PSFError` when the
    stack has no clear peak."""
    return prepare_psf(stack, spatial_dims=3)


def load_psf(
    path: str | Path,
    spatial_dims: int | None = 2,
    voxel_size_um: Sequence[float] | None = None,
) -> np.ndarray:
    """Read a PSF from a TIFF and :func:`prepare_psf` it.

    ``spatial_dims`` 2 (the default) gives a 2D PSF (the brightest plane of a stack), 3 a 3D
    one, None whatever the file holds (a stack stays 3D). With ``voxel_size_um`` (the image's
    (Z,) Y, X sizes in µm) the PSF is resampled to it when the file records its own voxel size
    (:func:`match_voxel_size`).
    """
    from napari_deconoising.errors import ImageError
    from napari_deconoising.io import read_tiff

    path = Path(path)
    if not path.is_file():
        raise PSFError(f"PSF file not found: {path}")
    try:
        image = read_tiff(path)
    except ImageError as err:
        raise PSFError(f"cannot read PSF {path}: {err}") from err
    dims = spatial_dims or (3 if _squeezed_ndim(image.data) == 3 else 2)
    psf = prepare_psf(np.asarray(image.data), spatial_dims=dims)
    if voxel_size_um is None:
        return psf
    axes = "ZYX"[-psf.ndim :]
    own = [image.spacing.get(axis) for axis in axes]
    if any(size is None for size in own):
        return psf
    return match_voxel_size(psf, own, list(voxel_size_um)[-psf.ndim :])


def match_voxel_size(
    psf: np.ndarray,
    psf_voxel_um: Sequence[float | None] | None,
    image_voxel_um: Sequence[float | None] | None,
) -> np.ndarray:
    """``psf`` resampled (spline interpolation, then prepared again) from its voxel size to the
    image's, one size per axis of ``psf`` ((Z,) Y, X, in µm).

    Returned as it is when a size is unknown on either side or all agree within
    ``VOXEL_SIZE_TOLERANCE``. Raises :class:`PSFError` when they differ by more than
    ``MAX_RESAMPLING`` times, or when the resampled PSF is too small to be a PSF.
    """
    kernel = np.asarray(psf, dtype=np.float64)
    mine, theirs = _sizes(psf_voxel_um, kernel.ndim), _sizes(image_voxel_um, kernel.ndim)
    if mine is None or theirs is None:
        return np.asarray(psf, dtype=np.float32)
    factors = [own / target for own, target in zip(mine, theirs, strict=True)]
    if all(abs(factor - 1) <= VOXEL_SIZE_TOLERANCE for factor in factors):
        return np.asarray(psf, dtype=np.float32)
    described = _describe_sizes(mine), _describe_sizes(theirs)
    if any(not 1 / MAX_RESAMPLING <= factor <= MAX_RESAMPLING for factor in factors):
        raise PSFError(
            f"the PSF's voxel size ({described[0]} µm) and the image's ({described[1]} µm) "
            f"differ more than {MAX_RESAMPLING:g} times; make the PSF for the image's voxel size"
        )
    resampled = _resample_centred(kernel, factors)
    if min(resampled.shape) < 1 or not resampled.sum() > 0:
        raise PSFError(
            f"the PSF resampled from {described[0]} µm to {described[1]} µm voxels is empty"
        )
    return prepare_psf(resampled, spatial_dims=kernel.ndim)


def _resample_centred(kernel: np.ndarray, factors: Sequence[float]) -> np.ndarray:
    """``kernel`` (odd sides, centred) sampled ``factors`` times as densely along each axis
    (cubic splines), keeping its centre on the middle voxel of odd sides; clipped at zero."""
    halves = [int((side // 2) * factor) for side, factor in zip(kernel.shape, factors, strict=True)]
    grids = np.meshgrid(
        *[
            side // 2 + np.arange(-half, half + 1) / factor
            for side, half, factor in zip(kernel.shape, halves, factors, strict=True)
        ],
        indexing="ij",
    )
    resampled = ndimage.map_coordinates(kernel, grids, order=3, mode="constant")
    return np.clip(resampled, 0, None)


def prepare_psf(array: np.ndarray, crop: bool = True, spatial_dims: int | None = 2) -> np.ndarray:
    """Validate, centre, crop to support and normalise a PSF.

    ``spatial_dims`` 2 (the default): a 2D array, or a 3D stack of which the plane with the
    largest peak is taken (the in-focus one). 3: a 3D stack (Z, Y, X), background removed,
    centred on its brightest voxel (after light smoothing, so noise does not decide), cropped
    separately in Z and in Y/X; a stack without a clear peak is refused. None: the array's own
    dimensionality (2 or 3). Raises :class:`PSFError` with a readable message when the array
    cannot be a PSF.
    """
    kernel = np.asarray(array)
    kernel = np.squeeze(kernel) if kernel.ndim > 2 else kernel
    if spatial_dims is None:
        spatial_dims = 3 if kernel.ndim == 3 else 2
    if spatial_dims == 3:
        return _prepare_3d(kernel, np.shape(array), crop)
    if spatial_dims != 2:
        raise PSFError(f"a PSF is 2D or 3D, not {spatial_dims}D")
    if kernel.ndim == 3:
        kernel = kernel[int(np.argmax(kernel.reshape(len(kernel), -1).max(axis=1)))]
    if kernel.ndim != 2:
        raise PSFError(f"a PSF must be 2D, got an array of shape {np.shape(array)}")
    kernel = _checked_values(kernel)
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


def _prepare_3d(kernel: np.ndarray, shape: tuple[int, ...], crop: bool) -> np.ndarray:
    if kernel.ndim != 3:
        raise PSFError(f"a 3D PSF must be a (Z, Y, X) stack, got an array of shape {shape}")
    raw = _checked_values(kernel)
    measured = _background_level(raw) is not None
    kernel = remove_background(raw)
    total = kernel.sum()
    if not total > 0:
        raise PSFError("the PSF sums to zero; a PSF must have a positive sum")
    smooth = ndimage.gaussian_filter(kernel, 1.0, mode="nearest")
    # The noise: what light smoothing removes from the border (a computed PSF's smooth tail,
    # which may fill a small stack's border, is no noise).
    noise = _robust_spread(_border(raw - ndimage.gaussian_filter(raw, 1.0, mode="nearest")))
    peak = _peak_voxel(smooth, noise)
    if measured:
        kernel = _bead_support(kernel, smooth, peak)
    kernel = _centre_3d(kernel / kernel.sum(), peak)
    if crop:
        kernel = _crop_to_support_3d(kernel)
    if max(kernel.shape) > MAX_PSF_SIZE:
        raise PSFError(
            f"the PSF support is {kernel.shape[0]} planes x {kernel.shape[1]} px; "
            f"at most {MAX_PSF_SIZE}"
        )
    return (kernel / kernel.sum()).astype(np.float32)


def psf_fwhm(psf: np.ndarray) -> float:
    """Full width at half maximum (pixels) of a PSF, from the area above half its peak (of its
    brightest plane for a 3D PSF)."""
    kernel = np.asarray(psf, dtype=np.float64)
    if kernel.ndim == 3:
        kernel = kernel[int(np.argmax(kernel.reshape(len(kernel), -1).max(axis=1)))]
    area = float((kernel >= kernel.max() / 2).sum())
    return 2 * math.sqrt(area / math.pi)


def psf_fwhm_z(psf: np.ndarray) -> float:
    """Axial full width at half maximum (planes) of a 3D PSF, along the line through its
    brightest voxel (linearly interpolated between planes)."""
    kernel = np.asarray(psf, dtype=np.float64)
    if kernel.ndim != 3:
        raise PSFError(f"an axial width needs a 3D PSF, got shape {kernel.shape}")
    _, row, col = np.unravel_index(int(np.argmax(kernel)), kernel.shape)
    profile = kernel[:, row, col] / kernel[:, row, col].max()
    peak = int(np.argmax(profile))
    return _half_crossing(profile[peak:]) + _half_crossing(profile[peak::-1])


def _half_crossing(profile: np.ndarray) -> float:
    """Distance from ``profile[0]`` (the peak, 1) to where it first falls to 0.5."""
    below = np.flatnonzero(profile < 0.5)
    if len(below) == 0:
        return float(len(profile) - 1)
    i = int(below[0])
    return i - 1 + (profile[i - 1] - 0.5) / (profile[i - 1] - profile[i])


def _checked_values(kernel: np.ndarray) -> np.ndarray:
    """``kernel`` as float64 after checking it holds finite, real, non-negative numbers."""
    if not np.issubdtype(kernel.dtype, np.number) or np.iscomplexobj(kernel):
        raise PSFError(f"a PSF must hold real numbers, got dtype {kernel.dtype}")
    kernel = kernel.astype(np.float64)
    if not np.all(np.isfinite(kernel)):
        raise PSFError("the PSF contains NaN or infinite values")
    if kernel.min() < -1e-6 * max(kernel.max(), 1e-30):
        raise PSFError("the PSF has negative values; a PSF must be non-negative")
    return kernel


def _psfmodels():
    try:
        import psfmodels
    except ImportError as err:
        raise PSFError(
            "the widefield model needs the 'psfmodels' package: pip install psfmodels"
        ) from err
    return psfmodels


def _immersion(na: float, immersion_index: float | None) -> float:
    """The immersion index to use (given, else from the NA); the NA must be below it."""
    if immersion_index is None:
        index = immersion_index_for(na)
    else:
        _check_stack_setting("immersion_index", immersion_index, "immersion refractive index")
        index = immersion_index
    if not na < index:
        raise PSFError(
            f"the numerical aperture ({na:g}) must be below the immersion refractive index "
            f"({index:g})"
        )
    return index


def _gaussian_profile(half: int, sigma: float) -> np.ndarray:
    coords = np.arange(-half, half + 1, dtype=np.float64)
    return np.exp(-(coords**2) / (2 * sigma**2))


def _largest_odd(limit: int) -> int:
    return limit if limit % 2 else limit - 1


def _check_planes(planes: int | None) -> None:
    if planes is None:
        return
    _check_stack_setting("planes", planes, "number of PSF planes")
    if planes % 2 == 0:
        raise PSFError(
            f"the number of PSF planes must be odd (the focus in the middle), got {planes}"
        )


def _check_stack_setting(name: str, value: float, label: str) -> None:
    """Raise :class:`PSFError` when ``value`` is outside what :class:`StackOpticsConfig`
    declares."""
    declared = bounds(StackOpticsConfig, name)
    if not declared.accepts(value):
        raise PSFError(f"{label} must be {declared.describe()}, got {value}")


def _squeezed_ndim(data) -> int:
    return sum(1 for side in data.shape if side > 1)


def _sizes(sizes: Sequence[float | None] | None, ndim: int) -> list[float] | None:
    """The last ``ndim`` voxel sizes when all are known and positive, else None."""
    if sizes is None:
        return None
    values = list(sizes)[-ndim:]
    if len(values) != ndim or any(v is None or not v > 0 for v in values):
        return None
    return [float(v) for v in values]


def _describe_sizes(sizes: Sequence[float]) -> str:
    return " x ".join(f"{size:.4g}" for size in sizes)


def _peak_voxel(smooth: np.ndarray, noise: float) -> tuple[int, int, int]:
    """The brightest voxel of the lightly smoothed stack; :class:`PSFError` when it does not
    stand ``PEAK_PROMINENCE`` noise deviations (``noise``, measured on the raw stack's border)
    above the border's level."""
    peak = np.unravel_index(int(np.argmax(smooth)), smooth.shape)
    level = float(np.median(_border(smooth)))
    if not smooth[peak] - level > PEAK_PROMINENCE * noise:
        raise PSFError(
            "the PSF stack has no clear peak (its brightest point is not well above the noise); "
            "use a stack with one isolated bead"
        )
    return tuple(int(i) for i in peak)  # type: ignore[return-value]


def _bead_support(kernel: np.ndarray, smooth: np.ndarray, peak: tuple[int, int, int]) -> np.ndarray:
    """``kernel`` zeroed outside the bead: the connected region around ``peak`` where the
    smoothed stack stands ``SUPPORT_NOISE`` of its border noise above the border's level,
    widened by two voxels. Keeps the noise of a measured stack out of the PSF."""
    border = _border(smooth)
    noise = _robust_spread(border)
    if noise == 0:
        return kernel
    labels, _ = ndimage.label(smooth - np.median(border) > SUPPORT_NOISE * noise)
    if labels[peak] == 0:
        return kernel
    support = ndimage.binary_dilation(labels == labels[peak], iterations=2)
    return kernel * support


def _centre_3d(kernel: np.ndarray, peak: tuple[int, int, int]) -> np.ndarray:
    """Pad so that ``peak`` sits in the middle of an array with odd sides (Z, and a square in
    Y/X)."""
    half_z = max(peak[0], kernel.shape[0] - 1 - peak[0])
    half_xy = max(peak[1], kernel.shape[1] - 1 - peak[1], peak[2], kernel.shape[2] - 1 - peak[2])
    out = np.zeros((2 * half_z + 1, 2 * half_xy + 1, 2 * half_xy + 1))
    start = (half_z - peak[0], half_xy - peak[1], half_xy - peak[2])
    out[
        start[0] : start[0] + kernel.shape[0],
        start[1] : start[1] + kernel.shape[1],
        start[2] : start[2] + kernel.shape[2],
    ] = kernel
    return out


def _crop_to_support_3d(kernel: np.ndarray) -> np.ndarray:
    """The fewest centred planes holding ``SUPPORT_ENERGY`` of the total, then the smallest
    centred odd square (Y/X) holding ``SUPPORT_ENERGY`` of what those planes hold."""
    planes = kernel.sum(axis=(1, 2))
    half_z = len(planes) // 2
    radius_z = next(
        (
            r
            for r in range(half_z + 1)
            if planes[half_z - r : half_z + r + 1].sum() >= SUPPORT_ENERGY * planes.sum()
        ),
        half_z,
    )
    kernel = kernel[half_z - radius_z : half_z + radius_z + 1]
    square = _crop_to_support(kernel.sum(axis=0))
    half, radius = kernel.shape[1] // 2, square.shape[0] // 2
    return kernel[:, half - radius : half + radius + 1, half - radius : half + radius + 1]


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
    level = _background_level(data)
    if level is None:
        return data
    return np.clip(data - level, 0, None)


def _border(data: np.ndarray) -> np.ndarray:
    """Every border row and column of the last two axes."""
    return np.concatenate(
        [
            data[..., 0, :].ravel(),
            data[..., -1, :].ravel(),
            data[..., :, 0].ravel(),
            data[..., :, -1].ravel(),
        ]
    )


def _background_level(data: np.ndarray) -> float | None:
    """The median of the border when it is a noticeable level (above 1e-3 of the peak)."""
    level = float(np.median(_border(data)))
    return None if level <= 1e-3 * float(data.max()) else level


def _robust_spread(values: np.ndarray) -> float:
    """Standard deviation estimated from the median absolute deviation."""
    return 1.4826 * float(np.median(np.abs(values - np.median(values))))


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
