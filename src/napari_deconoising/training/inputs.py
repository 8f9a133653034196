"""What a training run is given, checked: images per channel, PSFs, the model to continue, and
the output paths."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from napari_deconoising.config.training import TrainingConfig
from napari_deconoising.data.channels import as_axes_image
from napari_deconoising.data.stacks import channel_stacks
from napari_deconoising.errors import ImageError, PSFError
from napari_deconoising.io.axes import AxesImage
from napari_deconoising.io.outputs import check_outputs, image_source
from napari_deconoising.model.bundle import AnyModel, load_model
from napari_deconoising.psf.prepare import prepare_psf

Images = np.ndarray | AxesImage | Sequence[np.ndarray | AxesImage]
PSFs = np.ndarray | Sequence[np.ndarray] | None
Model = AnyModel
Splitter = Callable[[AxesImage], list[Any]]

#: How an image is cut into per-channel stacks, by (spatial dims, streamed from disk): frames
#: (Y, X) or volumes (Z, Y, X), as arrays or as :class:`LazyFrame` handles.
SPLITTERS: dict[tuple[int, bool], Splitter] = {
    (dims, lazy): partial(channel_stacks, spatial_dims=dims, lazy=lazy)
    for dims in (2, 3)
    for lazy in (False, True)
}


def last_checkpoint_path(model_path: str | Path) -> Path:
    """Where the last (not best) network of a run saved at ``model_path`` is written."""
    path = Path(model_path)
    return path.with_name(f"{path.stem}.last{path.suffix or '.pt'}")


def checked_model_path(
    model_path: str | Path | None,
    given: Any,
    images: Sequence[AxesImage],
    init: Any,
    overwrite: bool,
) -> Path | None:
    """``model_path`` after the output policy's checks of it and its ``.last`` sibling."""
    if model_path is None:
        return None
    arrays = list(given) if isinstance(given, list | tuple) else [given]
    inputs = [image_source(image) for image in [*arrays, *images]]
    inputs.append(Path(init) if isinstance(init, str | Path) else None)
    outputs = [model_path, last_checkpoint_path(model_path)]
    return check_outputs(outputs, inputs, overwrite=overwrite)[0]


def initial_model(init: Model | str | Path | None) -> Model | None:
    """The model to continue (loaded when given as a path), or None."""
    if init is None or isinstance(init, AnyModel):
        return init
    return load_model(init)


def continued_config(config: TrainingConfig, init: Model | None) -> TrainingConfig:
    """``config`` with what a continued model fixes: architecture, output scale, mode and
    design (what its network's output is)."""
    if init is None:
        return config
    first = init.channels[0]
    return config.replace(
        network=first.network.config,
        output_scale=first.output_scale,
        n2v=first.is_n2v,
        design="two-stage" if first.two_stage else "joint",
    )


def steps_done(model: Model) -> int:
    """Optimiser steps a model has been trained for (0 when its file does not say)."""
    return int(model.channels[0].metadata.get("steps") or 0)


def check_continuation(init: Model, n_channels: int) -> None:
    """Raise :class:`ImageError` when images of ``n_channels`` channels cannot continue ``init``."""
    if init.n_channels != n_channels:
        raise ImageError(
            f"the model to continue was trained on {init.n_channels} channel(s), but the images "
            f"have {n_channels}; continue with images of the same channels"
        )


def megabytes_text(megabytes: float) -> str:
    """``512 MB`` or ``1.5 GB``."""
    return f"{megabytes / 1024:.1f} GB" if megabytes >= 1024 else f"{megabytes:.0f} MB"


def axes_images(images: Images, axes: str | None) -> list[AxesImage]:
    """The training images as :class:`AxesImage` (named ``image 1``, ``image 2``... in errors)."""
    single = isinstance(images, AxesImage) or hasattr(images, "shape")
    items = [images] if single else list(images)  # type: ignore[list-item]
    if not items:
        raise ImageError("no training images given")
    names = ["image"] if len(items) == 1 else [f"image {i + 1}" for i in range(len(items))]
    return [as_axes_image(item, axes, name) for item, name in zip(items, names, strict=True)]


def per_channel(images: list[AxesImage], split: Splitter) -> list[list[Any]]:
    """Per channel, the frames or volumes (as ``split`` cuts them) of every image; images with
    different channel counts are refused."""
    counts = {image.n_channels for image in images}
    if len(counts) > 1:
        raise ImageError(
            "the training images have different channel counts ("
            + ", ".join(image.describe() for image in images)
            + "); train on images with the same channels"
        )
    stacks: list[list[Any]] = [[] for _ in range(counts.pop())]
    for image in images:
        for channel, stack in enumerate(split(image)):
            stacks[channel].extend(stack)
    return stacks


def checked_psfs(
    psf: PSFs, n_channels: int, config: TrainingConfig, spatial_dims: int
) -> list[np.ndarray | None]:
    """One PSF per channel, prepared for ``spatial_dims`` (all None for N2V)."""
    if config.n2v:
        return [None] * n_channels
    if psf is None:
        raise PSFError("DecoNoising needs a PSF; give one, or train in N2V mode")
    if isinstance(psf, np.ndarray) or hasattr(psf, "shape"):
        return [prepare_psf(psf, spatial_dims=spatial_dims)] * n_channels
    psfs = list(psf)
    if len(psfs) != n_channels:
        raise PSFError(
            f"got {len(psfs)} PSFs for {n_channels} channel(s); give one PSF per channel "
            "(or one for all)"
        )
    return [prepare_psf(p, spatial_dims=spatial_dims) for p in psfs]


def voxel_metadata(image: AxesImage, spatial_dims: int) -> dict[str, list[float] | None]:
    """What a model's metadata says of the training voxel: ``{"voxel_size_um": [z, y, x]}``
    (None when unknown) for volumes; nothing for planes (2D models keep ``pixel_size_um``)."""
    if spatial_dims == 2:
        return {}
    spacing, pixel = image.spacing, image.pixel_size
    if "Z" not in spacing or pixel is None:
        return {"voxel_size_um": None}
    return {"voxel_size_um": [spacing["Z"], spacing.get("Y", pixel), pixel]}
