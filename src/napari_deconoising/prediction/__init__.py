"""Prediction: tiled inference in memory and block by block to disk.

Public names of its modules are loaded from them on first use (``from napari_deconoising.prediction
import ...``), so that importing one module of this package does not import all of them.
"""

from napari_deconoising._exports import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    "predictor blocks stores jobs blockwise dask_runner napari_deconoising.config.prediction",
)
