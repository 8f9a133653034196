"""Layers too large for memory in the Denoise & Deconvolve widget: predicted block by block
into OME-Zarr stores in a folder the user picks, and shown lazily from there."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from napari_deconoising.config.prediction import IN_MEMORY_PIXELS, PredictionConfig
from napari_deconoising.io.axes import AxesImage, from_canonical
from napari_deconoising.io.zarr_io import store_axes
from napari_deconoising.prediction.blockwise import (
    OUTPUT_KINDS,
    BlockPredictor,
    BlockwiseResult,
    PredictionJob,
)
from napari_deconoising.widgets._common import models_folder, safe_stem, show_output
from napari_deconoising.widgets._jobs import Job
from napari_deconoising.widgets._models import load_if_needed

if TYPE_CHECKING:
    import napari
    from napari.layers import Image

#: Layers with more pixels than this, or not held in memory (dask, zarr), are predicted block by
#: block into zarr stores in a folder the user picks, and shown lazily from there.
LARGE_LAYER_PIXELS = IN_MEMORY_PIXELS


@dataclass
class LargePrediction:
    """What a block-wise prediction worker returns: where the outputs were written."""

    result: BlockwiseResult
    job: PredictionJob
    n2v: bool


def is_large(image: AxesImage, limit: int) -> bool:
    """Whether ``image`` is predicted block by block: not held in memory (dask, zarr), or more
    than ``limit`` pixels."""
    in_memory = isinstance(image.data, np.ndarray)
    return not in_memory or math.prod(image.shape) > limit


def output_stores(folder: str | Path, layer_name: str) -> list[Path]:
    """``<folder>/<layer>_denoised.zarr`` and ``<folder>/<layer>_deconvolved.zarr`` (the name
    made file-safe), in the order of :data:`OUTPUT_KINDS`."""
    stem = safe_stem(layer_name)
    return [Path(folder) / f"{stem}_{kind}.zarr" for kind in OUTPUT_KINDS]


def ask_folder(parent: Any, title: str) -> str | None:
    """A folder picked in a dialog (starting beside the models folder), or None."""
    from qtpy.QtWidgets import QFileDialog

    return QFileDialog.getExistingDirectory(parent, title, str(models_folder().parent)) or None


def predict_large(
    job: Job, prediction: PredictionJob, model, path, config: PredictionConfig, overwrite: bool
):
    """Worker: load the model if needed and predict block by block into zarr stores; a stop
    removes what was written."""
    model = yield from load_if_needed(model, path)
    predictor = BlockPredictor(model, config, overwrite=overwrite)
    job.bind(predictor.cancel)
    for item in predictor.run([prediction]):
        job.raise_if_stopped()
        if isinstance(item, BlockwiseResult):
            return LargePrediction(item, prediction, model.is_n2v)
        yield item
    raise RuntimeError("prediction produced no result")  # pragma: no cover


def show_stores(viewer: napari.Viewer, raw: Image, prediction: LargePrediction) -> list[Image]:
    """The output layers ``"<raw> denoised"`` (and ``"<raw> deconvolved"`` unless the model is
    a Noise2Void one), reading the stores lazily in the raw layer's axes."""
    import dask.array as da

    image = prediction.job.image
    kinds = ["denoised"] if prediction.n2v else list(OUTPUT_KINDS)
    layers = []
    for kind in kinds:
        store = da.from_zarr(str(prediction.job.outputs[kind] / "0"))
        data = from_canonical(store, store_axes(image.axes), image.axes)
        layers.append(show_output(viewer, raw, f"{raw.name} {kind}", data))
    return layers
