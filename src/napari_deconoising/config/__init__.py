"""Validated configuration objects, one per task, saved with the model as JSON.

Public names of its modules are loaded from them on first use (``from napari_deconoising.config
import ...``), so that importing one module of this package does not import all of them.
"""

from napari_deconoising._exports import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, "base training prediction psf compression")
