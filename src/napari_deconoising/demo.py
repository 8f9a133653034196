"""The demo: synthetic sample -> training -> prediction -> TIFFs, a PNG and PSNR figures."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from napari_deconoising.config.training import TrainingConfig
from napari_deconoising.data.synthetic import make_sample
from napari_deconoising.evaluation.figures import side_by_side, write_png
from napari_deconoising.evaluation.metrics import psnr
from napari_deconoising.io import write_tiff
from napari_deconoising.io.outputs import check_outputs
from napari_deconoising.prediction.predictor import PredictionProgress, Predictor
from napari_deconoising.training.events import TrainingEvent
from napari_deconoising.training.inputs import last_checkpoint_path
from napari_deconoising.training.trainer import Trainer

#: Wall-time training budget of the demo: with sample creation and prediction the whole demo
#: ends within 3 minutes on 2 CPU cores.
DEMO_MINUTES = 2.0
MODEL_NAME, FIGURE_NAME = "model.pt", "comparison.png"
IMAGE_NAMES = ("noisy", "denoised", "deconvolved", "truth_blurred", "truth_sharp")


def run_demo(
    out_dir: str | Path = "demo_output",
    minutes: float | None = DEMO_MINUTES,
    steps: int | None = None,
    shape: tuple[int, int] = (256, 256),
    n_frames: int = 8,
    on_training_event: Callable[[TrainingEvent], None] | None = None,
    on_prediction_progress: Callable[[PredictionProgress], None] | None = None,
    write: Callable[[Path, np.ndarray], object] | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Run the whole pipeline on the built-in sample and return its figures.

    The training budget is ``steps`` when given, else ``minutes`` of wall time. The callbacks
    receive the training events and the prediction progress; ``write(path, image)`` writes
    each TIFF (by default :func:`~.io.write_tiff`: an ImageJ hyperstack, the stacks as
    frames, ``SYX``). Every file the demo writes in ``out_dir`` is checked before any work:
    existing ones are replaced only with ``overwrite`` (see :mod:`.outputs`); so ``write`` may
    replace them.
    """
    start = time.perf_counter()
    out = Path(out_dir)
    check_outputs(demo_outputs(out), overwrite=overwrite)
    write = write or partial(write_tiff, overwrite=True)  # the check above allowed replacing
    sample = make_sample(shape, n_frames=n_frames)
    config = TrainingConfig(steps=steps, minutes=None if steps else minutes)
    trainer = Trainer(sample.noisy, sample.psf, config, out / MODEL_NAME, overwrite=overwrite)
    finished = None
    for event in trainer.run():
        finished = event
        if on_training_event is not None:
            on_training_event(event)
    result = Predictor(trainer.model).predict(sample.noisy, on_prediction_progress)
    images = {
        "noisy": sample.noisy,
        "denoised": result.denoised,
        "deconvolved": result.deconvolved,
        "truth_blurred": sample.blurred,
        "truth_sharp": sample.sharp,
    }
    for name, image in images.items():
        write(out / f"{name}.tif", image)
    panels = [sample.noisy[0], result.denoised[0], result.deconvolved[0], sample.sharp]
    write_png(out / FIGURE_NAME, side_by_side(panels))
    return {
        "psnr_input": psnr(sample.blurred, sample.noisy),
        "psnr_denoised": psnr(sample.blurred, result.denoised),
        "psnr_deconvolved": psnr(sample.sharp, result.deconvolved),
        "psnr_blurred_vs_sharp": psnr(sample.sharp, sample.blurred),
        "training_steps": finished.steps,
        "training_seconds": finished.seconds,
        "prediction_seconds": result.seconds,
        "seconds": time.perf_counter() - start,
        "out_dir": str(out),
        "figure": str(out / FIGURE_NAME),
    }


def demo_outputs(out_dir: str | Path) -> list[Path]:
    """Every file the demo writes in ``out_dir``."""
    out = Path(out_dir)
    model = out / MODEL_NAME
    tiffs = [out / f"{name}.tif" for name in IMAGE_NAMES]
    return [model, last_checkpoint_path(model), *tiffs, out / FIGURE_NAME]
