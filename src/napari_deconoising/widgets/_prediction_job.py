"""The Denoise & Deconvolve widget's worker for layers held in memory, and its PSNR line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from napari_deconoising.config.prediction import PredictionConfig
from napari_deconoising.evaluation.metrics import psnr
from napari_deconoising.prediction.predictor import PredictionResult, Predictor
from napari_deconoising.widgets._jobs import Job
from napari_deconoising.widgets._models import load_if_needed


@dataclass
class Prediction:
    """What a prediction worker returns."""

    result: PredictionResult
    scores: str
    n2v: bool


def predict(
    job: Job, image, model, path, config: PredictionConfig, truth: Any, reference_name: str
):
    """Worker: load the model if needed, predict, and score against the reference."""
    model = yield from load_if_needed(model, path)
    predictor = Predictor(model, config)
    job.bind(predictor.cancel)
    result = None
    for item in predictor.run(image):
        job.raise_if_stopped()
        if isinstance(item, PredictionResult):
            result = item
        else:
            yield item
    scores = scores_text(truth, reference_name, np.asarray(image.data), result.denoised)
    return Prediction(result, scores, model.is_n2v)


def scores_text(truth, reference_name: str, raw: np.ndarray, denoised: np.ndarray) -> str:
    """'PSNR against <ref>: raw .. dB, denoised .. dB', or why it cannot be computed.

    ``truth`` is the reference's pixels (or None: no reference, no text).
    """
    if truth is None:
        return ""
    truth = np.asarray(truth)
    try:
        raw_db, denoised_db = psnr(truth, raw), psnr(truth, denoised)
    except ValueError:
        return (
            f"PSNR: reference '{reference_name}' has shape {truth.shape}, the image "
            f"{np.shape(raw)}; they must match (or the reference be one frame)"
        )
    return (
        f"PSNR against '{reference_name}': raw {raw_db:.2f} dB, denoised {denoised_db:.2f} dB "
        f"({denoised_db - raw_db:+.2f} dB)"
    )
