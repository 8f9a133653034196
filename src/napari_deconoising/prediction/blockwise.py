"""Prediction of images of any size, block by block, straight to disk.

An image (read lazily: a memory-mapped or zarr-backed TIFF, a zarr/OME-Zarr store, a dask
array) is cut into blocks (:mod:`~napari_deconoising.prediction.blocks`), each read with a halo,
so that memory is bounded by the block size and the cropped blocks match the whole-image
prediction within float tolerance. Each block's two results are written as they come into the
output stores (:mod:`~napari_deconoising.prediction.stores`), which become the outputs only at
the end: a stopped, failed or cancelled run never leaves a result-looking output, and an
existing output is replaced only with ``overwrite=True``.

The blocks of all inputs are independent tasks. By default they run here, one after another
(:class:`BlockPredictor`); with ``scheduler="ADDRESS"`` they are sent as dask tasks to a running
``dask.distributed`` scheduler (:mod:`~napari_deconoising.prediction.dask_runner`). Both give
byte-identical outputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from napari_deconoising.config.prediction import BlockConfig, PredictionConfig
from napari_deconoising.data.channels import check_channel_count, pixel_size_warning
from napari_deconoising.errors import ImageError
from napari_deconoising.io.axes import AxesImage
from napari_deconoising.job_control import CancelToken
from napari_deconoising.model.bundle import AnyModel
from napari_deconoising.prediction.blocks import Block, block_chunks, halo_sizes, plan_blocks
from napari_deconoising.prediction.dask_runner import run_on_cluster
from napari_deconoising.prediction.jobs import (
    BlockProgress,
    BlockwiseResult,
    PlannedJob,
    PredictionJob,
    ProgressTracker,
    check_output_paths,
    in_store_order,
    predict_block,
)
from napari_deconoising.prediction.stores import (
    OUTPUT_KINDS,
    JobOutputs,
    block_dtype,
    write_block,
)


class BlockPredictor:
    """Predicts :class:`PredictionJob` s block by block, writing the outputs as it goes.

    :meth:`run` yields :class:`BlockProgress` events and finally a :class:`BlockwiseResult`;
    :meth:`cancel` stops it at the next batch of tiles (the outputs are then removed and
    :class:`Cancelled` is raised). ``scheduler`` is None (here, in this process) or the address
    of a ``dask.distributed`` scheduler (``tcp://host:8786``) or a ``distributed.Client``.
    """

    def __init__(
        self,
        model: AnyModel,
        config: PredictionConfig | None = None,
        blocks: BlockConfig | None = None,
        *,
        dtype: str = "float32",
        overwrite: bool = False,
        scheduler: Any = None,
    ):
        self.model = model
        self.config = config or PredictionConfig()
        self.blocks = blocks or BlockConfig()
        self.dtype = dtype
        self.overwrite = overwrite
        self.scheduler = scheduler
        self.halo = halo_sizes(model, self.config)
        self._cancel = CancelToken("prediction")

    def cancel(self) -> None:
        """Stop at the next batch of tiles."""
        self._cancel.cancel()

    def predict(
        self,
        jobs: Sequence[PredictionJob],
        on_progress: Callable[[BlockProgress], None] | None = None,
    ) -> BlockwiseResult:
        """Run to the end and return what was written."""
        for item in self.run(jobs):
            if isinstance(item, BlockwiseResult):
                return item
            if on_progress is not None:
                on_progress(item)
        raise RuntimeError("prediction produced no result")  # pragma: no cover

    def run(self, jobs: Sequence[PredictionJob]) -> Iterator[BlockProgress | BlockwiseResult]:
        """Predict every job, yielding progress, then the :class:`BlockwiseResult`."""
        self._cancel.reset()
        check_output_paths(jobs, self.overwrite)
        images = [in_store_order(job.image) for job in jobs]
        warnings = [self._check(image) for image in images]
        planned = [self._plan(job, image) for job, image in zip(jobs, images, strict=True)]
        blocks = [block for item in planned for block in item.blocks]
        tracker = ProgressTracker(len(jobs), len(blocks), [block.pixels for block in blocks])
        if self.scheduler is None:
            yield from self._run_here(planned, tracker)
        else:
            yield from run_on_cluster(
                self.scheduler,
                self.model,
                self.config,
                planned,
                tracker,
                self._finish,
                self._cancel,
            )
        yield BlockwiseResult(
            [job.outputs for job in jobs],
            tracker.elapsed(),
            sum(math.prod(item.image.shape) for item in planned),
            [warning for warning in warnings if warning],
        )

    def _plan(self, job: PredictionJob, image: AxesImage) -> PlannedJob:
        """The job with its image in store order, its blocks, and its outputs' chunks and
        type."""
        shape, axes = image.shape, image.axes
        return PlannedJob(
            job,
            image,
            plan_blocks(shape, axes, self.halo, self.blocks),
            block_chunks(shape, axes, self.halo, self.blocks),
            block_dtype(self.dtype, image),
        )

    def _check(self, image: AxesImage) -> str | None:
        """Refuse an image with the wrong channels; a warning for another pixel size."""
        check_channel_count(len(self.model.channels), image)
        return pixel_size_warning(self.model.pixel_size_um, image)

    def _finish(self, outputs: JobOutputs) -> None:
        outputs.finish(self.overwrite, self._cancel.check)

    def _run_here(
        self, planned: Sequence[PlannedJob], tracker: ProgressTracker
    ) -> Iterator[BlockProgress]:
        from napari_deconoising.prediction.predictor import Predictor

        predictor = Predictor(self.model, self.config)
        with self._cancel.forwarding(predictor.cancel):
            for number, item in enumerate(planned):
                yield from self._run_job(predictor, number, item, tracker)

    def _run_job(
        self, predictor: Any, number: int, item: PlannedJob, tracker: ProgressTracker
    ) -> Iterator[BlockProgress]:
        """One input's blocks into its outputs, which are finished or, on any failure or
        cancel, removed."""
        outputs = item.open_outputs()
        try:
            for block in item.blocks:
                values = predict_block(predictor, item.image, block)
                self._write(outputs, item.job, block, values)
                tracker.done(block.pixels)
                yield tracker.event(number)
                self._cancel.check()
            yield tracker.event(number, "writing")
            self._finish(outputs)
        except BaseException:
            outputs.abort()
            raise

    def _write(
        self, outputs: JobOutputs, job: PredictionJob, block: Block, values: Sequence[np.ndarray]
    ) -> None:
        arrays = [outputs.arrays[kind] for kind in OUTPUT_KINDS]
        try:
            write_block(arrays, block, values)
        except OSError as err:
            raise ImageError(
                f"cannot write the outputs of {job.image.name}: {err.strerror or err}; "
                "the incomplete outputs were removed"
            ) from err
