"""Training on images larger than memory: frames read lazily, patches from a bounded cache.

An image whose float32 size exceeds the training's cache (``TrainingConfig.cache_mb``) is never
read whole. :func:`~napari_deconoising.data.stacks.channel_stacks` with ``lazy=True`` cuts it into
:class:`~napari_deconoising.data.stacks.LazyFrame` handles (one per 2D frame or 3D volume) that
read only the windows asked for, from a dask array, a zarr array, a memory map or a TIFF read row
by row.

- Normalisation and the camera offset come from a spread sample of blocks
  (:func:`block_statistics`).
- :class:`BlockCacheSampler` draws training patches from a cache of blocks of at most
  ``cache_bytes``; every batch replaces the oldest blocks with fresh random ones, so over a run
  the patches cover the whole recording while memory stays bounded.
- Validation uses a fixed set of blocks read once from held-out frames (or a held-out strip).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from napari_deconoising.data.images import estimate_offset, spread
from napari_deconoising.data.stacks import LazyFrame
from napari_deconoising.io.axes import AxesImage
from napari_deconoising.training.sampling import PatchSampler, full_patch_shape

#: Side (px) of a cached block in Y and X, at least; blocks are also at least 4 patches wide.
MIN_BLOCK_SIDE = 256
#: Blocks read for the normalisation and camera-offset estimate.
STATISTICS_BLOCKS = 32
#: Blocks read once for the fixed validation set.
VALIDATION_BLOCKS = 8
#: Blocks the cache starts with; it then grows by :data:`BLOCKS_PER_BATCH` up to its capacity.
INITIAL_BLOCKS = 16
#: Fresh blocks read per training batch (the oldest ones leave once the cache is full).
BLOCKS_PER_BATCH = 2


def is_lazy(frames: Sequence[Any]) -> bool:
    """Whether ``frames`` are :class:`LazyFrame` handles (not arrays in memory)."""
    return bool(frames) and isinstance(frames[0], LazyFrame)


def float32_megabytes(images: Sequence[AxesImage]) -> float:
    """The size the images would take in memory as float32 (MB)."""
    return sum(math.prod(image.shape) for image in images) * 4 / 2**20


def block_shape(frame: LazyFrame, patch: tuple[int, ...]) -> tuple[int, ...]:
    """The cached block shape for patches of ``patch`` (spatial) in ``frame``: four patches
    wide and at least :data:`MIN_BLOCK_SIDE` in Y and X, two patches deep in Z; never more
    than the frame."""
    wanted = [max(2 * p, 1) for p in patch[:-2]] + [max(4 * p, MIN_BLOCK_SIDE) for p in patch[-2:]]
    return tuple(min(w, n) for w, n in zip(wanted, frame.shape, strict=True))


def frame_weights(frames: Sequence[LazyFrame]) -> torch.Tensor:
    """The frames' sizes, to choose them in proportion to their pixels."""
    return torch.tensor([f.size for f in frames], dtype=torch.float64)


def random_block(
    frames: Sequence[LazyFrame],
    patch: tuple[int, ...],
    generator: torch.Generator,
    weights: torch.Tensor | None = None,
) -> np.ndarray:
    """A block at a random place of a frame chosen in proportion to its size (``weights``:
    :func:`frame_weights` of ``frames``, computed when not given)."""
    weights = frame_weights(frames) if weights is None else weights
    frame = frames[int(torch.multinomial(weights, 1, generator=generator))]
    shape = block_shape(frame, patch)
    starts = [
        int(torch.randint(0, n - b + 1, (1,), generator=generator))
        for n, b in zip(frame.shape, shape, strict=True)
    ]
    return frame.read(starts, shape)


def block_statistics(
    frames: Sequence[LazyFrame], patch: tuple[int, ...], generator: torch.Generator
) -> tuple[float, float, float]:
    """(mean, standard deviation, camera offset) from blocks spread over the frames."""
    blocks = spread_blocks(frames, STATISTICS_BLOCKS, patch, generator)
    count = sum(b.size for b in blocks)
    mean = sum(float(b.sum(dtype=np.float64)) for b in blocks) / count
    variance = sum(float(((b - mean) ** 2).sum(dtype=np.float64)) for b in blocks) / count
    planes = [plane for b in blocks for plane in b.reshape((-1, *b.shape[-2:]))]
    return mean, variance**0.5, estimate_offset(planes)


class BlockCacheSampler:
    """Random augmented patches from lazily read frames, through a bounded cache of blocks.

    Same interface and augmentation (``quarter_turns``) as :class:`~.sampling.PatchSampler`
    (``sample(count)``). ``normalise`` maps a block in camera units to the network's scale.
    The cache holds at most ``cache_bytes`` of float32 blocks (and never fewer than two); each
    :meth:`sample` first reads :data:`BLOCKS_PER_BATCH` fresh blocks, dropping the oldest when
    full.
    """

    def __init__(
        self,
        frames: Sequence[LazyFrame],
        patch: int | tuple[int, ...],
        generator: torch.Generator,
        normalise: Any,
        cache_bytes: float,
        augment: bool = True,
        device: torch.device | str = "cpu",
        quarter_turns: bool = True,
    ):
        self.frames, self.generator, self.normalise = list(frames), generator, normalise
        self.quarter_turns = quarter_turns
        self.weights = frame_weights(self.frames)
        self.patch = patch
        self.spatial = full_patch_shape(patch)
        self.augment, self.device = augment, torch.device(device)
        largest = max(math.prod(block_shape(f, self.spatial)) for f in self.frames) * 4
        #: How many blocks the cache holds at most.
        self.capacity = max(2, int(cache_bytes // largest))
        self.blocks: deque[torch.Tensor] = deque(maxlen=self.capacity)
        self._read(min(INITIAL_BLOCKS, self.capacity))

    def _read(self, count: int) -> None:
        for _ in range(count):
            block = random_block(self.frames, self.spatial, self.generator, self.weights)
            self.blocks.append(torch.from_numpy(self.normalise(block).astype(np.float32)))

    @property
    def cached_bytes(self) -> int:
        """Bytes the cached blocks take now."""
        return sum(b.numel() * 4 for b in self.blocks)

    def sample(self, count: int) -> torch.Tensor:
        """``count`` augmented patches, (count, 1, *patch shape), after refreshing the cache."""
        self._read(BLOCKS_PER_BATCH)
        sampler = PatchSampler(
            list(self.blocks),
            self.patch,
            self.generator,
            self.augment,
            self.device,
            self.quarter_turns,
        )
        return sampler.sample(count)


def validation_blocks(
    frames: Sequence[LazyFrame], patch: tuple[int, ...], generator: torch.Generator
) -> list[np.ndarray]:
    """A fixed set of :data:`VALIDATION_BLOCKS` blocks, spread over ``frames``."""
    return spread_blocks(frames, VALIDATION_BLOCKS, patch, generator)[:VALIDATION_BLOCKS]


def spread_blocks(
    frames: Sequence[LazyFrame], count: int, patch: tuple[int, ...], generator: torch.Generator
) -> list[np.ndarray]:
    """At least ``count`` random blocks from frames spread evenly over ``frames`` (the same
    number from each)."""
    chosen = [frames[i] for i in spread(len(frames), min(len(frames), count))]
    repeats = -(-count // len(chosen))
    return [random_block([f], patch, generator) for f in chosen for _ in range(repeats)]
