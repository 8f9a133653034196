"""The report's measurements: time per frame, fidelity, float16 rounding, weight fingerprints."""

from __future__ import annotations

import copy
import hashlib
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from napari_deconoising.config.base import Storage
from napari_deconoising.config.prediction import PredictionConfig
from napari_deconoising.evaluation.metrics import psnr
from napari_deconoising.model.bundle import DecoNoisingModel
from napari_deconoising.model.devices import compute_dtype
from napari_deconoising.prediction.predictor import PredictionResult, Predictor

#: Weights are kept in float16 only if rounding them changes the outputs by at most this root mean
#: square share of the output's range (1e-3: a PSNR of 60 dB against the float32 outputs).
FLOAT16_MAX_ERROR = 1e-3


def timing_frame(frames: Sequence[np.ndarray], size: int) -> np.ndarray:
    """A ``size`` x ``size`` frame cut from (or tiled out of) the first frame; for volumes, all
    its planes at ``size`` x ``size``."""
    frame = np.asarray(frames[0], dtype=np.float32)
    reps = (1,) * (frame.ndim - 2) + tuple(math.ceil(size / n) for n in frame.shape[-2:])
    return np.ascontiguousarray(np.tile(frame, reps)[..., :size, :size])


def ms_per_frame(
    models: Sequence[DecoNoisingModel],
    frame: np.ndarray,
    repeats: int = 3,
    config: PredictionConfig | None = None,
    check: Callable[[], None] | None = None,
) -> list[tuple[float, float]]:
    """Best and median milliseconds per ``frame`` for each model, measured interleaved.

    Each model predicts once to warm up, then the models take turns ``repeats`` times, so that
    load from other processes disturbs them alike; the best time is the least disturbed one.
    ``check`` is called between runs (to cancel).
    """
    predictors = [Predictor(model, config) for model in models]
    for predictor in predictors:
        predictor.predict(frame)
    times: list[list[float]] = [[] for _ in predictors]
    for _ in range(repeats):
        for predictor, record in zip(predictors, times, strict=True):
            if check is not None:
                check()
            start = time.perf_counter()
            predictor.predict(frame)
            record.append(1000 * (time.perf_counter() - start))
    return [(min(record), float(np.median(record))) for record in times]


def mean_psnr(
    pairs: Iterable[tuple[PredictionResult, PredictionResult]],
) -> tuple[float, float]:
    """Mean PSNR of (denoised, deconvolved) over (reference, result) pairs, against the
    reference (whose range is the peak)."""
    denoised, deconvolved = [], []
    for reference, result in pairs:
        with np.errstate(divide="ignore", invalid="ignore"):  # a flat reference gives -inf
            denoised.append(psnr(reference.denoised, result.denoised))
            deconvolved.append(psnr(reference.deconvolved, result.deconvolved))
    return float(np.mean(denoised)), float(np.mean(deconvolved))


def round_weights(network: nn.Module, probe: torch.Tensor, storage: Storage) -> Storage:
    """Round ``network``'s weights through float16 if that keeps its outputs on ``probe``
    (within :data:`FLOAT16_MAX_ERROR`); returns the storage to save them with.

    With ``storage="float32"``, or when rounding would change the outputs, the weights are left
    as they were and ``"float32"`` is returned.
    """
    if storage == "float32":
        return "float32"
    with torch.inference_mode():
        before = network(probe)
    state = copy.deepcopy(network.state_dict())
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.copy_(parameter.half().float())
        after = network(probe)
    spread = max(float(before.max() - before.min()), 1e-6)
    close = float((after - before).pow(2).mean().sqrt()) / spread <= FLOAT16_MAX_ERROR
    if close and all(bool(torch.isfinite(p).all()) for p in network.parameters()):
        return "float16"
    network.load_state_dict(state)
    return "float32"


def weights_fingerprint(network: nn.Module) -> str:
    """SHA-256 of the network's weights (names, shapes and float32 values)."""
    digest = hashlib.sha256()
    for name, tensor in network.state_dict().items():
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().float().contiguous().numpy().tobytes())
    return digest.hexdigest()


def compute_precision(device: torch.device, precision: str = "auto") -> str:
    """The arithmetic the Predictor uses on ``device`` with the ``precision`` setting, for the
    report."""
    dtype = compute_dtype(device, precision)
    mode = "" if dtype == "float32" else " autocast"
    return f"{dtype}{mode} ({device.type.upper()})"


def load_average() -> float | None:
    """The one-minute load average (None where the system has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None
