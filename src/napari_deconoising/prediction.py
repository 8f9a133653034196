"""Tiled, batched inference: deconvolved tiles are stitched, then convolved once with the PSF.

The image (with a reflected margin of ``overlap`` pixels) is cut into tiles of ``tile`` pixels;
each tile contributes only its centre, so every output pixel is predicted with at least
``overlap`` pixels of context and the tiles fit together without seams or averaging.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from .bundle import DecoNoisingModel
from .config import PredictionConfig
from .convolution import convolve, psf_tensor
from .devices import autocast, network_input, place_network, resolve_device
from .errors import Cancelled
from .images import as_frames


@dataclass(frozen=True)
class PredictionProgress:
    """Sent after every batch of tiles."""

    frame: int
    n_frames: int
    tiles_done: int
    tiles_total: int
    elapsed_s: float

    @property
    def progress(self) -> float:
        """Share of all tiles done, 0..1."""
        return self.tiles_done / max(self.tiles_total, 1)


@dataclass
class PredictionResult:
    """Both outputs, shaped like the input and on its intensity scale (float32)."""

    deconvolved: np.ndarray
    denoised: np.ndarray
    seconds: float


@dataclass(frozen=True)
class TileGrid:
    """Tile geometry for one axis: the image is padded to ``padded`` and cut every ``stride``."""

    size: int
    tile: int
    overlap: int

    @property
    def stride(self) -> int:
        return self.tile - 2 * self.overlap

    @property
    def count(self) -> int:
        return math.ceil(self.size / self.stride)

    @property
    def padded(self) -> int:
        return self.count * self.stride + 2 * self.overlap


def plan_tiles(size: int, config: PredictionConfig, multiple: int) -> TileGrid:
    """Tile geometry along one axis: the tile is rounded up to ``multiple`` and never made
    larger than the (padded) image needs."""
    overlap = config.overlap
    tile = _round_up(config.tile, multiple)
    needed = _round_up(size + 2 * overlap, multiple)
    return TileGrid(size, min(tile, needed), overlap)


def _round_up(value: int, multiple: int) -> int:
    return int(math.ceil(value / multiple) * multiple)


class Predictor:
    """Applies a :class:`DecoNoisingModel` to 2D images or stacks of frames.

    :meth:`run` yields :class:`PredictionProgress` events and finally the
    :class:`PredictionResult`; :meth:`cancel` makes it raise :class:`Cancelled` at the next batch.
    """

    def __init__(self, model: DecoNoisingModel, config: PredictionConfig | None = None):
        self.model = model
        self.config = config or PredictionConfig()
        self.device = resolve_device(self.config.device)
        # A copy of its own: the caller's model (shared with other widgets and threads) is never
        # moved to another device or layout.
        self.network = place_network(copy.deepcopy(model.network), self.device).eval()
        self.kernel = psf_tensor(model.psf, self.device)
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Stop at the next batch boundary."""
        self._cancel.set()

    def predict(
        self, image: np.ndarray, on_progress: Callable[[PredictionProgress], None] | None = None
    ) -> PredictionResult:
        """Run to the end and return the result."""
        for item in self.run(image):
            if isinstance(item, PredictionResult):
                return item
            if on_progress is not None:
                on_progress(item)
        raise RuntimeError("prediction produced no result")  # pragma: no cover

    def run(self, image: np.ndarray) -> Iterator[PredictionProgress | PredictionResult]:
        """Predict every frame, yielding progress events, then the result.

        A :meth:`cancel` that arrives before or during the run stops it; the flag is cleared when
        the run ends, so the predictor can be used again.
        """
        try:
            yield from self._run(image)
        finally:
            self._cancel.clear()

    def _run(self, image: np.ndarray) -> Iterator[PredictionProgress | PredictionResult]:
        original_shape = np.shape(image)
        frames = as_frames(image)
        start = time.perf_counter()
        deconvolved = np.empty_like(frames)
        denoised = np.empty_like(frames)
        grid_y = plan_tiles(frames.shape[1], self.config, self.network.size_multiple)
        grid_x = plan_tiles(frames.shape[2], self.config, self.network.size_multiple)
        per_frame = grid_y.count * grid_x.count
        total = per_frame * len(frames)
        for index, frame in enumerate(frames):
            result = None
            for item in self._predict_frame(frame, grid_y, grid_x):
                if isinstance(item, int):
                    done = index * per_frame + item
                    yield PredictionProgress(
                        index, len(frames), done, total, time.perf_counter() - start
                    )
                else:
                    result = item
            deconvolved[index], denoised[index] = result
        seconds = time.perf_counter() - start
        yield PredictionResult(
            deconvolved.reshape(original_shape), denoised.reshape(original_shape), seconds
        )

    @torch.inference_mode()
    def _predict_frame(self, frame: np.ndarray, grid_y: TileGrid, grid_x: TileGrid):
        """Yield the number of tiles done after each batch, then (deconvolved, denoised)."""
        norm = self.model.normalisation
        o = self.config.overlap
        padded = np.pad(
            norm.normalise(frame),
            ((o, grid_y.padded - frame.shape[0] - o), (o, grid_x.padded - frame.shape[1] - o)),
            mode="symmetric",
        )
        source = torch.from_numpy(np.ascontiguousarray(padded, dtype=np.float32)).to(self.device)
        corners = [
            (r * grid_y.stride, c * grid_x.stride)
            for r in range(grid_y.count)
            for c in range(grid_x.count)
        ]
        stitched = torch.empty(
            (grid_y.count * grid_y.stride, grid_x.count * grid_x.stride), device=self.device
        )
        for first in range(0, len(corners), self.config.batch_size):
            if self._cancel.is_set():
                raise Cancelled("prediction cancelled")
            batch_corners = corners[first : first + self.config.batch_size]
            tiles = torch.stack(
                [source[r : r + grid_y.tile, c : c + grid_x.tile] for r, c in batch_corners]
            )[:, None]
            with autocast(self.device):
                output = self.network(network_input(tiles)).float() * self.model.output_scale
            for (r, c), tile in zip(batch_corners, output[:, 0], strict=True):
                stitched[r : r + grid_y.stride, c : c + grid_x.stride] = tile[
                    o : o + grid_y.stride, o : o + grid_x.stride
                ]
            yield first + len(batch_corners)
        deconvolved = stitched[: frame.shape[0], : frame.shape[1]][None, None]
        denoised = convolve(deconvolved, self.kernel)
        yield (
            norm.denormalise(deconvolved[0, 0].cpu().numpy()),
            norm.denormalise(denoised[0, 0].cpu().numpy()),
        )


def predict(
    model: DecoNoisingModel,
    image: np.ndarray,
    config: PredictionConfig | None = None,
    on_progress: Callable[[PredictionProgress], None] | None = None,
) -> PredictionResult:
    """Deconvolve and denoise ``image`` (2D or a stack of frames) with ``model``."""
    return Predictor(model, config).predict(image, on_progress)
