"""Blind-spot (Noise2Void) pixel manipulation, vectorised on the training device.

Positions are stratified: the patch is cut into boxes of ``box`` x ``box`` pixels and one random
pixel per box is masked. Each masked pixel takes the value of a random *other* pixel of its
``neighbourhood`` x ``neighbourhood`` window; an offset that would leave the patch is mirrored
(``-dy`` instead of ``dy``), which keeps the source inside and never on the pixel itself.
"""

from __future__ import annotations

import math

import torch


def box_size(mask_fraction: float) -> int:
    """Side of the stratification box giving about ``mask_fraction`` masked pixels."""
    return max(1, round(1 / math.sqrt(mask_fraction)))


def _neighbour(index: torch.Tensor, offset: torch.Tensor, size: int) -> torch.Tensor:
    """``index + offset``, or ``index - offset`` where that leaves the patch (never ``index``)."""
    moved = index + offset
    return torch.where((moved < 0) | (moved >= size), index - offset, moved)


def _positions_in_boxes(
    size: int, box: int, shape: tuple[int, int, int], axis: int, generator: torch.Generator | None
) -> torch.Tensor:
    """One random index per box along ``axis`` (1 rows, 2 columns); edge boxes may be shorter."""
    starts = torch.arange(0, size, box)
    extent = (size - starts).clamp(max=box)
    view = (1, -1, 1) if axis == 1 else (1, 1, -1)
    uniform = torch.rand(shape, generator=generator)
    return starts.view(view) + (uniform * extent.view(view)).long()


def blind_spot_mask(
    patches: torch.Tensor,
    mask_fraction: float = 1 / 32,
    neighbourhood: int = 5,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(manipulated, mask)`` for a batch of patches of shape (B, 1, H, W).

    ``mask`` is a float tensor of the same shape with 1 at manipulated pixels. Random numbers
    come from ``generator`` (a CPU generator, for reproducible runs) and the index arithmetic
    runs on the patches' device.
    """
    batch, _, height, width = patches.shape
    if min(height, width) < neighbourhood:
        raise ValueError(f"blind-spot masking needs patches of at least {neighbourhood} pixels")
    box = box_size(mask_fraction)
    shape = (batch, math.ceil(height / box), math.ceil(width / box))
    rows = _positions_in_boxes(height, box, shape, 1, generator)
    cols = _positions_in_boxes(width, box, shape, 2, generator)

    window = neighbourhood * neighbourhood
    # Draw among the window's other pixels: indices at or past the centre move up by one.
    offset = torch.randint(0, window - 1, shape, generator=generator)
    offset = offset + (offset >= window // 2).long()
    radius = neighbourhood // 2
    source_rows = _neighbour(rows, offset // neighbourhood - radius, height)
    source_cols = _neighbour(cols, offset % neighbourhood - radius, width)

    device = patches.device
    target = (rows * width + cols).reshape(batch, -1).to(device)
    source = (source_rows * width + source_cols).reshape(batch, -1).to(device)
    flat = patches.reshape(batch, -1)
    manipulated = flat.scatter(1, target, flat.gather(1, source))
    mask = torch.zeros_like(flat).scatter_(1, target, 1.0)
    return manipulated.view_as(patches), mask.view_as(patches)
