"""Tiled, batched inference: deconvolved tiles are stitched, then convolved once with the PSF.

(A two-stage model's network denoises: its stitched tiles are the denoised image, which
Richardson-Lucy then deconvolves, see :mod:`~napari_deconoising.model.deconvolution`.)

The image (with a reflected margin of ``overlap`` pixels, at most what the network sees) is cut
into as few tiles of at most ``tile`` pixels as cover it, all of one size; each tile contributes
only its centre, so every output pixel is predicted with ``overlap`` pixels of context and the
tiles fit together without seams or averaging. A 3D model cuts volumes alike in Z, Y and X
(``tile_z`` / ``overlap_z`` planes in Z) and convolves the stitched volume once with its 3D PSF;
a 2D model goes through a z-stack plane by plane.
"""

from __future__ import annotations

import copy
import itertools
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from napari_deconoising.config.prediction import MAX_BATCH_VOXELS, PredictionConfig, tile_sides
from napari_deconoising.data.channels import (
    as_axes_image,
    check_channel_count,
    pixel_size_warning,
)
from napari_deconoising.data.stacks import channel_stacks, merge_channel_stacks, spatial_axes
from napari_deconoising.errors import ImageError
from napari_deconoising.io.axes import AxesImage
from napari_deconoising.job_control import CancelToken
from napari_deconoising.model.bundle import AnyModel
from napari_deconoising.model.convolution import convolve, psf_tensor
from napari_deconoising.model.deconvolution import RichardsonLucy, flat_background
from napari_deconoising.model.devices import (
    autocast,
    compute_dtype,
    network_input,
    place_network,
    resolve_device,
)


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


def plan_balanced_tiles(size: int, tile: int, overlap: int, multiple: int) -> TileGrid:
    """Tile geometry along one axis of a volume: as few tiles as ``tile`` (rounded up to
    ``multiple``) allows, each only as large as its share of the axis plus ``overlap`` on both
    sides needs.

    The image is always padded by ``overlap`` (reflected) at its borders, even when one
    tile holds the axis: the borders then come out the same however the volume is cut (into
    tiles here, or into blocks by :mod:`~napari_deconoising.prediction.blockwise`).
    """
    largest = _round_up(tile, multiple)
    count = math.ceil(size / max(largest - 2 * overlap, 1))
    return TileGrid(size, _round_up(math.ceil(size / count) + 2 * overlap, multiple), overlap)


def _round_up(value: int, multiple: int) -> int:
    return int(math.ceil(value / multiple) * multiple)


