"""Prediction: tiled inference in memory and block by block to disk.

The names below are loaded on first use, so that importing one module of this package does
not import all of them.
"""

from __future__ import annotations

from napari_deconoising._exports import lazy_exports

_HOMES = {
    "Block": "napari_deconoising.prediction.blockwise",
    "BlockConfig": "napari_deconoising.prediction.blockwise",
    "BlockPredictor": "napari_deconoising.prediction.blockwise",
    "BlockProgress": "napari_deconoising.prediction.blockwise",
    "BlockwiseResult": "napari_deconoising.prediction.blockwise",
    "INCOMPLETE_SUFFIX": "napari_deconoising.prediction.blockwise",
    "MAX_BATCH_VOXELS_3D": "napari_deconoising.prediction.predictor",
    "OUTPUT_KINDS": "napari_deconoising.prediction.blockwise",
    "PredictionJob": "napari_deconoising.prediction.blockwise",
    "PredictionProgress": "napari_deconoising.prediction.predictor",
    "PredictionResult": "napari_deconoising.prediction.predictor",
    "Predictor": "napari_deconoising.prediction.predictor",
    "TIFF_SUFFIXES": "napari_deconoising.prediction.blockwise",
    "TileGrid": "napari_deconoising.prediction.predictor",
    "block_chunks": "napari_deconoising.prediction.blockwise",
    "check_output_paths": "napari_deconoising.prediction.blockwise",
    "convert_block": "napari_deconoising.prediction.blockwise",
    "halo_sizes": "napari_deconoising.prediction.blockwise",
    "in_store_order": "napari_deconoising.prediction.blockwise",
    "incomplete_path": "napari_deconoising.prediction.blockwise",
    "model_spatial_dims": "napari_deconoising.prediction.blockwise",
    "output_dtype": "napari_deconoising.prediction.blockwise",
    "output_kind": "napari_deconoising.prediction.blockwise",
    "plan_balanced_tiles": "napari_deconoising.prediction.predictor",
    "plan_blocks": "napari_deconoising.prediction.blockwise",
    "plan_tiles": "napari_deconoising.prediction.predictor",
    "predict": "napari_deconoising.prediction.predictor",
    "predict_block": "napari_deconoising.prediction.blockwise",
    "read_block": "napari_deconoising.prediction.blockwise",
    "remote_block": "napari_deconoising.prediction.blockwise",
    "write_block": "napari_deconoising.prediction.blockwise",
}

__all__ = sorted(_HOMES)


__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
