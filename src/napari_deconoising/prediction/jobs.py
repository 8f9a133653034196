"""The work of block-wise prediction: jobs (an input and its outputs), their blocks, progress.

Both runners (here: :mod:`~napari_deconoising.prediction.blockwise`; on a dask cluster:
:mod:`~napari_deconoising.prediction.dask_runner`) predict a :class:`PlannedJob` block by block
with :func:`predict_block` and report :class:`BlockProgress` through a :class:`ProgressTracker`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from napari_deconoising.data.images import pixel_source, read_pixels
from napari_deconoising.io.axes import AxesImage
from napari_deconoising.io.outputs import check_outputs
from napari_deconoising.io.zarr_io import store_axes
from napari_deconoising.prediction.blocks import Block
from napari_deconoising.prediction.stores import JobOutputs, open_outputs, output_kind


@dataclass
class PredictionJob:
    """One input and where its two outputs go (``.zarr`` or ``.tif``/``.tiff`` paths).

    ``image`` is an :class:`AxesImage` with lazy or in-memory data; ``path`` (with ``axes``, the
    user's axes) is the file it was read from, which the workers of a dask cluster reopen.
    """

    image: AxesImage
    denoised: Path
    deconvolved: Path
    path: Path | None = None
    axes: str | None = None

    def __post_init__(self) -> None:
        self.denoised, self.deconvolved = Path(self.denoised), Path(self.deconvolved)

    @property
    def outputs(self) -> dict[str, Path]:
        """Output paths by kind."""
        return {"denoised": self.denoised, "deconvolved": self.deconvolved}


@dataclass(frozen=True)
class PlannedJob:
    """A job ready to run: its image in store order, its blocks, and its outputs' chunks and
    data type."""

    job: PredictionJob
    image: AxesImage
    blocks: list[Block]
    chunks: tuple[int, ...]
    dtype: np.dtype

    def open_outputs(self) -> JobOutputs:
        """Create the job's output stores under their temporary names."""
        return open_outputs(self.job.outputs, self.image, self.chunks, self.dtype)


@dataclass(frozen=True)
class BlockProgress:
    """Sent while predicting: blocks done of all jobs, and the share of all pixels done."""

    job: int
    n_jobs: int
    blocks_done: int
    blocks_total: int
    progress: float
    elapsed_s: float
    stage: str = "predicting"


@dataclass
class BlockwiseResult:
    """What a run wrote: output paths per job, and figures."""

    outputs: list[dict[str, Path]]
    seconds: float
    pixels: int
    warnings: list[str] = field(default_factory=list)


class ProgressTracker:
    """Counts blocks and pixels done; makes :class:`BlockProgress` events."""

    def __init__(self, n_jobs: int, n_blocks: int, block_pixels: list[int]):
        self.n_jobs, self.n_blocks = n_jobs, n_blocks
        self.total = max(sum(block_pixels), 1)
        self.blocks = self.pixels = 0
        self.start = time.perf_counter()

    def done(self, pixels: int) -> None:
        """Count a block of ``pixels`` output pixels as done."""
        self.blocks += 1
        self.pixels += pixels

    def elapsed(self) -> float:
        """Seconds since the tracker was made."""
        return time.perf_counter() - self.start

    def event(self, job: int, stage: str = "predicting") -> BlockProgress:
        """The progress now, while ``job`` is at ``stage``."""
        return BlockProgress(
            job,
            self.n_jobs,
            self.blocks,
            self.n_blocks,
            self.pixels / self.total,
            self.elapsed(),
            stage,
        )


def check_output_paths(jobs: Sequence[PredictionJob], overwrite: bool = False) -> list[Path]:
    """Refuse, before any work, outputs that cannot or may not be written: an unknown suffix,
    and whatever the output policy refuses (:func:`~napari_deconoising.io.outputs.check_outputs`:
    an output that is, holds or lies inside an input, an output given twice, an existing output
    without ``overwrite``, a place with no writable folder)."""
    outputs = [path for job in jobs for path in job.outputs.values()]
    for path in outputs:
        output_kind(path)
    return check_outputs(outputs, [job.path for job in jobs], overwrite=overwrite)


def in_store_order(image: AxesImage) -> AxesImage:
    """The image with its (lazy) data transposed to the order outputs are stored in."""
    return image.reordered(store_axes(image.axes))


def read_block(image: AxesImage, region: tuple[slice, ...]) -> np.ndarray:
    """The pixels of ``region`` as a numpy array; a damaged file gives :class:`ImageError`
    naming the file and the region (:func:`~napari_deconoising.data.images.read_pixels`).

    A dask array is computed here, in this thread (also on a dask worker, where it would
    otherwise be sent back to the cluster)."""
    where = ", ".join(f"{a} {s.start}:{s.stop}" for a, s in zip(image.axes, region, strict=True))
    source = f"{pixel_source(image)} at {where}"
    return read_pixels(image.data, region, source=source, scheduler="synchronous")


def predict_block(
    predictor: Any,
    image: AxesImage,
    block: Block,
    on_progress: Callable[[float], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Predict one block (read with its halo) and return the (denoised, deconvolved) core."""
    pixels = read_block(image, block.read)
    part = AxesImage(
        pixels, image.axes, dict(image.spacing), image.axes_source, image.name, optics=image.optics
    )
    show = None if on_progress is None else (lambda event: on_progress(event.progress))
    result = predictor.predict(part, show)
    crop = block.crop
    return result.denoised[crop], result.deconvolved[crop]
