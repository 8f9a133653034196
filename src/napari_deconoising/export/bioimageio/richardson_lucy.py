"""The second stage of a two-stage model inside the TorchScript weights: Richardson-Lucy with a
fixed number of iterations, as a scripted module whose sizes follow the input.

It is the algorithm of :class:`~napari_deconoising.model.deconvolution.RichardsonLucy` (the
estimate on a domain larger than the image by the PSF's reach, a data term on the measured
pixels only, a flat background, Biggs & Andrews' acceleration) with the background taken as the
Predictor takes it (a low percentile of the denoised image), but the iterations are fixed: a
package cannot carry the engine's stopping rule faithfully. :func:`calibrated_iterations`
chooses their number: where the engine's rule stops on the test input. The module is compiled
with ``torch.jit.script``, so tracing the whole network keeps its loop and its FFT sizes dynamic
(``torch.fft`` does not export to ONNX: a two-stage package has TorchScript weights only).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from napari_deconoising.config.prediction import PredictionConfig
from napari_deconoising.export.onnx import DeconoisingGraph, cpu_copy
from napari_deconoising.model.bundle import DecoNoisingModel
from napari_deconoising.model.deconvolution import (
    BACKGROUND_PERCENTILE,
    MIN_WEIGHT,
    RichardsonLucy,
    flat_background,
)


class FixedRichardsonLucy(nn.Module):
    """``(B, 1, *spatial)`` denoised images in, their Richardson-Lucy deconvolution with ``psf``
    after ``iterations`` iterations out (same shape and units); any spatial size."""

    def __init__(self, psf: np.ndarray, iterations: int, percentile: float = BACKGROUND_PERCENTILE):
        super().__init__()
        kernel = np.asarray(psf, dtype=np.float64)
        # float64, as the engine's: its transform is computed in float64, then used in float32
        self.register_buffer("kernel", torch.from_numpy(kernel / kernel.sum()))
        self.iterations = int(iterations)
        self.quantile = float(percentile) / 100.0
        self.sizes = [int(k) for k in kernel.shape]
        self.centre = [k // 2 for k in self.sizes]
        # the estimate reaches (k - 1 - c) voxels before the image and c after it
        self.before = [k - 1 - c for k, c in zip(self.sizes, self.centre, strict=True)]
        self.dims = list(range(-kernel.ndim, 0))
        self.min_weight = MIN_WEIGHT

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        results = [self.deconvolve(images[index, 0]) for index in range(images.shape[0])]
        return torch.stack(results)[:, None]

    def deconvolve(self, image: torch.Tensor) -> torch.Tensor:
        """One image (spatial axes only), deconvolved."""
        shape = [int(n) for n in image.shape]
        lengths = [shape[d] + self.sizes[d] - 1 for d in range(len(shape))]
        pad: list[int] = []
        for d in range(len(shape) - 1, -1, -1):
            pad += [self.before[d], lengths[d] - self.before[d] - shape[d]]
        otf = self.transfer_function(lengths)
        background = self.background(image)
        data = F.pad((image - background).clamp(min=0.0), pad)
        weight = self.correlate(F.pad(torch.ones_like(image), pad), otf, lengths)
        inside = weight > self.min_weight * weight.max()
        weight = torch.where(inside, weight, torch.ones_like(weight))
        start = self.crop(data, shape).mean().clamp(min=1e-6)
        estimate = torch.where(inside, start.expand_as(data), torch.zeros_like(data))
        previous, predicted, last_step = estimate, estimate, torch.zeros_like(data)
        for _ in range(self.iterations):
            blurred = self.convolve(predicted, otf, lengths).clamp(min=1e-6)
            # data is 0 outside the measured pixels: the ratio counts measured pixels only
            corrected = predicted * self.correlate(data / blurred, otf, lengths) / weight
            updated = torch.where(inside, corrected, torch.zeros_like(corrected))
            step = updated - predicted
            alpha = _extrapolation(step, last_step)
            predicted = (updated + alpha * (updated - previous)).clamp(min=0.0)
            previous, last_step = updated, step
        return self.crop(previous, shape) + background

    def transfer_function(self, lengths: list[int]) -> torch.Tensor:
        """The PSF's transform on the padded grid, its centre moved to the origin."""
        pad: list[int] = []
        for d in range(len(lengths) - 1, -1, -1):
            pad += [0, lengths[d] - self.sizes[d]]
        padded = torch.roll(
            F.pad(self.kernel, pad), [-c for c in self.centre], list(range(len(lengths)))
        )
        return torch.fft.rfftn(padded.double(), dim=self.dims).to(torch.complex64)

    def background(self, image: torch.Tensor) -> torch.Tensor:
        """The image's ``percentile`` (linear interpolation, as numpy's; ``kthvalue`` works on
        any size, ``torch.quantile`` does not)."""
        flat = image.flatten()
        position = self.quantile * (flat.numel() - 1)
        low = int(position)  # floor: position >= 0
        high = min(low + 1, flat.numel() - 1)
        below = torch.kthvalue(flat, low + 1)[0]
        above = torch.kthvalue(flat, high + 1)[0]
        return below + (position - low) * (above - below)

    def convolve(self, values: torch.Tensor, otf: torch.Tensor, lengths: list[int]) -> torch.Tensor:
        """``values`` (padded grid) blurred by the PSF."""
        return torch.fft.irfftn(torch.fft.rfftn(values, dim=self.dims) * otf, lengths, self.dims)

    def correlate(
        self, values: torch.Tensor, otf: torch.Tensor, lengths: list[int]
    ) -> torch.Tensor:
        """The adjoint of :meth:`convolve`."""
        transform = torch.fft.rfftn(values, dim=self.dims) * otf.conj()
        return torch.fft.irfftn(transform, lengths, self.dims)

    def crop(self, values: torch.Tensor, shape: list[int]) -> torch.Tensor:
        """The measured pixels of ``values`` (padded grid)."""
        for d in range(len(shape)):
            values = values.narrow(d, self.before[d], shape[d])
        return values


