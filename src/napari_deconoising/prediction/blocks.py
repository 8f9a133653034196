"""Block geometry: how an image of any size is cut into blocks, each read with a halo.

A block is a few frames (S, T, and Z planes for a 2D model) and a square of
``BlockConfig.block_size`` pixels in Y and X (and ``block_z`` planes for a 3D model), read with a
halo of real neighbouring pixels, ``overlap + PSF radius`` wide along every spatial axis. The halo
gives every output pixel the same context the whole-image prediction gives it and lets the PSF
convolution see the real deconvolved neighbours, so the cropped blocks fit together without seams.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from napari_deconoising.config.prediction import BlockConfig, PredictionConfig
from napari_deconoising.data.stacks import spatial_axes
from napari_deconoising.io.axes import SPATIAL_AXES
from napari_deconoising.model.bundle import AnyModel


@dataclass(frozen=True)
class Block:
    """One block: ``core`` is the part of the image it produces, ``read`` the part it reads
    (the core with its halo, clipped to the image); both index the image in store order."""

    index: int
    core: tuple[slice, ...]
    read: tuple[slice, ...]

    @property
    def crop(self) -> tuple[slice, ...]:
        """Where the core lies inside the read region."""
        return tuple(
            slice(c.start - r.start, c.stop - r.start)
            for c, r in zip(self.core, self.read, strict=True)
        )

    @property
    def pixels(self) -> int:
        """Number of output pixels of the block."""
        return math.prod(s.stop - s.start for s in self.core)


#: A two-stage model's blocks read this many PSF radii of context: each Richardson-Lucy
#: iteration spreads a voxel's influence by two PSF radii, but the influence decays fast.
TWO_STAGE_REACH = 2


def model_spatial_dims(model: AnyModel) -> int:
    """2 for a model applied plane by plane, 3 for a volumetric model."""
    dims = getattr(model, "spatial_dims", None)
    if dims is None:
        dims = getattr(model.channels[0], "spatial_dims", 2)
    return int(dims)


def halo_sizes(model: AnyModel, config: PredictionConfig) -> dict[str, int]:
    """Context read around a block per spatial axis of the model (Y, X; and Z for a 3D model):
    the prediction's overlap plus the PSF radius (the convolution of the deconvolved image needs
    real neighbours; :data:`TWO_STAGE_REACH` radii for Richardson-Lucy), rounded up to the
    network's size multiple so that a block's tiles pool on the same grid as the whole image's."""
    axes = spatial_axes(model_spatial_dims(model))
    overlaps = {"Z": int(getattr(config, "overlap_z", config.overlap))}
    radii, multiples = _psf_radii(model), _size_multiples(model, axes)
    return {
        axis: _round_up(overlaps.get(axis, config.overlap) + radii[axis], multiples[axis])
        for axis in axes
    }


def _psf_radii(model: AnyModel) -> dict[str, int]:
    """The largest PSF radius of the model's channels along Z, Y and X (0 where a PSF has no
    such axis: a 2D PSF has no Z)."""
    radii = dict.fromkeys(SPATIAL_AXES, 0)
    for channel in model.channels:
        if channel.psf is None:
            continue
        # Richardson-Lucy (two-stage) reaches further than one convolution
        reach = TWO_STAGE_REACH if channel.two_stage else 1
        for axis, size in zip(
            reversed(SPATIAL_AXES), reversed(np.shape(channel.psf)), strict=False
        ):
            radii[axis] = max(radii[axis], reach * (size // 2))
    return radii


def _size_multiples(model: AnyModel, axes: str) -> dict[str, int]:
    """What the input sizes of all the model's networks must be multiples of, per axis."""
    multiples = dict.fromkeys(axes, 1)
    for channel in model.channels:
        for axis, multiple in zip(
            axes, _network_multiples(channel.network, len(axes)), strict=True
        ):
            multiples[axis] = max(multiples[axis], multiple)
    return multiples


def _network_multiples(network: Any, n_axes: int) -> tuple[int, ...]:
    """What a network's input sizes must be multiples of, per spatial axis."""
    multiples = getattr(network, "size_multiples", None)
    if multiples is None:
        return (int(getattr(network, "size_multiple", 1)),) * n_axes
    return tuple(int(m) for m in multiples)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def plan_blocks(
    shape: Sequence[int], axes: str, halo: dict[str, int], blocks: BlockConfig
) -> list[Block]:
    """Cut an image of ``shape`` and ``axes`` into blocks (the last axes vary fastest).

    C is never split (a channel model needs all channels); Y and X get ``block_size``, Z
    ``block_z`` when it has a halo (a 3D model) else ``frames``, like S and T.
    """
    ranges = []
    for axis, size in zip(axes, shape, strict=True):
        step = _block_step(axis, int(size), halo, blocks)
        margin = halo.get(axis, 0)
        ranges.append(
            [
                (slice(start, min(start + step, size)), _widened(start, step, size, margin))
                for start in range(0, size, step)
            ]
        )
    return [
        Block(index, tuple(r[0] for r in combo), tuple(r[1] for r in combo))
        for index, combo in enumerate(itertools.product(*ranges))
    ]


def block_chunks(
    shape: Sequence[int], axes: str, halo: dict[str, int], blocks: BlockConfig
) -> tuple[int, ...]:
    """The chunk shape of an output store: one chunk per block core."""
    return tuple(
        min(_block_step(a, int(n), halo, blocks), int(n)) for a, n in zip(axes, shape, strict=True)
    )


def _block_step(axis: str, size: int, halo: dict[str, int], blocks: BlockConfig) -> int:
    if axis == "C":
        return size
    if axis in "YX":
        return blocks.block_size
    if axis == "Z" and "Z" in halo:
        return blocks.block_z
    return blocks.frames


def _widened(start: int, step: int, size: int, margin: int) -> slice:
    return slice(max(start - margin, 0), min(start + step + margin, size))