class Predictor:
    """Applies a model (one channel, or :class:`ChannelModels`) to images of any axes.

    :meth:`run` yields :class:`PredictionProgress` events and finally the
    :class:`PredictionResult`; :meth:`cancel` makes it raise :class:`Cancelled` at the next batch.
    Each channel of the image goes through its own channel model, frame by frame (S, T and Z
    only number the frames of a 2D model) or volume by volume (a 3D model; S and T number the
    volumes).
    """

    def __init__(self, model: AnyModel, config: PredictionConfig | None = None):
        self.model = model
        self.config = config or PredictionConfig()
        self.device = resolve_device(self.config.device)
        self.models = model.channels
        # Copies of their own: the caller's model (shared with other widgets and threads) is
        # never moved to another device or layout.
        self.networks = [
            place_network(copy.deepcopy(m.network), self.device).eval() for m in self.models
        ]
        self.kernels = [psf_tensor(m.output_psf, self.device) for m in self.models]
        #: Richardson-Lucy of two-stage channels, per (channel, frame shape).
        self.deconvolvers: dict[tuple[int, tuple[int, ...]], RichardsonLucy] = {}
        self._cancel = CancelToken("prediction")

    def cancel(self) -> None:
        """Stop at the next batch boundary."""
        self._cancel.cancel()

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

        ``image`` is a numpy array (2D ``YX``, a stack ``SYX`` -- ``ZYX`` for a 3D model -- or
        the layout ``axes`` names) or an :class:`AxesImage`. A :meth:`cancel` that arrives
        before or during the run stops it; the flag is cleared when the run ends, so the
        predictor can be used again.
        """
        try:
            yield from self._run(self._as_image(image, axes))
        finally:
            self._cancel.reset()

    def _as_image(self, image: np.ndarray | AxesImage, axes: str | None) -> AxesImage:
        """The image with its axes; a plain array without axes that has as many dimensions as
        the model is one item (``YX`` or ``ZYX``): a 3D model reads a plain 3D array as a
        z-stack, where a 2D model reads it as frames (``SYX``)."""
        described = as_axes_image(image, axes)
        spatial = spatial_axes(self.spatial_dims)
        one_item = described.axes_source == "default" and described.ndim == self.spatial_dims
        if one_item and described.axes != spatial:
            return AxesImage(described.data, spatial, {}, "default", described.name)
        return described

    @property
    def precision(self) -> str:
        """What the networks compute in here: ``float32``, or ``bfloat16`` / ``float16`` (mixed
        precision, as :func:`~napari_deconoising.model.devices.mixed_precision` decides)."""
        return compute_dtype(self.device, self.config.precision)

    @property
    def spatial_dims(self) -> int:
        """2 (plane by plane) or 3 (volumes), the model's."""
        return self.models[0].spatial_dims

    def _run(self, image: AxesImage) -> Iterator[PredictionProgress | PredictionResult]:
        check_channel_count(len(self.models), image)
        self._check_spatial_axes(image)
        stacks = channel_stacks(image, self.spatial_dims)
        start = time.perf_counter()
        grids, batch_size = self.tiling(stacks[0].shape[1:])
        per_frame = math.prod(grid.count for grid in grids)
        n_frames = sum(len(stack) for stack in stacks)
        outputs: list[tuple[np.ndarray, np.ndarray]] = []
        done_frames = 0
        for channel, stack in enumerate(stacks):
            deconvolved, denoised = np.empty_like(stack), np.empty_like(stack)
            for index, frame in enumerate(stack):
                for item in self._predict_frame(channel, frame, grids, batch_size):
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
            merge_channel_stacks([o[0] for o in outputs], image, self.spatial_dims),
            merge_channel_stacks([o[1] for o in outputs], image, self.spatial_dims),
            self._since(start),
            image.axes,
            dict(image.spacing),
            self._warnings(image),
        )

    def _check_spatial_axes(self, image: AxesImage) -> None:
        """Refuse an image that lacks one of the model's spatial axes (a 3D model needs Z)."""
        spatial = spatial_axes(self.spatial_dims)
        missing = "".join(axis for axis in spatial if not image.has(axis))
        if missing:
            raise ImageError(
                f"this is a {self.spatial_dims}D model, but {image.name} ({image.describe()}) "
                f"has no {missing} axis; give the axes with {missing} (e.g. --axes {spatial}), "
                "or use a 2D model"
            )

    def tiling(self, shape: Sequence[int]) -> tuple[list[TileGrid], int]:
        """Tile geometry along each spatial axis of a frame (Y, X) or volume (Z, Y, X), and the
        tiles per batch.

        Frames and volumes alike get balanced tiles (:func:`plan_balanced_tiles`: as few as
        ``tile`` allows, each no larger than its share) with no more overlap than the networks
        can see (more would only cost time), ``batch_size`` at a time, fewer where a batch would
        take too much memory (:data:`MAX_BATCH_VOXELS`).
        """
        dims = len(shape)
        multiples = [
            max(network.size_multiples[axis] for network in self.networks) for axis in range(dims)
        ]
        config = self.config
        tiles = tile_sides(config, dims)
        reach = [max(network.context[axis] for network in self.networks) for axis in range(dims)]
        wanted = (config.overlap_z, config.overlap, config.overlap)[-dims:]
        # the reach rounded up to the pooling multiple: the tiles pool on the frame's own grid
        reach = [_round_up(r, m) for r, m in zip(reach, multiples, strict=True)]
        overlaps = [min(w, r) for w, r in zip(wanted, reach, strict=True)]
        grids = [
            plan_balanced_tiles(*values)
            for values in zip(shape, tiles, overlaps, multiples, strict=True)
        ]
        voxels = math.prod(g.tile for g in grids)
        return grids, max(1, min(config.batch_size, MAX_BATCH_VOXELS // voxels))

    def _warnings(self, image: AxesImage) -> list[str]:
        warnings = [pixel_size_warning(self.model.pixel_size_um, image)]
        voxel = self.model.voxel_size_um
        z_step = image.spacing.get("Z")
        if voxel is not None and z_step is not None and abs(z_step - voxel[0]) > 0.1 * voxel[0]:
            warnings.append(
                f"{image.name} has a {z_step:.4g} µm z-step but the model was trained at "
                f"{voxel[0]:.4g} µm: its 3D PSF no longer fits the stack (retrain, or resample)"
            )
        return [w for w in warnings if w]

    @staticmethod
    def _since(start: float) -> float:
        return time.perf_counter() - start

    @torch.inference_mode()
    def _predict_frame(
        self, channel: int, frame: np.ndarray, grids: Sequence[TileGrid], batch_size: int
    ):
        """Yield the number of tiles done after each batch of ``batch_size`` tiles, then
        (deconvolved, denoised) of one frame (Y, X) or volume (Z, Y, X)."""
        model, network = self.models[channel], self.networks[channel]
        norm = model.normalisation
        sizes = zip(grids, frame.shape, strict=True)
        margins = [(g.overlap, g.padded - n - g.overlap) for g, n in sizes]
        padded = np.pad(norm.normalise(frame), margins, mode="symmetric")
        source = torch.from_numpy(np.ascontiguousarray(padded, dtype=np.float32)).to(self.device)
        corners = list(itertools.product(*[[i * g.stride for i in range(g.count)] for g in grids]))
        stitched = torch.empty([g.count * g.stride for g in grids], device=self.device)
        centre = tuple(slice(g.overlap, g.overlap + g.stride) for g in grids)
        for first in range(0, len(corners), batch_size):
            self._cancel.check()
            batch_corners = corners[first : first + batch_size]
            tiles = torch.stack(
                [source[_window(corner, [g.tile for g in grids])] for corner in batch_corners]
            )[:, None]
            with autocast(self.device, self.config.precision):
                output = network(network_input(tiles)).float() * model.output_scale
            for corner, tile in zip(batch_corners, output[:, 0], strict=True):
                stitched[_window(corner, [g.stride for g in grids])] = tile[centre]
            yield first + len(batch_corners)
        output = stitched[tuple(slice(0, n) for n in frame.shape)]
        if model.two_stage:
            denoised = norm.denormalise(output.cpu().numpy())
            yield self._deconvolved(channel, denoised), denoised
            return
        denoised = convolve(output[None, None], self.kernels[channel])[0, 0]
        yield norm.denormalise(output.cpu().numpy()), norm.denormalise(denoised.cpu().numpy())

    def _deconvolved(self, channel: int, denoised: np.ndarray) -> np.ndarray:
        """The second stage of a two-stage model: Richardson-Lucy of one denoised frame or
        volume with the channel's PSF (cancellable between iterations)."""
        key = (channel, denoised.shape)
        if key not in self.deconvolvers:
            psf = self.models[channel].psf
            self.deconvolvers[key] = RichardsonLucy(psf, denoised.shape, self.device)
        result = self.deconvolvers[key].run(
            denoised,
            flat_background(denoised),
            self.config.rl_iterations,
            self.config.rl_tolerance,
            lambda _iteration, _estimate: self._cancel.check(),
        )
        return result.estimate.cpu().numpy()


def _window(corner: Sequence[int], sizes: Sequence[int]) -> tuple[slice, ...]:
    """The slices of a box at ``corner`` with ``sizes``."""
    return tuple(slice(c, c + n) for c, n in zip(corner, sizes, strict=True))


def predict(
    model: AnyModel,
    image: np.ndarray | AxesImage,
    config: PredictionConfig | None = None,
    on_progress: Callable[[PredictionProgress], None] | None = None,
    axes: str | None = None,
) -> PredictionResult:
    """Deconvolve and denoise ``image`` with ``model``; outputs keep the input's shape and axes.

    ``image`` is 2D (``YX``), a stack of frames (``SYX``), any layout that ``axes`` names
    (e.g. ``"TCZYX"``), or an :class:`AxesImage`. A 3D model needs a Z axis (``ZYX``, ``TZYX``,
    ``CZYX``...); a 2D model treats Z planes as frames."""
    return Predictor(model, config).predict(image, on_progress, axes)
