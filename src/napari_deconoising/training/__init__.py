"""Training DecoNoising (or plain Noise2Void) networks on the noisy images themselves.

The names below are loaded on first use, so that importing one module of this package does
not import all of them.
"""

from __future__ import annotations

from napari_deconoising._exports import lazy_exports

_HOMES = {
    "Images": "napari_deconoising.training.trainer",
    "MIN_PLANES_3D": "napari_deconoising.training.trainer",
    "PATCH_Z_PER_PSF_PLANE": "napari_deconoising.training.trainer",
    "PSFs": "napari_deconoising.training.trainer",
    "Trainer": "napari_deconoising.training.trainer",
    "check_continuation": "napari_deconoising.training.trainer",
    "last_checkpoint_path": "napari_deconoising.training.trainer",
    "resolve_mode": "napari_deconoising.training.trainer",
    "train": "napari_deconoising.training.trainer",
}

__all__ = sorted(_HOMES)


__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
