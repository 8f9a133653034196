"""From an axes-aware image to what the 2D engine works on, and back.

The engine trains and predicts on stacks of 2D frames (plane-by-plane mode) or of 3D volumes
(3D mode), one stack per channel: every axis but C, Y and X (and Z in 3D mode) only numbers
independent frames. This module splits an :class:`~napari_deconoising.io.AxesImage` into those
per-channel stacks, puts results back into the input's shape and axes, and checks that an image
fits a model (channel count, pixel size, dimensionality).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from napari_deconoising.data.images import as_frames, pixel_source, read_pixels
from napari_deconoising.errors import ImageError
from napari_deconoising.io.axes import AxesImage, check_not_rgb, default_axes

#: A model applied to images whose pixel size differs by more than this share gets a warning.
PIXEL_SIZE_TOLERANCE = 0.10


def as_axes_image(image: Any, axes: str | None = None, name: str = "image") -> AxesImage:
    """``image`` as an :class:`AxesImage`.

    ``axes`` (the user's word) wins over what an :class:`AxesImage` already says. A plain array
    without ``axes`` is read as ``YX`` (2D) or ``SYX`` (3D: a stack of frames); a plain array
    of 4 or more dimensions needs ``axes``, since there is no safe guess.
    """
    if isinstance(image, AxesImage):
        if axes is None:
            return image
        return AxesImage(image.data, axes, image.spacing, "user", image.name)
    array = image if hasattr(image, "shape") and hasattr(image, "dtype") else np.asarray(image)
    if axes is not None:
        return AxesImage(array, axes, {}, "user", name)
    if len(array.shape) > 3:
        raise ImageError(
            f"{name}: a {len(array.shape)}D image {tuple(array.shape)} needs its axes, e.g. "
            f"axes='{default_axes(array.shape)}' (letters from STCZYX)"
        )
    if len(array.shape) < 2:
        raise ImageError(
            f"{name}: expected a 2D image (Y, X) or a stack of 2D frames (N, Y, X), got "
            f"{len(array.shape)}D with shape {tuple(array.shape)}"
        )
    check_not_rgb(tuple(array.shape), axes_source="default", name=name)
    return AxesImage(array, default_axes(array.shape), {}, "default", name)


def _channel_first(image: AxesImage) -> tuple[Any, str]:
    """The data with C first (a length-1 C added when missing), then the axes that number
    frames in the input's order, then Y and X (whatever order the input had them in)."""
    data, axes = image.data, image.axes
    if "C" not in axes:
        data, axes = data[None], "C" + axes
    moved = "C" + "".join(a for a in axes if a not in "CYX") + "YX"
    return np.transpose(data, [axes.index(a) for a in moved]), moved


def channel_frames(image: AxesImage) -> list[np.ndarray]:
    """One float32 stack of 2D frames (N, Y, X) per channel; frames follow the input's order."""
    data, _ = _channel_first(image)
    stacks = []
    for index in range(data.shape[0]):
        channel = read_pixels(data, index, source=pixel_source(image))
        name = image.name if data.shape[0] == 1 else f"{image.name}, channel {index}"
        stacks.append(as_frames(channel.reshape((-1, *channel.shape[-2:])), name=name))
    return stacks


def _volume_order(image: AxesImage) -> list[int]:
    """Axis order putting C first, then the axes that number volumes, then Z, Y, X."""
    axes = image.axes
    if "Z" not in axes:
        raise ImageError(
            f"{image.name} ({image.describe()}) has no Z axis; 3D models and 3D training need "
            "a z-stack (give its axes with Z, e.g. 'ZYX', or use 2D mode)"
        )
    numbering = [a for a in axes if a not in "CZYX"]
    order = ["C"] if "C" in axes else []
    return [axes.index(a) for a in order + numbering + ["Z", "Y", "X"]]


def channel_volumes(image: AxesImage) -> list[np.ndarray]:
    """One float32 stack of volumes (N, Z, Y, X) per channel; volumes follow the input's order
    (S and T number them). Raises :class:`ImageError` when ``image`` has no Z axis."""
    data = np.transpose(image.data, _volume_order(image))
    data = data if "C" in image.axes else data[None]
    stacks = []
    for index in range(data.shape[0]):
        channel = read_pixels(data, index, source=pixel_source(image))
        name = image.name if data.shape[0] == 1 else f"{image.name}, channel {index}"
        frames = as_frames(channel.reshape((-1, *channel.shape[-2:])), name=name)
        stacks.append(frames.reshape((-1, *channel.shape[-3:])))
    return stacks


def merge_channel_volumes(stacks: Sequence[np.ndarray], image: AxesImage) -> np.ndarray:
    """Put per-channel volume stacks (as :func:`channel_volumes` gives) back into ``image``'s
    shape and axes order."""
    order = _volume_order(image)
    moved_shape = [image.shape[i] for i in order]
    inner = moved_shape[1:] if "C" in image.axes else moved_shape
    merged = np.stack([np.asarray(s).reshape(inner) for s in stacks])
    merged = merged if "C" in image.axes else merged[0]
    return np.transpose(merged, np.argsort(order))


def merge_channels(stacks: Sequence[np.ndarray], image: AxesImage) -> np.ndarray:
    """Put per-channel frame stacks (as :func:`channel_frames` gives) back into ``image``'s
    shape and axes order."""
    _, axes = _channel_first(image)
    sizes = image.sizes
    channel_shape = tuple(sizes[a] for a in axes[1:])
    merged = np.stack([np.asarray(s).reshape(channel_shape) for s in stacks])
    if "C" not in image.axes:
        merged, axes = merged[0], axes[1:]
    return np.transpose(merged, [axes.index(a) for a in image.axes])


def check_channel_count(n_model: int, image: AxesImage) -> None:
    """Raise :class:`ImageError` when a model of ``n_model`` channels cannot take ``image``."""
    n_image = image.n_channels
    if n_model == n_image:
        return
    if "C" not in image.axes:
        raise ImageError(
            f"the model was trained on {n_model} channels, but {image.name} "
            f"({image.describe()}) has no C axis; give its axes with C, e.g. 'C{image.axes}'"
        )
    raise ImageError(
        f"the model was trained on {n_model} channel(s), but {image.name} has {n_image} "
        f"({image.describe()}); use a model trained on {n_image} channel(s)"
    )


def pixel_size_warning(model_pixel_size: float | None, image: AxesImage) -> str | None:
    """A warning when the image's pixel size differs from the model's by more than 10%."""
    pixel = image.pixel_size
    if model_pixel_size is None or pixel is None:
        return None
    if abs(pixel - model_pixel_size) <= PIXEL_SIZE_TOLERANCE * model_pixel_size:
        return None
    return (
        f"{image.name} has {pixel:.4g} µm pixels but the model was trained at "
        f"{model_pixel_size:.4g} µm: its PSF no longer fits the image (retrain, or resample)"
    )
