"""PSF convolution: the one implementation used by the loss, prediction, compression and export.

A PSF enters torch as a flipped convolution weight (:func:`psf_tensor`), and :func:`convolve`
gives a same-size result with reflected borders, as the DecoNoising paper does.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def psf_tensor(psf: np.ndarray | None, device: torch.device | str = "cpu") -> torch.Tensor | None:
    """PSF as a (1, 1, k, k) convolution weight (flipped, so conv2d convolves), or None."""
    if psf is None:
        return None
    kernel = np.ascontiguousarray(np.asarray(psf, dtype=np.float32)[::-1, ::-1])
    return torch.from_numpy(kernel)[None, None].to(device)


def convolve(image: torch.Tensor, kernel: torch.Tensor | None) -> torch.Tensor:
    """Same-size convolution of (B, 1, H, W) with a PSF weight, reflecting at the borders.

    Reflection needs the image larger than the kernel's radius; smaller images fall back to
    replicating the edge.
    """
    if kernel is None or kernel.shape[-1] == 1:
        return image if kernel is None else image * kernel.reshape(())
    pad_y, pad_x = kernel.shape[-2] // 2, kernel.shape[-1] // 2
    fits = pad_y < image.shape[-2] and pad_x < image.shape[-1]
    padded = F.pad(image, (pad_x, pad_x, pad_y, pad_y), mode="reflect" if fits else "replicate")
    return F.conv2d(padded, kernel.to(image.dtype))
