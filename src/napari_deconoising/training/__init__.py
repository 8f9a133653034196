"""Training DecoNoising (or plain Noise2Void) networks on the noisy images themselves.

Public names of its modules are loaded from them on first use (``from napari_deconoising.training
import ...``), so that importing one module of this package does not import all of them.
"""

from napari_deconoising._exports import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, "budget events inputs plan trainer loop mode")
