"""Richardson-Lucy deconvolution on the engine's device: the second stage of two-stage models
(the network denoises, this deconvolves the denoised image) and the classical baseline.

- **Edges**: the estimate lives on a domain larger than the image by the PSF's reach on every
  side, and only measured pixels count in the data term (Bertero & Boccacci, 2005). Nothing is
  reflected or wrapped around, which matters most in Z, where a stack is often only a few PSF
  depths deep.
- **Background**: a constant ``background`` is part of the image model (``y = H x + b``), so
  the camera offset and a dim background need not be subtracted and clipped first.
- **Acceleration**: Biggs & Andrews (1997) vector extrapolation, which reaches a given
  iteration's result in about a third of the plain iterations.
- **Stopping**: after ``max_iterations``, or earlier when an update changes the estimate by less
  than ``tolerance`` (relative, mean absolute change): a rule that needs no ground truth.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from napari_deconoising.model.convolution import fft_size

#: The flat background (camera offset, dim background the PSF does not spread) of an image to be
#: deconvolved is this percentile of it (see :func:`flat_background`).
BACKGROUND_PERCENTILE = 1.0

#: Where the data term's weight (the adjoint of the measured-pixel mask) falls below this share
#: of its largest value, the estimate is set to 0: such voxels lie outside what the image sees.
MIN_WEIGHT = 1e-3


def flat_background(image: np.ndarray) -> float:
    """The constant background of ``image`` for :meth:`RichardsonLucy.run`: its
    :data:`BACKGROUND_PERCENTILE` percentile."""
    return float(np.percentile(image, BACKGROUND_PERCENTILE))


@dataclass(frozen=True)
class Deconvolution:
    """A Richardson-Lucy result on the image's grid, and how the iterations ended."""

    estimate: torch.Tensor  # same shape as the image, background added back
    iterations: int
    converged: bool  # True when the tolerance stopped it, False at max_iterations


class RichardsonLucy:
    """Accelerated Richardson-Lucy for images of one ``shape`` (2D or 3D) and one ``psf``.

    The PSF's transform and the data weights are computed once; :meth:`run` deconvolves any
    image of that shape.
    """

    def __init__(
        self, psf: np.ndarray, shape: Sequence[int], device: torch.device | str = "cpu"
    ) -> None:
        kernel = np.asarray(psf, dtype=np.float64)
        if kernel.ndim != len(shape):
            raise ValueError(f"a {kernel.ndim}D PSF cannot deconvolve a {len(shape)}D image")
        self.shape = tuple(int(n) for n in shape)
        self.device = torch.device(device)
        self.dims = tuple(range(-kernel.ndim, 0))
        centre = [k // 2 for k in kernel.shape]
        # The estimate reaches (k - 1 - c) voxels before the image and c after it.
        self.before = [k - 1 - c for k, c in zip(kernel.shape, centre, strict=True)]
        self.lengths = [fft_size(n + k - 1) for n, k in zip(self.shape, kernel.shape, strict=True)]
        self.otf = self._transfer_function(kernel / kernel.sum(), centre)
        self.measured = tuple(slice(b, b + n) for b, n in zip(self.before, self.shape, strict=True))
        mask = torch.zeros(self.lengths, device=self.device)
        mask[self.measured] = 1.0
        weight = self.correlate(mask)
        self.inside = weight > MIN_WEIGHT * float(weight.max())
        self.weight = torch.where(self.inside, weight, torch.ones_like(weight))

    def _transfer_function(self, kernel: np.ndarray, centre: Sequence[int]) -> torch.Tensor:
        """The PSF's transform on the padded grid, its centre moved to the origin."""
        padded = np.zeros(self.lengths)
        padded[tuple(slice(0, k) for k in kernel.shape)] = kernel
        padded = np.roll(padded, [-c for c in centre], axis=tuple(range(kernel.ndim)))
        transform = torch.fft.rfftn(torch.from_numpy(padded), dim=self.dims)
        return transform.to(torch.complex64).to(self.device)

    def convolve(self, estimate: torch.Tensor) -> torch.Tensor:
        """``estimate`` (padded grid) blurred by the PSF."""
        transform = torch.fft.rfftn(estimate, dim=self.dims) * self.otf
        return torch.fft.irfftn(transform, self.lengths, dim=self.dims)

    def correlate(self, values: torch.Tensor) -> torch.Tensor:
        """The adjoint of :meth:`convolve` (correlation with the PSF)."""
        transform = torch.fft.rfftn(values, dim=self.dims) * self.otf.conj()
        return torch.fft.irfftn(transform, self.lengths, dim=self.dims)

    def run(
        self,
        image: torch.Tensor | np.ndarray,
        background: float,
        max_iterations: int,
        tolerance: float = 0.0,
        callback: Callable[[int, torch.Tensor], None] | None = None,
    ) -> Deconvolution:
        """Deconvolve ``image`` (camera scale, shaped like ``shape``) whose flat background is
        ``background``; ``callback(iteration, estimate)`` sees each estimate (image grid,
        background added back)."""
        data = torch.zeros(self.lengths, device=self.device)
        data[self.measured] = torch.as_tensor(image, dtype=torch.float32, device=self.device)
        data[self.measured] = (data[self.measured] - background).clamp(min=0)
        start = float(data[self.measured].mean().clamp(min=1e-6))
        estimate = torch.where(self.inside, start, 0.0)
        previous, last_step = estimate, None
        predicted = estimate
        iteration, converged = 0, False
        for iteration in range(1, max_iterations + 1):
            updated = self._step(predicted, data)
            step = updated - predicted
            alpha = _extrapolation(step, last_step)
            change = float((updated - previous).abs().mean() / updated.abs().mean().clamp(1e-12))
            predicted = (updated + alpha * (updated - previous)).clamp(min=0)
            previous, last_step = updated, step
            if callback is not None:
                callback(iteration, self._on_image(updated, background))
            if change < tolerance:
                converged = True
                break
        return Deconvolution(self._on_image(previous, background), iteration, converged)

    def _step(self, estimate: torch.Tensor, data: torch.Tensor) -> torch.Tensor:
        """One multiplicative Richardson-Lucy update on the measured pixels."""
        blurred = self.convolve(estimate).clamp(min=1e-6)
        ratio = torch.zeros_like(data)
        ratio[self.measured] = data[self.measured] / blurred[self.measured]
        return torch.where(self.inside, estimate * self.correlate(ratio) / self.weight, 0.0)

    def _on_image(self, estimate: torch.Tensor, background: float) -> torch.Tensor:
        return estimate[self.measured] + background


def _extrapolation(step: torch.Tensor, last_step: torch.Tensor | None) -> float:
    """Biggs & Andrews' acceleration factor from the last two update steps, in [0, 1)."""
    if last_step is None:
        return 0.0
    denominator = float((last_step * last_step).sum())
    if not math.isfinite(denominator) or denominator <= 0:
        return 0.0
    return min(max(float((step * last_step).sum()) / denominator, 0.0), 0.99)
