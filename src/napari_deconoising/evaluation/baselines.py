"""Classical baselines to measure DecoNoising against: Richardson-Lucy deconvolution and the best
Gaussian filter, for 2D images and 3D stacks alike.

Both are meant for benchmarks and tests on data with a known truth: they choose their one
parameter (iterations, sigma) by comparing with that truth, which real data never offers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from napari_deconoising.errors import ImageError, PSFError
from napari_deconoising.evaluation.metrics import psnr
from napari_deconoising.model.convolution import blur

#: Smallest value a blurred estimate is divided by (photons), so empty regions stay finite.
RL_FLOOR = 1e-6


class PSFBlur:
    """Blurring with one fixed PSF and its adjoint (the mirrored PSF), borders reflected,
    through the engine's convolution (:func:`~napari_deconoising.model.convolution.blur`)."""

    def __init__(self, shape: Sequence[int], psf: np.ndarray):
        kernel = np.asarray(psf, dtype=np.float64)
        if kernel.ndim != len(shape):
            raise PSFError(f"a {kernel.ndim}D PSF cannot blur a {len(shape)}D image")
        self.psf = kernel
        self.mirrored = np.ascontiguousarray(kernel[(slice(None, None, -1),) * kernel.ndim])

    def convolve(self, image: np.ndarray) -> np.ndarray:
        """``image`` convolved with the PSF (borders reflected), same shape."""
        return blur(image, self.psf)

    def correlate(self, image: np.ndarray) -> np.ndarray:
        """``image`` convolved with the mirrored PSF (the adjoint of :meth:`convolve`)."""
        return blur(image, self.mirrored)


@dataclass
class RichardsonLucyResult:
    """The best Richardson-Lucy estimate against the sharp truth, and the whole PSNR trace."""

    deconvolved: np.ndarray  # camera scale (offset added back), float32
    reblurred: np.ndarray  # the estimate blurred with the PSF again (a denoised image)
    iterations: int
    psnr_sharp: float
    psnr_trace: list[float] = field(
        default_factory=list
    )  # PSNR vs sharp after 1, 2, ... iterations


def richardson_lucy(
    image: np.ndarray,
    psf: np.ndarray,
    iterations: int,
    offset: float = 0.0,
    callback: Callable[[int, np.ndarray], None] | None = None,
) -> np.ndarray:
    """Richardson-Lucy deconvolution of ``image`` (2D or 3D, camera counts) by ``psf``.

    ``offset`` (the camera's) is removed first and added back to the result. Starts from the
    image's mean; ``callback(iteration, estimate)`` (photon scale) is called after each
    iteration. Borders are reflected.
    """
    data = _photons(image, psf, offset)
    convolver = PSFBlur(data.shape, psf)
    estimate = np.full(data.shape, max(float(data.mean()), RL_FLOOR))
    for iteration in range(1, iterations + 1):
        blurred = np.maximum(convolver.convolve(estimate), RL_FLOOR)
        estimate = estimate * np.clip(convolver.correlate(data / blurred), 0, None)
        if callback is not None:
            callback(iteration, estimate)
    return (estimate + offset).astype(np.float32)


def best_richardson_lucy(
    image: np.ndarray,
    psf: np.ndarray,
    sharp: np.ndarray,
    max_iterations: int = 100,
    offset: float = 0.0,
    patience: int = 10,
) -> RichardsonLucyResult:
    """Richardson-Lucy at the iteration count whose result is closest (PSNR) to ``sharp``.

    Stops ``patience`` iterations after the PSNR last improved, or at ``max_iterations``.
    """
    if max_iterations < 1:
        raise ValueError("max_iterations must be >= 1")
    data = _photons(image, psf, offset)
    convolver = PSFBlur(data.shape, psf)
    estimate = np.full(data.shape, max(float(data.mean()), RL_FLOOR))
    trace: list[float] = []
    best = (-np.inf, 0, estimate)
    for iteration in range(1, max_iterations + 1):
        blurred = np.maximum(convolver.convolve(estimate), RL_FLOOR)
        estimate = estimate * np.clip(convolver.correlate(data / blurred), 0, None)
        trace.append(psnr(sharp, estimate + offset))
        if trace[-1] > best[0]:
            best = (trace[-1], iteration, estimate)
        elif iteration - best[1] >= patience:
            break
    score, iterations, chosen = best
    return RichardsonLucyResult(
        deconvolved=(chosen + offset).astype(np.float32),
        reblurred=(convolver.convolve(chosen) + offset).astype(np.float32),
        iterations=iterations,
        psnr_sharp=float(score),
        psnr_trace=trace,
    )


@dataclass
class GaussianFilterResult:
    """The Gaussian filter closest (PSNR) to a truth: its sigmas (pixels per axis) and output."""

    filtered: np.ndarray
    sigma: tuple[float, ...]
    psnr: float


def best_gaussian_filter(
    image: np.ndarray,
    truth: np.ndarray,
    sigmas: Sequence[float] = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0),
    axial_sigmas: Sequence[float] | None = (0.0, 0.5, 0.75, 1.0, 1.5, 2.0),
) -> GaussianFilterResult:
    """The Gaussian filter of ``image`` closest to ``truth``, sweeping the lateral sigma and,
    for a 3D stack, the axial sigma (in planes) independently."""
    data = np.asarray(image, dtype=np.float64)
    if data.shape != np.shape(truth):
        raise ImageError(f"image {data.shape} and truth {np.shape(truth)} differ in shape")
    best = GaussianFilterResult(data.astype(np.float32), (0.0,) * data.ndim, psnr(truth, data))
    for sigma in _filter_sigmas(data.ndim, sigmas, axial_sigmas):
        filtered = ndimage.gaussian_filter(data, sigma, mode="reflect")
        score = psnr(truth, filtered)
        if score > best.psnr:
            best = GaussianFilterResult(filtered.astype(np.float32), sigma, score)
    return best


def _filter_sigmas(
    ndim: int, sigmas: Sequence[float], axial_sigmas: Sequence[float] | None
) -> list[tuple[float, ...]]:
    """Per-axis sigmas to try, each once: a lateral sigma on the last two axes and an axial one
    on the axes before them (Z of a stack; none in 2D), the lateral one when no axial sigmas are
    given."""
    axial_axes = max(ndim - 2, 0)
    candidates: dict[tuple[float, ...], None] = {}
    for lateral in sigmas:
        for along_z in axial_sigmas or [lateral]:
            candidates[(along_z,) * axial_axes + (lateral,) * (ndim - axial_axes)] = None
    return list(candidates)


def _photons(image: np.ndarray, psf: np.ndarray, offset: float) -> np.ndarray:
    data = np.asarray(image, dtype=np.float64)
    if data.ndim not in (2, 3):
        raise ImageError(f"Richardson-Lucy takes a 2D image or a 3D stack, got shape {data.shape}")
    if np.ndim(psf) != data.ndim:
        raise PSFError(f"a {np.ndim(psf)}D PSF cannot deconvolve a {data.ndim}D image")
    return np.clip(data - offset, 0, None)
