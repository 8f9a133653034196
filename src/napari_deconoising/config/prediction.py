"""Prediction settings: tiles in memory, blocks to disk, and when an image counts as large."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from napari_deconoising.config.base import (
    DEVICES,
    Config,
    Device,
    require,
    setting,
)


@dataclass(frozen=True)
class PredictionConfig(Config):
    """Tiled inference settings. ``tile`` is rounded up to what the network needs.

    3D models cut volumes into tiles of at most ``tile_z`` planes and ``tile`` pixels in Y and
    X, with ``overlap_z`` planes and ``overlap`` pixels of context (never more than the network
    can see); an axis that fits in one tile is not cut. Two-stage models deconvolve the stitched
    denoised image with Richardson-Lucy: at most ``rl_iterations``, fewer once an iteration
    changes it by less than ``rl_tolerance``.
    """

    tile: int = setting(256, low=16, high=8192, help="tile side (px)")
    overlap: int = setting(32, low=0, high=4000, help="context around each tile (px)")
    batch_size: int = setting(4, low=1, high=256, help="tiles per batch")
    device: Device = setting("auto", choices=DEVICES)
    tile_z: int = setting(64, low=4, high=4096, help="tile depth of 3D models (planes)")
    overlap_z: int = setting(24, low=0, high=2000, help="context above and below 3D tiles (planes)")
    rl_iterations: int = setting(
        40, low=1, high=1000, help="most Richardson-Lucy iterations of a two-stage model"
    )
    rl_tolerance: float = setting(
        0.005,
        low=0,
        high=1,
        help="two-stage models stop Richardson-Lucy earlier, once an iteration changes the "
        "deconvolved image by less than this share (mean absolute change)",
    )

    def __post_init__(self) -> None:
        self._check_declared()
        require(
            2 * self.overlap < self.tile,
            f"overlap ({self.overlap}) must be less than half the tile ({self.tile})",
        )
        require(
            2 * self.overlap_z < self.tile_z,
            f"overlap_z ({self.overlap_z}) must be less than half of tile_z ({self.tile_z})",
        )


@dataclass(frozen=True)
class BlockConfig(Config):
    """How a large image is cut into blocks (the unit of memory, of work and of the output's
    zarr chunks)."""

    block_size: int = setting(1024, low=64, high=65536, help="block side in Y and X (px)")
    block_z: int = setting(32, low=1, high=65536, help="planes per block for a 3D model")
    frames: int = setting(1, low=1, high=1_000_000, help="frames (S, T, 2D Z) per block")


IN_MEMORY_PIXELS = 64 * 2**20
"""Images of more pixels (a float32 copy over 256 MiB) are predicted block by block to disk, by
the command line and by the Denoise & Deconvolve widget alike."""


def fits_in_memory(shape: Sequence[int]) -> bool:
    """Whether an image of ``shape`` (held in memory) is predicted in memory, not block-wise."""
    return math.prod(shape) <= IN_MEMORY_PIXELS
