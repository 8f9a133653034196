"""Reading, checking and normalising input images (2D or stacks of 2D frames)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from napari_deconoising.errors import DeconoisingError, ImageError, one_line
from napari_deconoising.io.axes import AxesImage, check_not_rgb, looks_rgb
from napari_deconoising.io.outputs import image_source


def read_pixels(
    data: Any,
    key: Any = None,
    *,
    source: str | os.PathLike[str] = "image",
    dtype: Any = None,
    scheduler: str | None = None,
) -> np.ndarray:
    """Read ``data[key]`` (all of ``data`` when ``key`` is None) into a numpy array now.

    The one place where pixels of an image that may still be on disk are read: a dask or zarr
    array, a memory map or a file read row by row. Whatever goes wrong while decoding or
    reading (a damaged compressed strip or chunk, a truncated or vanished file, a codec or
    storage error) raises :class:`ImageError` naming ``source`` (the file, or the image's
    name) and saying that it is damaged or unreadable; running out of memory says so.
    ``dtype`` converts the result (e.g. ``np.float32``); ``scheduler`` is the dask scheduler
    that computes a dask array (e.g. ``"synchronous"``: in this thread; default: dask's).
    """
    try:
        part = data if key is None else data[key]
        if scheduler is not None and hasattr(part, "compute"):
            part = part.compute(scheduler=scheduler)
        return np.asarray(part, dtype=dtype)
    except DeconoisingError:
        raise
    except MemoryError as err:
        raise ImageError(
            f"cannot read {source}: its pixels do not fit in memory ({_detail(err)})"
        ) from err
    except Exception as err:  # codec, zarr, tifffile and OS errors alike
        raise ImageError(
            f"cannot read {source}: the file is damaged or unreadable ({_detail(err)})"
        ) from err


def pixel_source(image: AxesImage) -> str:
    """How errors name where ``image``'s pixels come from: its file, else its name."""
    path = image_source(image)
    return image.name if path is None else str(path)


def _detail(err: BaseException) -> str:
    """A reader's error as one short line: its type and its first words."""
    return f"{type(err).__name__}: {one_line(err)}"


def as_frames(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Check an image and return it as a float32 stack of frames (N, Y, X).

    Accepts 2D (Y, X) or 3D (N, Y, X) arrays of any integer or float dtype. Raises
    :class:`ImageError` for other dimensionalities, RGB images, complex data or NaNs.
    """
    array = read_pixels(image, source=name)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number):
        raise ImageError(f"{name}: expected numbers, got dtype {array.dtype}")
    if np.iscomplexobj(array):
        raise ImageError(f"{name}: complex images are not supported")
    check_not_rgb(array.shape, axes_source="default", name=name)
    if array.ndim not in (2, 3):
        raise ImageError(
            f"{name}: expected a 2D image (Y, X) or a stack of 2D frames (N, Y, X), got "
            f"{array.ndim}D with shape {array.shape}"
        )
    frames = array.astype(np.float32, copy=False).reshape((-1, *array.shape[-2:]))
    if frames.size == 0:
        raise ImageError(f"{name}: the image is empty")
    if not np.all(np.isfinite(frames)):
        raise ImageError(f"{name}: the image contains NaN or infinite values")
    return frames


def collect_frames(
    images: Any, max_pixels: int | None = None, purpose: str = "training"
) -> list[np.ndarray]:
    """The checked float32 frames of one image or a list of images (each 2D or a stack).

    With ``max_pixels``, a long stack keeps only evenly spread frames (at most about that many
    pixels per image), chosen *before* conversion, so a long time-lapse is never copied whole.
    Errors name the image (``image 2``) when there are several.
    """
    arrays = [images] if hasattr(images, "shape") else list(images)
    if len(arrays) == 0:
        raise ImageError(f"no images given for {purpose}")
    frames: list[np.ndarray] = []
    for index, image in enumerate(arrays):
        name = f"image {index + 1}" if len(arrays) > 1 else "image"
        if max_pixels is not None:
            image = _thinned(image, max_pixels, name)
        frames.extend(as_frames(image, name=name))
    return frames


def _thinned(image: Any, max_pixels: int, name: str = "image") -> np.ndarray:
    """``image`` as a numpy array, keeping only evenly spread frames of a long (N, Y, X) stack
    (numpy, dask and zarr arrays read only those frames)."""
    if not hasattr(image, "shape"):  # nested lists
        image = np.asarray(image)
    shape = tuple(image.shape)
    if len(shape) == 3 and not looks_rgb(shape):
        keep = max(1, max_pixels // max(shape[1] * shape[2], 1))
        if shape[0] > keep:
            return read_pixels(image, spread(shape[0], keep), source=name)
    return read_pixels(image, source=name)


def estimate_offset(frames: Sequence[np.ndarray], max_frames: int = 16) -> float:
    """Estimate the camera offset (the value of zero photons) from the data.

    Each frame is smoothed with a 5x5 box (to beat the noise) and its 0.5th percentile taken;
    the median over frames is returned. On structures without background this errs low, which
    only weakens the positivity constraint, never makes it wrong.
    """
    step = max(1, len(frames) // max_frames)
    levels = [
        np.percentile(ndimage.uniform_filter(np.asarray(f, np.float32), size=5), 0.5)
        for f in list(frames)[::step]
    ]
    return float(np.median(levels))


def spread(total: int, count: int) -> list[int]:
    """``count`` distinct indices spread evenly over ``range(total)``."""
    return sorted({round(x) for x in np.linspace(0, total - 1, count)})
