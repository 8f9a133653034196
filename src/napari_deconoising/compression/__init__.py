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
here, loaded on first use. Tunable constants are read where they are used
(``FLOAT16_MAX_ERROR`` in :mod:`.measure`).
"""

from napari_deconoising._exports import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    "compressor report measure pruning inputs session napari_deconoising.config.compression",
)