def _extrapolation(step: torch.Tensor, last_step: torch.Tensor) -> float:
    """Biggs & Andrews' acceleration factor from the last two update steps, in [0, 0.99]
    (0 on the first iteration, where ``last_step`` is zero)."""
    denominator = float((last_step * last_step).sum())
    if not math.isfinite(denominator) or denominator <= 0.0:
        return 0.0
    return min(max(float((step * last_step).sum()) / denominator, 0.0), 0.99)


def scripted(psf: np.ndarray, iterations: int) -> torch.jit.ScriptModule:
    """:class:`FixedRichardsonLucy` compiled with ``torch.jit.script``."""
    return torch.jit.script(FixedRichardsonLucy(psf, iterations))


def calibrated_iterations(models: Sequence[DecoNoisingModel], raw: np.ndarray) -> int:
    """How many Richardson-Lucy iterations the engine's stopping rule takes (the Predictor's
    defaults: at most ``rl_iterations``, stopping once a change is below ``rl_tolerance``) on
    the denoised test input ``raw`` ``(B, C, *spatial)``, the most over its images and the
    two-stage channels; the Predictor's limit when no channel is two-stage."""
    config = PredictionConfig()
    taken = [1]
    for index, model in enumerate(models):
        if not model.two_stage:
            continue
        graph = DeconoisingGraph(cpu_copy(model)).eval()
        with torch.inference_mode():
            (denoised,) = graph(torch.from_numpy(raw[:, index : index + 1]))
        for image in denoised[:, 0].numpy():
            deconvolver = RichardsonLucy(model.psf, image.shape)
            background = flat_background(image)
            result = deconvolver.run(image, background, config.rl_iterations, config.rl_tolerance)
            taken.append(result.iterations)
    return max(taken) if len(taken) > 1 else config.rl_iterations
