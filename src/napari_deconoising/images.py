"""Reading, checking and normalising input images (2D or stacks of 2D frames)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from .errors import ImageError
from .io.axes import check_not_rgb, looks_rgb
from .sampling import spread


def as_frames(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Check an image and return it as a float32 stack of frames (N, Y, X).

    Accepts 2D (Y, X) or 3D (N, Y, X) arrays of any integer or float dtype. Raises
    :class:`ImageError` for other dimensionalities, RGB images, complex data or NaNs.
    """
    array = np.asarray(image)
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
            image = _thinned(image, max_pixels)
        frames.extend(as_frames(image, name=name))
    return frames


def _thinned(image: Any, max_pixels: int) -> np.ndarray:
    """``image`` as a numpy array, keeping only evenly spread frames of a long (N, Y, X) stack."""
    shape = tuple(getattr(image, "shape", np.shape(image)))
    if len(shape) == 3 and not looks_rgb(shape):
        keep = max(1, max_pixels // max(shape[1] * shape[2], 1))
        if shape[0] > keep:
            chosen = spread(shape[0], keep)
            try:  # numpy and dask index lazily, other array types may not
                image = image[chosen]
            except (TypeError, IndexError, ValueError):
                image = np.asarray(image)[chosen]
    return np.asarray(image)


def read_image(path: str | Path) -> np.ndarray:
    """Read a TIFF as a numpy array, with a clear error for missing or unreadable files."""
    import tifffile

    path = Path(path)
    if not path.is_file():
        raise ImageError(f"image file not found: {path}")
    try:
        return tifffile.imread(path)
    except Exception as err:
        raise ImageError(f"cannot read {path} as a TIFF image: {err}") from err


def write_image(path: str | Path, image: np.ndarray) -> Path:
    """Write a float32 TIFF, creating the folder."""
    import tifffile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, np.asarray(image, dtype=np.float32))
    return path


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
