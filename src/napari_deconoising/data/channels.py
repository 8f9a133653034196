"""Images as a model takes them: any input as an :class:`~napari_deconoising.io.AxesImage`,
and checks that an image fits a model (channel count, pixel size).

Splitting an image into per-channel stacks of frames or volumes, and merging results back, is
:mod:`napari_deconoising.data.stacks`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

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
        return AxesImage(image.data, axes, image.spacing, "user", image.name, optics=image.optics)
    array = image if hasattr(image, "shape") and hasattr(image, "dtype") else np.asarray(image)
    if axes is not None:
        return AxesImage(array, axes, {}, "user", name)
    ndim, shape = len(array.shape), tuple(array.shape)
    if ndim not in (2, 3):
        raise ImageError(
            (
                f"{name}: a {ndim}D image {shape} needs its axes, e.g. "
                f"axes='{default_axes(shape)}' (letters from STCZYX)"
            )
            if ndim > 3
            else (
                f"{name}: expected a 2D image (Y, X) or a stack of 2D frames (N, Y, X), got "
                f"{ndim}D with shape {shape}"
            )
        )
    check_not_rgb(shape, axes_source="default", name=name)
    return AxesImage(array, default_axes(shape), {}, "default", name)


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
