"""The DecoNoising loss: PSF convolution, masked error, positivity and total variation.

All tensors are in normalised units: the network sees ``(x - mean) / std`` and its output times
``output_scale`` is the deconvolved image in the same units.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from napari_deconoising.model.convolution import convolve


def total_variation(image: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Per-pixel central-difference gradient magnitude of (B, 1, H, W) or (B, 1, D, H, W), on
    the interior."""
    dims = image.ndim - 2
    interior = [slice(1, -1)] * dims
    squares = None
    for axis in range(dims):
        ahead, behind = list(interior), list(interior)
        ahead[axis], behind[axis] = slice(2, None), slice(None, -2)
        difference = (image[(..., *ahead)] - image[(..., *behind)]) / 2
        squares = difference**2 if squares is None else squares + difference**2
    return torch.sqrt(squares + eps)


@dataclass
class LossTerms:
    """The loss and its parts (tensors; ``total`` carries the gradient)."""

    total: torch.Tensor
    masked_error: torch.Tensor
    positivity: torch.Tensor
    tv: torch.Tensor


def deconoising_loss(
    deconvolved: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    kernel: torch.Tensor | None,
    zero_level: float,
    positivity_weight: float = 1.0,
    tv_weight: float = 0.0,
    weights: torch.Tensor | None = None,
) -> LossTerms:
    """DecoNoising loss in normalised units.

    ``deconvolved`` is the network output (scaled), ``target`` the un-manipulated patch, ``mask``
    1 at blind-spot pixels, ``zero_level`` the normalised value of zero photons (the camera
    offset), below which the positivity term penalises the deconvolved image. ``weights``
    (broadcast over the batch) narrows the blind spots that count, e.g. to where the PSF lies
    inside the patch (see :func:`~.convolution.psf_coverage`).
    """
    denoised = convolve(deconvolved, kernel)
    if weights is not None:
        mask = mask * weights
    masked_error = ((target - denoised) ** 2 * mask).sum() / mask.sum().clamp_min(1)
    zero = deconvolved.new_zeros(())
    positivity = F.relu(zero_level - deconvolved).mean() if positivity_weight > 0 else zero
    tv = total_variation(deconvolved).mean() if tv_weight > 0 else zero
    total = masked_error + positivity_weight * positivity + tv_weight * tv
    return LossTerms(total, masked_error.detach(), positivity.detach(), tv.detach())
