"""Validated configuration objects, one per task, saved with the model as JSON.

The names below are loaded on first use, so that importing one module of this package does
not import all of them.
"""

from __future__ import annotations

from napari_deconoising._exports import lazy_exports

_HOMES = {
    "Bounds": "napari_deconoising.config.settings",
    "C": "napari_deconoising.config.settings",
    "DEFAULTS_3D": "napari_deconoising.config.settings",
    "DEVICES": "napari_deconoising.config.settings",
    "DOWNSAMPLING": "napari_deconoising.config.settings",
    "Device": "napari_deconoising.config.settings",
    "MODES": "napari_deconoising.config.settings",
    "MODE_DEFAULTS": "napari_deconoising.config.settings",
    "MODE_DIMS": "napari_deconoising.config.settings",
    "Mode": "napari_deconoising.config.settings",
    "NetworkConfig": "napari_deconoising.config.settings",
    "OpticsConfig": "napari_deconoising.config.settings",
    "PRECISIONS": "napari_deconoising.config.settings",
    "PredictionConfig": "napari_deconoising.config.settings",
    "REPLACEMENTS": "napari_deconoising.config.settings",
    "TrainingConfig": "napari_deconoising.config.settings",
    "annotations": "__future__",
    "bounds": "napari_deconoising.config.settings",
    "setting": "napari_deconoising.config.settings",
}

__all__ = sorted(_HOMES)


__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
