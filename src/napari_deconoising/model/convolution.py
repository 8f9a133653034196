"""PSF convolution: the one implementation used by the loss, prediction, compression and export.

A PSF (2D or 3D) enters torch as a flipped convolution weight (:func:`psf_tensor`), and
:func:`convolve` gives a same-size result with reflected borders, as the DecoNoising paper does.
Small kernels are convolved directly; large ones (a widefield 3D PSF spans tens of planes) through
the FFT, which :func:`convolve` picks by comparing the two costs. Both paths pad alike, so they
agree to float rounding.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

Method = Literal["auto", "direct", "fft"]

#: Direct multiply-adds worth one FFT "unit" (n log2 n per padded element), by dimensionality,
#: measured on CPU (training's forward and backward): torch's direct 2D convolution is fast, so
#: the usual 2D PSFs (up to about 15 px) stay direct; its 3D one with a single channel is slow.
FFT_COST_FACTOR = {2: 15.0, 3: 2.0}


def psf_tensor(psf: np.ndarray | None, device: torch.device | str = "cpu") -> torch.Tensor | None:
    """PSF as a (1, 1, k, k) or (1, 1, kz, ky, kx) convolution weight (flipped, so that torch's
    correlation convolves), or None."""
    if psf is None:
        return None
    array = np.asarray(psf, dtype=np.float32)
    kernel = np.ascontiguousarray(np.flip(array, axis=tuple(range(array.ndim))))
    return torch.from_numpy(kernel)[None, None].to(device)


def convolve(
    image: torch.Tensor, kernel: torch.Tensor | None, method: Method = "auto"
) -> torch.Tensor:
    """Same-size convolution of (B, 1, H, W) or (B, 1, D, H, W) with a PSF weight of the same
    dimensionality, reflecting at the borders.

    Reflection needs the image larger than the kernel's radius along every axis; otherwise the
    edge is replicated. ``method`` forces the direct or the FFT path; ``auto`` takes the cheaper
    one (see :func:`fft_is_cheaper`).
    """
    if kernel is None or kernel.numel() == 1:
        return image if kernel is None else image * kernel.reshape(())
    pads = [k // 2 for k in kernel.shape[2:]]
    fits = all(p < n for p, n in zip(pads, image.shape[2:], strict=True))
    return _padded_convolution(image, kernel, "reflect" if fits else "replicate", method)


def psf_coverage(shape: tuple[int, ...], kernel: torch.Tensor) -> torch.Tensor:
    """For each pixel of a patch of ``shape``, the fraction of the PSF's weight that falls on
    the patch's own pixels (1 in the interior, lower within the PSF's reach of a border, where
    :func:`convolve` fills in reflected pixels); shape ``(1, 1, *shape)``."""
    inside = _padded_convolution(kernel.new_ones((1, 1, *shape)), kernel, "constant")
    return inside / kernel.sum()


def _padded_convolution(
    image: torch.Tensor, kernel: torch.Tensor, padding: str, method: Method = "auto"
) -> torch.Tensor:
    """``image`` padded by the kernel's radius (``padding``: an ``F.pad`` mode), convolved
    back to its own size, directly or through the FFT (see :func:`convolve`)."""
    pads = [k // 2 for k in kernel.shape[2:]]
    padded = F.pad(image, [p for pad in reversed(pads) for p in (pad, pad)], mode=padding)
    kernel = kernel.to(image.dtype)
    if method == "fft" or (method == "auto" and fft_is_cheaper(image.shape[2:], kernel.shape[2:])):
        return _fft_valid(padded, kernel)
    return (F.conv2d if kernel.ndim == 4 else F.conv3d)(padded, kernel)


def blur(image: np.ndarray, psf: np.ndarray) -> np.ndarray:
    """:func:`convolve` for numpy arrays (2D or 3D, computed in float64): ``image`` convolved
    with ``psf``, same shape, borders reflected (for sample data and classical baselines)."""
    tensor = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float64))[None, None]
    return convolve(tensor, psf_tensor(psf).double())[0, 0].numpy()


def fft_is_cheaper(image_shape: tuple[int, ...], kernel_shape: tuple[int, ...]) -> bool:
    """Whether FFT convolution of an image of ``image_shape`` with a kernel of ``kernel_shape``
    costs less than direct convolution (multiply-adds vs. ``FFT_COST_FACTOR * n log2 n``)."""
    direct = math.prod(image_shape) * math.prod(kernel_shape)
    padded = math.prod(n + k - 1 for n, k in zip(image_shape, kernel_shape, strict=True))
    factor = FFT_COST_FACTOR[3 if len(image_shape) >= 3 else 2]
    return factor * padded * math.log2(max(padded, 2)) < direct


def fft_size(n: int) -> int:
    """The smallest size >= n made of the factors 2, 3 and 5 (fast for every FFT library)."""
    size = n
    while True:
        rest = size
        for factor in (2, 3, 5):
            while rest % factor == 0:
                rest //= factor
        if rest == 1:
            return size
        size += 1


def _fft_valid(padded: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """The 'valid' part of ``padded`` correlated with ``kernel``, through the FFT.

    Correlating with the flipped weight is convolving with the PSF itself; with transforms at
    least as long as ``padded``, the outputs from index ``k - 1`` on never wrap around.
    """
    dims = kernel.ndim - 2
    axes = tuple(range(-dims, 0))
    sizes = padded.shape[2:]
    lengths = [fft_size(n) for n in sizes]
    psf = kernel.flip(axes)
    product = torch.fft.rfftn(padded, lengths, dim=axes) * torch.fft.rfftn(psf, lengths, dim=axes)
    full = torch.fft.irfftn(product, lengths, dim=axes)
    window = tuple(slice(k - 1, n) for k, n in zip(kernel.shape[2:], sizes, strict=True))
    return full[(..., *window)]
