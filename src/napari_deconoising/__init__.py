"""napari-deconoising: self-supervised joint denoising and deconvolution (DecoNoising).

The engine is headless (numpy + torch); the napari widgets live in :mod:`.widgets`.
"""

from __future__ import annotations

from ._version import __version__
from .bundle import ChannelModels, DecoNoisingModel, Normalisation, load_model
from .channels import as_axes_image
from .compression import CompressionConfig, CompressionReport, Compressor, compress
from .config import NetworkConfig, PredictionConfig, TrainingConfig
from .errors import (
    Cancelled,
    ConfigError,
    DeconoisingError,
    ImageError,
    ModelFileError,
    OutputError,
    PSFError,
)
from .io.bioimageio import export_bioimageio
from .metrics import psnr
from .onnx_export import export_onnx
from .prediction import PredictionProgress, PredictionResult, Predictor, predict
from .psf import (
    gaussian_psf,
    gaussian_psf_3d,
    gaussian_psf_3d_from_optics,
    gaussian_psf_from_optics,
    load_psf,
    match_voxel_size,
    prepare_psf,
    psf_from_bead_stack,
    psf_fwhm,
    sigma_from_optics,
    widefield_psf,
    widefield_psf_3d,
)
from .sample_data import SyntheticSample, ZStackSample, make_sample, make_zstack_sample
from .training import (
    CheckpointSaved,
    Trainer,
    TrainingFinished,
    TrainingStarted,
    TrainingStep,
    ValidationResult,
    train,
)

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
