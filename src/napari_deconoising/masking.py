"""Blind-spot (Noise2Void) pixel manipulation, vectorised on the training device, in 2D and 3D.

Positions are stratified: the patch is cut into boxes (``box`` pixels along each axis) and one
random pixel per box is masked. Each masked pixel takes the value of a random *other* pixel of
its window: ``neighbourhood`` pixels along Y and X and, in 3D, :func:`z_extent` planes along Z. An
offset that would leave the patch is mirrored (``-dz`` instead of ``dz``), which keeps the source
inside and never on the pixel itself.
"""

from __future__ import annotations

import math

import torch

#: Planes of a 3D replacement window at most (Z is usually the coarsest, most blurred axis).
MAX_Z_EXTENT = 3


def box_size(mask_fraction: float, dims: int = 2) -> int:
    """Side of the stratification box giving about ``mask_fraction`` masked pixels."""
    return max(1, round(mask_fraction ** (-1 / dims)))


def z_extent(neighbourhood: int, planes: int) -> int:
    """Planes of the 3D replacement window: odd, at most :data:`MAX_Z_EXTENT`, the
    ``neighbourhood`` and what the patch holds."""
    extent = min(MAX_Z_EXTENT, neighbourhood, planes)
    return extent if extent % 2 else extent - 1


def _neighbour(index: torch.Tensor, offset: torch.Tensor, size: int) -> torch.Tensor:
    """``index + offset``, or ``index - offset`` where that leaves the patch (never ``index``)."""
    moved = index + offset
    return torch.where((moved < 0) | (moved >= size), index - offset, moved)


def _positions_in_boxes(
    size: int, box: int, shape: tuple[int, ...], axis: int, generator: torch.Generator | None
) -> torch.Tensor:
    """One random index per box along spatial ``axis`` (1 the first); edge boxes may be
    shorter."""
    starts = torch.arange(0, size, box)
    extent = (size - starts).clamp(max=box)
    view = [1] * len(shape)
    view[axis] = -1
    uniform = torch.rand(shape, generator=generator)
    return starts.view(view) + (uniform * extent.view(view)).long()


def blind_spot_mask(
    patches: torch.Tensor,
    mask_fraction: float = 1 / 32,
    neighbourhood: int = 5,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(manipulated, mask)`` for a batch of patches (B, 1, H, W) or (B, 1, D, H, W).

    ``mask`` is a float tensor of the same shape with 1 at manipulated pixels. Random numbers
    come from ``generator`` (a CPU generator, for reproducible runs) and the index arithmetic
    runs on the patches' device.
    """
    batch, sizes = patches.shape[0], tuple(patches.shape[2:])
    dims = len(sizes)
    if min(sizes[-2:]) < neighbourhood:
        raise ValueError(f"blind-spot masking needs patches of at least {neighbourhood} pixels")
    extents = (z_extent(neighbourhood, sizes[0]),) * (dims - 2) + (neighbourhood,) * 2
    box = box_size(mask_fraction, dims)
    shape = (batch, *(math.ceil(n / box) for n in sizes))
    positions = [
        _positions_in_boxes(n, box, shape, axis + 1, generator) for axis, n in enumerate(sizes)
    ]

    window = math.prod(extents)
    # Draw among the window's other pixels: indices at or past the centre move up by one.
    offset = torch.randint(0, window - 1, shape, generator=generator)
    offset = offset + (offset >= window // 2).long()
    target = torch.zeros(shape, dtype=torch.long)
    source = torch.zeros(shape, dtype=torch.long)
    stride = math.prod(sizes)
    window_stride = window
    for position, size, extent in zip(positions, sizes, extents, strict=True):
        stride //= size
        window_stride //= extent
        step = (offset // window_stride) % extent - extent // 2
        target += position * stride
        source += _neighbour(position, step, size) * stride

    device = patches.device
    target = target.reshape(batch, -1).to(device)
    source = source.reshape(batch, -1).to(device)
    flat = patches.reshape(batch, -1)
    manipulated = flat.scatter(1, target, flat.gather(1, source))
    mask = torch.zeros_like(flat).scatter_(1, target, 1.0)
    return manipulated.view_as(patches), mask.view_as(patches)
