"""What the One-click widget runs: the PSF it uses, the training settings (the engine's defaults
for the mode it resolves) and the worker that trains and then predicts, reusing the Train and
Denoise & Deconvolve widgets' workers."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from napari_deconoising.config.prediction import PredictionConfig
from napari_deconoising.config.training import NetworkConfig, TrainingConfig
from napari_deconoising.io.axes import AxesImage
from napari_deconoising.model.bundle import AnyModel
from napari_deconoising.psf.automatic import automatic_recipe
from napari_deconoising.psf.recipe import PSFRecipe, make_psf
from napari_deconoising.training.mode import resolve_mode
from napari_deconoising.widgets._jobs import Job
from napari_deconoising.widgets._prediction_job import Prediction, predict
from napari_deconoising.widgets._preview import PreviewSlot
from napari_deconoising.widgets._psf_text import layer_voxel_um, widths_text
from napari_deconoising.widgets._training_job import train_job

if TYPE_CHECKING:
    from napari.layers import Image

#: The names of the network's settings (given to :func:`training_config` among the others).
NETWORK_SETTINGS = frozenset(field.name for field in dataclasses.fields(NetworkConfig))


@dataclass(frozen=True)
class UsedPSF:
    """The PSF a run uses: its pixels, and what the widget says about it."""

    pixels: np.ndarray
    label: str
    text: str


def layer_psf(layer: Image) -> UsedPSF:
    """The PSF in an image layer (read now, in the GUI thread), with its widths."""
    pixels = np.asarray(layer.data, dtype=np.float32)
    widths = widths_text(pixels, layer_voxel_um(layer), separator=", ")
    return UsedPSF(pixels, f"PSF layer '{layer.name}'", f"layer '{layer.name}': {widths}")


def automatic_psf(image: AxesImage) -> UsedPSF:
    """The PSF assumed for ``image`` (:func:`~napari_deconoising.psf.automatic.automatic_recipe`),
    with what it was made from and its widths."""
    recipe = automatic_recipe(image)
    pixels = make_psf(recipe)
    widths = widths_text(pixels, recipe.voxel_um, separator=", ")
    return UsedPSF(pixels, "the automatic PSF", f"automatic: {recipe_text(recipe)}; {widths}")


def recipe_text(recipe: PSFRecipe) -> str:
    """What an automatic PSF is made from, e.g. ``"a 3D Gaussian for NA 1.4 and 520 nm
    emission at the layer's 0.1 µm pixels and 0.25 µm z-step"``."""
    kind = "a 3D Gaussian" if recipe.spatial_dims == 3 else "a Gaussian"
    if recipe.voxel_um is None:
        axial = f", {recipe.sigma_z:g} planes along Z" if recipe.spatial_dims == 3 else ""
        return f"{kind} of sigma {recipe.sigma:g} px{axial} (the layer has no pixel size)"
    z_step, pixel = recipe.voxel_um[0], recipe.voxel_um[-1]
    step = f" and {z_step:.4g} µm z-step" if recipe.spatial_dims == 3 else ""
    return (
        f"{kind} for NA {recipe.na:g} and {recipe.wavelength_nm:g} nm emission at the "
        f"layer's {pixel:.4g} µm pixels{step}"
    )


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
