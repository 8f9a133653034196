"""Prediction settings: tiles in memory, blocks to disk, and when an image counts as large."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from napari_deconoising.config.base import (
    DEVICES,
    PRECISIONS,
    Config,
    Device,
    require,
    setting,
)


@dataclass(frozen=True)
class PredictionConfig(Config):
    """Tiled inference settings. ``tile`` is rounded up to what the network needs.

    Large tiles are faster: every tile recomputes its ``overlap``, so a 512 x 512 frame in one
    tile computes 1.23x its pixels where 256-pixel tiles computed 1.78x (2D frames up to about
    ``tile`` pixels are one tile). 3D models cut volumes into tiles of at most ``tile_z`` planes
    and ``tile`` pixels in Y and X (fewer where a tile would exceed :data:`MAX_TILE_VOXELS`),
    with ``overlap_z`` planes and ``overlap`` pixels of context (never more than the network
    can see); an axis that fits in one tile is not cut. Two-stage models deconvolve the stitched
    denoised image with Richardson-Lucy: at most ``rl_iterations``, fewer once an iteration
    changes it by less than ``rl_tolerance``. ``precision`` follows training's policy: ``auto``
    computes the network in bfloat16 on CUDA and on CPUs with native bfloat16, else float32.
    """

    tile: int = setting(
        1024,
        low=16,
        high=8192,
        help="tile side (px); a frame up to about this size is one tile (3D tiles are kept "
        "under 4 M voxels)",
    )
    overlap: int = setting(32, low=0, high=4000, help="context around each tile (px)")
    batch_size: int = setting(4, low=1, high=256, help="tiles per batch")
    device: Device = setting("auto", choices=DEVICES)
    precision: str = setting(
        "auto",
        choices=PRECISIONS,
        help="mixed: the network computes in bfloat16 (float16 on Apple's MPS); auto: mixed on "
        "CUDA GPUs and on CPUs with native bfloat16 (about twice as fast there, the same "
        "outputs within 0.1 dB), else float32",
    )
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


MAX_TILE_VOXELS = 64 * 256 * 256
"""Voxels of one tile at most (the Y and X side of 3D tiles shrinks to keep under it): the
activations of a tile, not the image, bound prediction's memory."""

MAX_BATCH_VOXELS = 2**20
"""Pixels or voxels of one batch of tiles at most, where a batch holds more than one tile (on
a CPU, batching gains nothing; this bounds the memory)."""


def tile_sides(config: PredictionConfig, dims: int) -> tuple[int, ...]:
    """The largest tile, per spatial axis (``(y, x)`` or ``(z, y, x)``), before rounding: ``tile``
    pixels in Y and X (``tile_z`` planes in Z), Y and X smaller where a 3D tile would hold more
    than :data:`MAX_TILE_VOXELS`."""
    planes = config.tile_z if dims == 3 else 1
    side = min(config.tile, math.isqrt(MAX_TILE_VOXELS // planes))
    return (config.tile_z, side, side)[-dims:]


IN_MEMORY_PIXELS = 64 * 2**20
"""Images of more pixels (a float32 copy over 256 MiB) are predicted block by block to disk, by
the command line and by the Denoise & Deconvolve widget alike."""


def fits_in_memory(shape: Sequence[int]) -> bool:
    """Whether an image of ``shape`` (held in memory) is predicted in memory, not block-wise."""
    return math.prod(shape) <= IN_MEMORY_PIXELS
