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
from dataclasses import dataclass, field

import numpy as np
import torch

from .bundle import ChannelModels, DecoNoisingModel
from .channels import (
    as_axes_image,
    channel_frames,
    check_channel_count,
    merge_channels,
    pixel_size_warning,
)
from .config import PredictionConfig
from .convolution import convolve, psf_tensor
from .devices import autocast, network_input, place_network, resolve_device
from .errors import Cancelled
from .io.axes import AxesImage


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
    """Both outputs, shaped like the input (same axes) and on its intensity scale (float32).

    ``axes`` and ``spacing`` are the input's; ``warnings`` holds what the user should know
    (e.g. a pixel size that differs from the model's).
    """

    deconvolved: np.ndarray
    denoised: np.ndarray
    seconds: float
    axes: str = ""
    spacing: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


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
    """Applies a model (one channel, or :class:`ChannelModels`) to images of any axes.

    :meth:`run` yields :class:`PredictionProgress` events and finally the
    :class:`PredictionResult`; :meth:`cancel` makes it raise :class:`Cancelled` at the next batch.
    Each channel of the image goes through its own channel model, frame by frame (S, T and Z
    only number the frames of the 2D engine).
    """

    def __init__(
        self, model: DecoNoisingModel | ChannelModels, config: PredictionConfig | None = None
    ):
        self.model = model
        self.config = config or PredictionConfig()
        self.device = resolve_device(self.config.device)
        self.models = model.channels
        # Copies of their own: the caller's model (shared with other widgets and threads) is
        # never moved to another device or layout.
        self.networks = [
            place_network(copy.deepcopy(m.network), self.device).eval() for m in self.models
        ]
        self.kernels = [psf_tensor(m.psf, self.device) for m in self.models]
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Stop at the next batch boundary."""
        self._cancel.set()

    def predict(
        self,
        image: np.ndarray | AxesImage,
        on_progress: Callable[[PredictionProgress], None] | None = None,
        axes: str | None = None,
    ) -> PredictionResult:
        """Run to the end and return the result."""
        for item in self.run(image, axes):
            if isinstance(item, PredictionResult):
                return item
            if on_progress is not None:
                on_progress(item)
        raise RuntimeError("prediction produced no result")  # pragma: no cover

    def run(
        self, image: np.ndarray | AxesImage, axes: str | None = None
    ) -> Iterator[PredictionProgress | PredictionResult]:
        """Predict every frame of every channel, yielding progress events, then the result.

        ``image`` is a numpy array (2D ``YX``, a stack ``SYX``, or the layout ``axes`` names)
        or an :class:`AxesImage`. A :meth:`cancel` that arrives before or during the run stops
        it; the flag is cleared when the run ends, so the predictor can be used again.
        """
        try:
            yield from self._run(as_axes_image(image, axes))
        finally:
            self._cancel.clear()

    def _run(self, image: AxesImage) -> Iterator[PredictionProgress | PredictionResult]:
        check_channel_count(len(self.models), image)
        stacks = channel_frames(image)
        start = time.perf_counter()
        shape = stacks[0].shape
        multiple = max(network.size_multiple for network in self.networks)
        grid_y = plan_tiles(shape[1], self.config, multiple)
        grid_x = plan_tiles(shape[2], self.config, multiple)
        per_frame = grid_y.count * grid_x.count
        n_frames = sum(len(stack) for stack in stacks)
        outputs: list[tuple[np.ndarray, np.ndarray]] = []
        done_frames = 0
        for channel, stack in enumerate(stacks):
            deconvolved, denoised = np.empty_like(stack), np.empty_like(stack)
            for index, frame in enumerate(stack):
                for item in self._predict_frame(channel, frame, grid_y, grid_x):
                    if isinstance(item, int):
                        done = done_frames * per_frame + item
                        yield PredictionProgress(
                            done_frames, n_frames, done, per_frame * n_frames, self._since(start)
                        )
                    else:
                        deconvolved[index], denoised[index] = item
                done_frames += 1
            outputs.append((deconvolved, denoised))
        yield PredictionResult(
            merge_channels([o[0] for o in outputs], image),
            merge_channels([o[1] for o in outputs], image),
            self._since(start),
            image.axes,
            dict(image.spacing),
            [w for w in [pixel_size_warning(self.model.pixel_size_um, image)] if w],
        )

    @staticmethod
    def _since(start: float) -> float:
        return time.perf_counter() - start

    @torch.inference_mode()
    def _predict_frame(self, channel: int, frame: np.ndarray, grid_y: TileGrid, grid_x: TileGrid):
        """Yield the number of tiles done after each batch, then (deconvolved, denoised)."""
        model, network = self.models[channel], self.networks[channel]
        norm = model.normalisation
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
                output = network(network_input(tiles)).float() * model.output_scale
            for (r, c), tile in zip(batch_corners, output[:, 0], strict=True):
                stitched[r : r + grid_y.stride, c : c + grid_x.stride] = tile[
                    o : o + grid_y.stride, o : o + grid_x.stride
                ]
            yield first + len(batch_corners)
        deconvolved = stitched[: frame.shape[0], : frame.shape[1]][None, None]
        denoised = convolve(deconvolved, self.kernels[channel])
        yield (
            norm.denormalise(deconvolved[0, 0].cpu().numpy()),
            norm.denormalise(denoised[0, 0].cpu().numpy()),
        )


def predict(
    model: DecoNoisingModel | ChannelModels,
    image: np.ndarray | AxesImage,
    config: PredictionConfig | None = None,
    on_progress: Callable[[PredictionProgress], None] | None = None,
    axes: str | None = None,
) -> PredictionResult:
    """Deconvolve and denoise ``image`` with ``model``; outputs keep the input's shape and axes.

    ``image`` is 2D (``YX``), a stack of frames (``SYX``), any layout that ``axes`` names
    (e.g. ``"TCZYX"``), or an :class:`AxesImage`."""
    return Predictor(model, config).predict(image, on_progress, axes)
