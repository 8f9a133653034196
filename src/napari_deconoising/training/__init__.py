"""Training DecoNoising (or plain Noise2Void) networks on the noisy images themselves.

The names below are loaded on first use, so that importing one module of this package does
not import all of them.
"""

from __future__ import annotations

from napari_deconoising._exports import lazy_exports

_HOMES = {
    "BudgetedSteps": "napari_deconoising.training.budget",
    "CheckpointSaved": "napari_deconoising.training.events",
    "Images": "napari_deconoising.training.inputs",
    "MIN_PLANES_3D": "napari_deconoising.training.plan",
    "PATCH_Z_PER_PSF_PLANE": "napari_deconoising.training.plan",
    "PSFs": "napari_deconoising.training.inputs",
    "PatchPlan": "napari_deconoising.training.plan",
    "Trainer": "napari_deconoising.training.trainer",
    "TrainingEvent": "napari_deconoising.training.events",
    "TrainingFinished": "napari_deconoising.training.events",
    "TrainingRun": "napari_deconoising.training.loop",
    "TrainingStarted": "napari_deconoising.training.events",
    "TrainingStep": "napari_deconoising.training.events",
    "ValidationResult": "napari_deconoising.training.events",
    "check_continuation": "napari_deconoising.training.inputs",
    "last_checkpoint_path": "napari_deconoising.training.inputs",
    "mode_name": "napari_deconoising.training.mode",
    "patch_shape": "napari_deconoising.training.plan",
    "plan_patches": "napari_deconoising.training.plan",
    "plan_pooling": "napari_deconoising.training.plan",
    "resolve_mode": "napari_deconoising.training.mode",
    "resolve_spatial_dims": "napari_deconoising.training.mode",
    "train": "napari_deconoising.training.trainer",
}

__all__ = sorted(_HOMES)


__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
