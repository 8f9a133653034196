"""What the One-click widget runs: the training settings (the engine's defaults for the mode it
resolves) and the worker that trains and then predicts, reusing the Train and Denoise &
Deconvolve widgets' workers. The PSF it uses is :mod:`._used_psf`'s."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from napari_deconoising.config.prediction import PredictionConfig
from napari_deconoising.config.training import NetworkConfig, TrainingConfig
from napari_deconoising.io.axes import AxesImage
from napari_deconoising.model.bundle import AnyModel
from napari_deconoising.training.mode import resolve_mode
from napari_deconoising.widgets._jobs import Job
from napari_deconoising.widgets._prediction_job import Prediction, predict
from napari_deconoising.widgets._preview import PreviewSlot
from napari_deconoising.widgets._training_job import train_job
from napari_deconoising.widgets._used_psf import UsedPSF

#: The names of the network's settings (given to :func:`training_config` among the others).
NETWORK_SETTINGS = frozenset(field.name for field in dataclasses.fields(NetworkConfig))


def training_config(
    image: AxesImage, psf: np.ndarray, minutes: float, settings: dict[str, Any]
) -> TrainingConfig:
    """The engine's defaults for the mode ``auto`` resolves to (3D for a z-stack with a 3D PSF,
    see :func:`~napari_deconoising.training.resolve_mode`), trained for ``minutes``, with
    ``settings`` on top (names of training or network settings; ``steps`` replaces the
    minutes). Raises the engine's clear errors (a 3D PSF for a layer without Z...)."""
    mode = resolve_mode("auto", [image], psf)
    values = {"minutes": minutes, **settings}
    if "steps" in settings:
        values["minutes"] = None
    network = {name: values.pop(name) for name in list(values) if name in NETWORK_SETTINGS}
    return TrainingConfig.for_mode(mode, network=network, **values)


@dataclass(frozen=True)
class Predicting:
    """Yielded when training is over and prediction begins."""


@dataclass(frozen=True)
class OneClickResult:
    """What the worker returns: the trained model and the prediction."""

    model: AnyModel
    prediction: Prediction


def train_and_predict(
    job: Job,
    image: AxesImage,
    psf: UsedPSF,
    config: TrainingConfig,
    path: str | None,
    overwrite: bool,
    prediction_config: PredictionConfig,
):
    """Worker: train a new network on ``image`` (the Train widget's worker, without preview),
    then predict ``image`` with it (the Denoise & Deconvolve widget's worker). A stop during
    training cancels the whole run."""
    model, _ = yield from train_job(
        job,
        image,
        [(psf.label, psf.pixels)],
        config,
        path,
        overwrite,
        image.name,
        None,
        None,
        PreviewSlot(),
    )
    job.raise_if_stopped()
    yield Predicting()
    prediction = yield from predict(job, image, model, None, prediction_config, None, "")
    return OneClickResult(model, prediction)
