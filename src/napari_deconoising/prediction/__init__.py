"""Prediction: tiled inference in memory and block by block to disk.

The names below are loaded on first use, so that importing one module of this package does
not import all of them.
"""

from __future__ import annotations

from napari_deconoising._exports import lazy_exports

_PREDICTOR = "napari_deconoising.prediction.predictor"
_BLOCKS = "napari_deconoising.prediction.blocks"
_STORES = "napari_deconoising.prediction.stores"
_JOBS = "napari_deconoising.prediction.jobs"

_HOMES = {
    "Block": _BLOCKS,
    "BlockConfig": _BLOCKS,
    "BlockPredictor": "napari_deconoising.prediction.blockwise",
    "BlockProgress": _JOBS,
    "BlockwiseResult": _JOBS,
    "INCOMPLETE_SUFFIX": _STORES,
    "JobOutputs": _STORES,
    "MAX_BATCH_VOXELS_3D": _PREDICTOR,
    "OUTPUT_KINDS": _STORES,
    "PlannedJob": _JOBS,
    "PredictionJob": _JOBS,
    "PredictionProgress": _PREDICTOR,
    "PredictionResult": _PREDICTOR,
    "Predictor": _PREDICTOR,
    "ProgressTracker": _JOBS,
    "TIFF_SUFFIXES": _STORES,
    "TileGrid": _PREDICTOR,
    "block_chunks": _BLOCKS,
    "check_output_paths": _JOBS,
    "halo_sizes": _BLOCKS,
    "in_store_order": _JOBS,
    "incomplete_path": _STORES,
    "model_spatial_dims": _BLOCKS,
    "open_outputs": _STORES,
    "block_dtype": _STORES,
    "output_kind": _STORES,
    "plan_balanced_tiles": _PREDICTOR,
    "plan_blocks": _BLOCKS,
    "plan_tiles": _PREDICTOR,
    "predict": _PREDICTOR,
    "predict_block": _JOBS,
    "read_block": _JOBS,
    "remote_block": "napari_deconoising.prediction.dask_runner",
    "run_on_cluster": "napari_deconoising.prediction.dask_runner",
    "write_block": _STORES,
}

__all__ = sorted(_HOMES)


__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
