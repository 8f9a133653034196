"""One-click model compression: channel pruning plus distillation, with a measured report.

A trained network is made smaller in three stages:

1. **Teacher outputs.** The original model predicts the user's images once (with the ordinary
   :class:`~napari_deconoising.prediction.Predictor`); its deconvolved images are the targets.
   No ground truth is needed.
2. **Structured pruning** (:mod:`.pruning`). The U-Net's channel groups (found by
   torch-pruning's dependency graph, which couples the convolutions whose outputs the skip
   connections add) keep their channels of largest group L1 norm. Level ``i`` keeps
   ``keep * taper**i`` of its channels, rounded to a multiple of ``round_to``: deep levels hold
   most of the parameters but little of the compute. The result is an ordinary, narrower
   :class:`~napari_deconoising.model.unet.UNet`.
3. **Fine-tuning by distillation** (:mod:`.session`). The pruned network learns to reproduce the
   original's deconvolved image and its PSF convolution (the denoised image) on random patches
   of the user's images, away from the patch borders where the original saw more context.

The weights are stored as float16 (the file halves; loading turns them back into float32) unless
that would change the outputs measurably. Compute stays float32 on the CPU; on a GPU the Predictor
already runs in half precision. The report (:mod:`.report`) is measured (:mod:`.measure`) at the
end of every run: parameters, file sizes, time per 512x512 frame of both models in the same run,
and the PSNR of the compressed model's outputs against the original's on held-out frames of the
user's images.

Modules: :mod:`.config` (settings, presets), :mod:`.inputs` (model, images, output checks),
:mod:`.pruning`, :mod:`.session` (one run), :mod:`.measure`, :mod:`.report` (events, report),
:mod:`.compressor` (:class:`Compressor`, :func:`compress`). Everything public is re-exported
here. Tunable constants are read where they are used (``FLOAT16_MAX_ERROR`` in :mod:`.measure`).
"""

from __future__ import annotations

from napari_deconoising.compression.compressor import Compressor, compress
from napari_deconoising.compression.inputs import (
    MAX_INTENSITY_SHIFT,
    MAX_SPREAD_RATIO,
    check_images_match,
)
from napari_deconoising.compression.measure import (
    FLOAT16_MAX_ERROR,
    ms_per_frame,
    timing_frame,
    weights_fingerprint,
)
from napari_deconoising.compression.pruning import plan_widths, prune_unet
from napari_deconoising.compression.report import (
    METHOD,
    CompressionEvent,
    CompressionFinished,
    CompressionReport,
    CompressionResult,
    CompressionStage,
    CompressionStarted,
    CompressionStep,
)
from napari_deconoising.config.compression import (
    MIN_PATCH,
    PRESET_DESCRIPTIONS,
    PRESETS,
    CompressionConfig,
    preset_config,
)
from napari_deconoising.config.settings import Storage

__all__ = [
    "FLOAT16_MAX_ERROR",
    "MAX_INTENSITY_SHIFT",
    "MAX_SPREAD_RATIO",
    "METHOD",
    "MIN_PATCH",
    "PRESETS",
    "PRESET_DESCRIPTIONS",
    "CompressionConfig",
    "CompressionEvent",
    "CompressionFinished",
    "CompressionReport",
    "CompressionResult",
    "CompressionStage",
    "CompressionStarted",
    "CompressionStep",
    "Compressor",
    "Storage",
    "check_images_match",
    "compress",
    "ms_per_frame",
    "plan_widths",
    "preset_config",
    "prune_unet",
    "timing_frame",
    "weights_fingerprint",
]
