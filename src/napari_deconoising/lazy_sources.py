"""Training data from recordings too large for memory: blocks through a bounded cache.

A lazily read recording (see :func:`~napari_deconoising.io.lazy.open_image`) is cut into
training blocks: one frame (S, T, and Z planes for a 2D model) by a square of ``block_size``
pixels, for each channel. A :class:`LazyFrameSource` then offers what a training session needs,
with memory independent of the recording's size:

- :meth:`~LazyFrameSource.statistics`: mean, standard deviation and camera offset estimated
  from an evenly spread sample of blocks (never a full pass over the data);
- :meth:`~LazyFrameSource.validation_frames`: a fixed set of held-out blocks (the same on
  every call, never used for training);
- :meth:`~LazyFrameSource.training_frames`: the blocks currently in a bounded cache
  (:class:`BlockCache`, at most ``cache_bytes`` of float32); :meth:`~LazyFrameSource.refresh`
  swaps some of them for other training blocks, so that a long training run sees the whole
  recording while holding only the cache.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .blockwise import read_block
from .errors import ImageError
from .images import estimate_offset
from .io.axes import AxesImage


@dataclass(frozen=True)
class TrainingBlock:
    """One 2D block of one channel: ``bounds`` are (start, stop) per axis of the image."""

    channel: int
    bounds: tuple[tuple[int, int], ...]

    @property
    def region(self) -> tuple[slice, ...]:
        """The block as an index into the image."""
        return tuple(slice(start, stop) for start, stop in self.bounds)

    @property
    def pixels(self) -> int:
        return math.prod(stop - start for start, stop in self.bounds)


def plan_training_blocks(image: AxesImage, block_size: int) -> list[list[TrainingBlock]]:
    """Per channel, the image's 2D training blocks (one frame x a square of ``block_size``)."""
    sizes = image.sizes
    n_channels = sizes.get("C", 1)
    frame_axes = [a for a in image.axes if a not in "CYX"]
    per_channel: list[list[TrainingBlock]] = [[] for _ in range(n_channels)]
    for index in np.ndindex(*(sizes[a] for a in frame_axes)):
        position = dict(zip(frame_axes, index, strict=True))
        for y in range(0, sizes["Y"], block_size):
            for x in range(0, sizes["X"], block_size):
                for channel in range(n_channels):
                    bounds = []
                    for axis in image.axes:
                        if axis == "Y":
                            bounds.append((y, min(y + block_size, sizes["Y"])))
                        elif axis == "X":
                            bounds.append((x, min(x + block_size, sizes["X"])))
                        elif axis == "C":
                            bounds.append((channel, channel + 1))
                        else:
                            bounds.append((position[axis], position[axis] + 1))
                    per_channel[channel].append(TrainingBlock(channel, tuple(bounds)))
    return per_channel


class BlockCache:
    """The most recently used blocks as float32 2D arrays, at most ``max_bytes`` in all."""

    def __init__(self, load: Callable[[TrainingBlock], np.ndarray], max_bytes: int):
        self.load, self.max_bytes = load, int(max_bytes)
        self._blocks: OrderedDict[TrainingBlock, np.ndarray] = OrderedDict()
        self.reads = 0

    @property
    def nbytes(self) -> int:
        """Bytes held now."""
        return sum(b.nbytes for b in self._blocks.values())

    def get(self, block: TrainingBlock) -> np.ndarray:
        """The block's pixels, read on a miss (evicting the least recently used)."""
        if block in self._blocks:
            self._blocks.move_to_end(block)
            return self._blocks[block]
        values = self.load(block)
        if values.nbytes > self.max_bytes:
            raise ImageError(
                f"one training block takes {values.nbytes / 2**20:.0f} MiB, more than the "
                f"cache of {self.max_bytes / 2**20:.0f} MiB; use smaller blocks"
            )
        while self._blocks and self.nbytes + values.nbytes > self.max_bytes:
            self._blocks.popitem(last=False)
        self._blocks[block] = values
        self.reads += 1
        return values

    def __contains__(self, block: TrainingBlock) -> bool:
        return block in self._blocks


class LazyFrameSource:
    """Training and validation frames of one channel of a lazy image (see the module).

    ``validation_fraction`` of the blocks (at least one when there are two or more) are held
    out, spread evenly over the recording; ``cache_bytes`` bounds the training blocks held.
    """

    def __init__(
        self,
        image: AxesImage,
        channel: int = 0,
        block_size: int = 512,
        cache_bytes: int = 256 * 2**20,
        validation_fraction: float = 0.1,
        seed: int = 0,
    ):
        self.image = image
        blocks = plan_training_blocks(image, block_size)[channel]
        self.rng = np.random.default_rng(seed)
        n_validation = round(len(blocks) * validation_fraction) if len(blocks) > 1 else 0
        if validation_fraction > 0 and len(blocks) > 1:
            n_validation = max(n_validation, 1)
        held = set(np.linspace(0, len(blocks) - 1, n_validation).round().astype(int).tolist())
        held = held if n_validation else set()
        self.validation_blocks = [b for i, b in enumerate(blocks) if i in held]
        self.training_blocks = [b for i, b in enumerate(blocks) if i not in held]
        self.cache = BlockCache(self._read, cache_bytes)
        self._current: list[TrainingBlock] = []
        self._order: list[int] = []
        self.refresh(max(1, self.cache.max_bytes // (4 * block_size**2)))

    def _read(self, block: TrainingBlock) -> np.ndarray:
        values = read_block(self.image, block.region).astype(np.float32, copy=False)
        values = values.reshape(values.shape[-2:])
        if not np.all(np.isfinite(values)):
            raise ImageError(f"{self.image.name}: the image contains NaN or infinite values")
        return values

    def statistics(self, n_blocks: int = 32) -> tuple[float, float, float]:
        """(mean, std, camera offset) from up to ``n_blocks`` evenly spread training blocks."""
        chosen = np.linspace(0, len(self.training_blocks) - 1, n_blocks).round().astype(int)
        samples = [self._read(self.training_blocks[i]) for i in sorted(set(chosen.tolist()))]
        count = sum(s.size for s in samples)
        mean = sum(float(s.sum(dtype=np.float64)) for s in samples) / count
        variance = sum(float(((s - mean) ** 2).sum(dtype=np.float64)) for s in samples) / count
        return mean, math.sqrt(variance), estimate_offset(samples)

    def validation_frames(self) -> list[np.ndarray]:
        """The held-out blocks (read each call; the same blocks every time)."""
        return [self._read(b) for b in self.validation_blocks]

    def training_frames(self) -> list[np.ndarray]:
        """The training blocks in the cache now."""
        return [self.cache.get(b) for b in self._current]

    def refresh(self, count: int) -> None:
        """Swap up to ``count`` cached training blocks for others, taken in a shuffled order
        that is drawn again after every pass, so every block comes in turn."""
        for _ in range(min(count, len(self.training_blocks))):
            self.cache.get(self._next_block())
        self._current = [b for b in self.training_blocks if b in self.cache]

    def _next_block(self) -> TrainingBlock:
        for _ in range(2 * len(self.training_blocks)):
            if not self._order:
                self._order = [int(i) for i in self.rng.permutation(len(self.training_blocks))]
            block = self.training_blocks[self._order.pop()]
            if block not in self.cache:
                return block
        return block  # every block is cached: nothing to swap
