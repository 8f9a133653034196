"""napari-deconoising: self-supervised joint denoising and deconvolution (DecoNoising).

The engine is headless (numpy + torch); the napari widgets live in :mod:`.widgets`.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from napari_deconoising._version import __version__
from napari_deconoising.compression import (
    CompressionConfig,
    CompressionReport,
    Compressor,
    compress,
)
from napari_deconoising.config.prediction import PredictionConfig
from napari_deconoising.config.training import NetworkConfig, TrainingConfig
from napari_deconoising.data.channels import as_axes_image
from napari_deconoising.data.synthetic import (
    SyntheticSample,
    ZStackSample,
    make_sample,
    make_zstack_sample,
)
from napari_deconoising.errors import (
    Cancelled,
    ConfigError,
    DeconoisingError,
    ImageError,
    ModelFileError,
    OutputError,
    PSFError,
)
from napari_deconoising.evaluation.metrics import psnr
from napari_deconoising.export.bioimageio import export_bioimageio
from napari_deconoising.export.onnx import export_onnx
from napari_deconoising.model.bundle import (
    ChannelModels,
    DecoNoisingModel,
    Normalisation,
    load_model,
)
from napari_deconoising.prediction.predictor import (
    PredictionProgress,
    PredictionResult,
    Predictor,
    predict,
)
from napari_deconoising.psf.load import load_psf, psf_from_bead_stack
from napari_deconoising.psf.measure import psf_fwhm
from napari_deconoising.psf.models import (
    gaussian_psf,
    gaussian_psf_3d,
    gaussian_psf_3d_from_optics,
    gaussian_psf_from_optics,
    widefield_psf,
    widefield_psf_3d,
)
from napari_deconoising.psf.optics import sigma_from_optics
from napari_deconoising.psf.prepare import match_voxel_size, prepare_psf
from napari_deconoising.training.events import (
    CheckpointSaved,
    TrainingFinished,
    TrainingStarted,
    TrainingStep,
    ValidationResult,
)
from napari_deconoising.training.trainer import Trainer, train

__all__ = [
    "Cancelled",
    "ChannelModels",
    "CheckpointSaved",
    "CompressionConfig",
    "CompressionReport",
    "Compressor",
    "ConfigError",
    "DecoNoisingModel",
    "DeconoisingError",
    "ImageError",
    "ModelFileError",
    "NetworkConfig",
    "Normalisation",
    "OutputError",
    "PSFError",
    "PredictionConfig",
    "PredictionProgress",
    "PredictionResult",
    "Predictor",
    "SyntheticSample",
    "Trainer",
    "TrainingConfig",
    "TrainingFinished",
    "TrainingStarted",
    "TrainingStep",
    "ValidationResult",
    "ZStackSample",
    "__version__",
    "as_axes_image",
    "compress",
    "export_bioimageio",
    "export_onnx",
    "gaussian_psf",
    "gaussian_psf_3d",
    "gaussian_psf_3d_from_optics",
    "gaussian_psf_from_optics",
    "load_model",
    "load_psf",
    "make_sample",
    "make_zstack_sample",
    "match_voxel_size",
    "predict",
    "prepare_psf",
    "psf_from_bead_stack",
    "psf_fwhm",
    "psnr",
    "sigma_from_optics",
    "train",
    "widefield_psf",
    "widefield_psf_3d",
]

# Modules of 0.1 that moved into packages: ``from napari_deconoising import unet`` still works,
# with a DeprecationWarning naming the new home.
_MOVED_INTO = {  # modules that kept their name, by the package they moved into
    "evaluation": ("baselines", "figures", "metrics"),
    "model": ("bundle", "convolution", "devices", "unet"),
    "training": ("channel_session", "losses", "masking", "sampling"),
    "data": ("channels", "images"),
}
_MOVED_MODULES = {name: f"{home}.{name}" for home, names in _MOVED_INTO.items() for name in names}
_MOVED_MODULES |= dict(
    blockwise="prediction",
    lazy_frames="training.streaming",
    model_checks="model.checks",
    onnx_export="export.onnx",
    outputs="io.outputs",
    sample_data="data.synthetic",
    training_events="training.events",
)


def __getattr__(name: str) -> Any:
    """Old module names (0.1) resolve to their new homes, with a deprecation warning."""
    if name not in _MOVED_MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    home = f"{__name__}.{_MOVED_MODULES[name]}"
    warnings.warn(
        f"napari_deconoising.{name} moved to {home}; import it from there",
        DeprecationWarning,
        stacklevel=2,
    )
    return importlib.import_module(home)
