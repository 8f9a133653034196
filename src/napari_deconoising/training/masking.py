"""Blind-spot (Noise2Void) pixel manipulation, vectorised on the training device, in 2D and 3D.

Positions are stratified: the patch is cut into boxes (``box`` pixels along each axis) and one
random pixel per box is masked. Each masked pixel's window is ``neighbourhood`` pixels along Y and
X and, in 3D, :func:`z_extent` planes along Z; the pixel takes (``replacement``):

- ``"random"``: the value of a random *other* pixel of its window (Noise2Void);
- ``"median"`` / ``"mean"``: the median / mean of all the *other* pixels of its window (N2V2's
  median replacement; the median of an even count is the mean of its two middle values).

A structured blind spot (``span``, structN2V-style, for noise correlated along an axis) also
replaces the masked pixel's neighbours along each spanned axis, up to ``span`` pixels either side,
each by a random pixel of the window off that line; the masked pixel's own replacement also comes
from off the line. A box blind spot (``box``, for noise correlated along every direction, as
resampling leaves it) replaces the whole square of ``span`` around the pixel instead, from
outside the square (the window is widened to reach past it). Only the masked pixels count in the
loss (``mask``): their neighbours are replaced so that the network cannot read the noise they
share with the pixel.

An offset that would leave the patch is mirrored (``-dz`` instead of ``dz``), which keeps the
source inside and never on the pixel itself (a window cut by the edge counts the mirrored pixels
twice, as a reflected image would).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch

#: Planes of a 3D replacement window at most (Z is usually the coarsest, most blurred axis).
MAX_Z_EXTENT = 3
#: How a blind-spot pixel gets its value (see the module docstring).
REPLACEMENTS = ("random", "median", "mean")


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
    replacement: str = "random",
    span: Sequence[int] | None = None,
    box: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(manipulated, mask)`` for a batch of patches (B, 1, H, W) or (B, 1, D, H, W).

    ``mask`` is a float tensor of the same shape with 1 at the masked pixels (the ones the loss
    counts). ``replacement`` (one of :data:`REPLACEMENTS`) says what a masked pixel gets.
    ``span``, one half-width per spatial axis (e.g. ``(0, 2)``: 2 pixels either side along X),
    makes the blind spot structured (see the module docstring); None or all zeros: one pixel.
    ``box`` masks the whole box of ``span`` around the pixel instead of lines through it.
    Random numbers come from ``generator`` (a CPU generator, for reproducible runs) and the
    index arithmetic runs on the patches' device. ``"random"`` without ``span`` draws exactly
    what it drew before the other modes and spans existed.
    """
    batch, sizes = patches.shape[0], tuple(patches.shape[2:])
    dims = len(sizes)
    if replacement not in REPLACEMENTS:
        raise ValueError(f"replacement must be one of {', '.join(REPLACEMENTS)}, got {replacement}")
    if min(sizes[-2:]) < neighbourhood:
        raise ValueError(f"blind-spot masking needs patches of at least {neighbourhood} pixels")
    extents = (z_extent(neighbourhood, sizes[0]),) * (dims - 2) + (neighbourhood,) * 2
    cell = box_size(mask_fraction, dims)
    shape = (batch, *(math.ceil(n / cell) for n in sizes))
    positions = [
        _positions_in_boxes(n, cell, shape, axis + 1, generator) for axis, n in enumerate(sizes)
    ]

    if span is not None and any(span):
        checked = _checked_span(span, sizes)
        if box:  # the window reaches at least one pixel past the box on every side
            extents = tuple(
                max(e, 2 * s + 3) if s else e for e, s in zip(extents, checked, strict=True)
            )
        return _structured_mask(
            patches, positions, extents, shape, (checked, box), generator, replacement
        )
    window = math.prod(extents)
    if replacement == "random":
        # Draw among the window's other pixels: indices at or past the centre move up by one.
        offset = torch.randint(0, window - 1, shape, generator=generator)
        offset = (offset + (offset >= window // 2).long()).unsqueeze(-1)
    else:  # every other pixel of the window
        others = torch.cat([torch.arange(window // 2), torch.arange(window // 2 + 1, window)])
        offset = others.expand(*shape, window - 1)
    target, source = _flat_indices(positions, sizes, extents, offset)

    device = patches.device
    target = target.reshape(batch, -1).to(device)
    flat = patches.reshape(batch, -1)
    values = flat.gather(1, source.reshape(batch, -1).to(device))
    values = values.view(batch, target.shape[1], -1)
    manipulated = flat.scatter(1, target, _replacement_values(values, replacement))
    mask = torch.zeros_like(flat).scatter_(1, target, 1.0)
    return manipulated.view_as(patches), mask.view_as(patches)


def _flat_indices(
    positions: list[torch.Tensor],
    sizes: tuple[int, ...],
    extents: tuple[int, ...],
    offset: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat indices of the masked pixels (``shape``) and of their sources (``(*shape, k)``) for
    ``k`` window ``offset`` indices per masked pixel (row-major in the window)."""
    target = torch.zeros(positions[0].shape, dtype=torch.long)
    source = torch.zeros(offset.shape, dtype=torch.long)
    stride = math.prod(sizes)
    window_stride = math.prod(extents)
    for position, size, extent in zip(positions, sizes, extents, strict=True):
        stride //= size
        window_stride //= extent
        step = (offset // window_stride) % extent - extent // 2
        target += position * stride
        source += _neighbour(position.unsqueeze(-1), step, size) * stride
    return target, source


def _replacement_values(values: torch.Tensor, replacement: str) -> torch.Tensor:
    """One value per masked pixel from its source values ``(B, masked, k)``."""
    if replacement == "mean":
        return values.mean(-1)
    if replacement == "median":
        ordered = values.sort(-1).values
        count = ordered.shape[-1]
        return 0.5 * (ordered[..., (count - 1) // 2] + ordered[..., count // 2])
    return values[..., 0]


def _checked_span(span: Sequence[int], sizes: tuple[int, ...]) -> tuple[int, ...]:
    """``span`` as a tuple, after checking it has one half-width >= 0 per spatial axis, each
    less than half the patch along its axis."""
    span = tuple(int(s) for s in span)
    if len(span) != len(sizes) or any(s < 0 for s in span):
        raise ValueError(f"span needs one half-width >= 0 per spatial axis, got {span}")
    if any(2 * s >= n for s, n in zip(span, sizes, strict=True)):
        raise ValueError(f"a blind-spot span of {span} does not fit patches of {sizes}")
    return span


def _is_masked(offsets: Sequence[int], span: tuple[int, ...], box: bool) -> bool:
    """Whether the pixel at ``offsets`` (one per spatial axis) from a masked pixel is masked
    too: the pixel itself; along one spanned axis within its ``span`` (lines); or, for a
    ``box``, within ``span`` along every axis at once."""
    if box:
        return all(abs(offset) <= half for offset, half in zip(offsets, span, strict=True))
    moved = [axis for axis, offset in enumerate(offsets) if offset]
    return not moved or (len(moved) == 1 and abs(offsets[moved[0]]) <= span[moved[0]])


def off_line_offsets(
    extents: tuple[int, ...], span: tuple[int, ...], box: bool = False
) -> torch.Tensor:
    """The row-major window indices outside the structured blind spot (see
    :func:`_is_masked`): where the masked pixel and its masked neighbours take values from."""
    windows = itertools.product(*(range(n) for n in extents))
    centred = ([c - n // 2 for c, n in zip(w, extents, strict=True)] for w in windows)
    allowed = [index for index, offsets in enumerate(centred) if not _is_masked(offsets, span, box)]
    return torch.tensor(allowed)


def masked_offsets(span: tuple[int, ...], box: bool = False) -> list[tuple[int, ...]]:
    """The offsets (one per spatial axis) of every neighbour a structured blind spot replaces."""
    ranges = [range(-half, half + 1) for half in span]
    return [
        offsets
        for offsets in itertools.product(*ranges)
        if any(offsets) and _is_masked(offsets, span, box)
    ]


def _structured_mask(
    patches: torch.Tensor,
    positions: list[torch.Tensor],
    extents: tuple[int, ...],
    shape: tuple[int, ...],
    structure: tuple[tuple[int, ...], bool],
    generator: torch.Generator | None,
    replacement: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`blind_spot_mask` with a structured blind spot (``structure``: span, box): the
    masked pixels take a value from outside it, and their masked neighbours random values from
    outside it too."""
    batch, sizes = patches.shape[0], tuple(patches.shape[2:])
    allowed = off_line_offsets(extents, *structure)
    if replacement == "random":
        picked = torch.randint(0, len(allowed), shape, generator=generator)
        offset = allowed[picked].unsqueeze(-1)
    else:
        offset = allowed.expand(*shape, len(allowed))
    target, source = _flat_indices(positions, sizes, extents, offset)
    steps = masked_offsets(*structure)
    picked = torch.randint(0, len(allowed), (*shape, len(steps)), generator=generator)
    _, line_source = _flat_indices(positions, sizes, extents, allowed[picked])
    line_target = torch.stack([_shifted(positions, sizes, step) for step in steps], dim=-1)

    device = patches.device
    flat = patches.reshape(batch, -1)

    def gathered(indices: torch.Tensor) -> torch.Tensor:
        return flat.gather(1, indices.reshape(batch, -1).to(device))

    line_target = line_target.reshape(batch, -1).to(device)
    manipulated = flat.scatter(1, line_target, gathered(line_source))
    target = target.reshape(batch, -1).to(device)
    values = gathered(source).view(batch, target.shape[1], -1)
    manipulated = manipulated.scatter(1, target, _replacement_values(values, replacement))
    mask = torch.zeros_like(flat).scatter_(1, target, 1.0)
    return manipulated.view_as(patches), mask.view_as(patches)


def _shifted(
    positions: list[torch.Tensor], sizes: tuple[int, ...], offsets: tuple[int, ...]
) -> torch.Tensor:
    """Flat indices of the pixels ``offsets`` (one per spatial axis) from ``positions``
    (mirrored back inside the patch at its edges)."""
    flat = torch.zeros(positions[0].shape, dtype=torch.long)
    stride = math.prod(sizes)
    for position, size, offset in zip(positions, sizes, offsets, strict=True):
        stride //= size
        if offset:
            position = _neighbour(position, torch.full_like(position, offset), size)
        flat += position * stride
    return flat
