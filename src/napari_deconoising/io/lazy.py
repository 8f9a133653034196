"""Opening images of any size without reading them: TIFF, zarr/OME-Zarr and dask arrays.

:func:`open_image` gives an :class:`~napari_deconoising.io.AxesImage` whose ``data`` stays on
disk until indexed: a read-only ``numpy.memmap`` for uncompressed TIFFs, a dask array over
tifffile's zarr view for compressed, tiled or BigTIFF files, and a dask array over the zarr
array of a (OME-)Zarr store. :func:`find_inputs` expands files, globs and folders into the
list of images to process.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from napari_deconoising.errors import ImageError
from napari_deconoising.io.axes import AxesImage, resolve_axes
from napari_deconoising.io.tiff_read import read_tiff
from napari_deconoising.io.zarr_io import is_zarr_path, read_zarr

IMAGE_SUFFIXES = (".tif", ".tiff", ".zarr")


def open_image(path: str | os.PathLike[str], axes: str | None = None) -> AxesImage:
    """Open a TIFF file or a zarr/OME-Zarr store lazily, with its axes and pixel sizes.

    ``axes`` (the user's) wins over the file's metadata. Raises :class:`ImageError` for a
    missing, damaged or unsupported input.
    """
    path = Path(path)
    if is_zarr_path(path) or (path.is_dir() and (path / "zarr.json").exists()):
        return read_zarr(path, axes)
    if path.is_dir():
        raise ImageError(f"{path} is a folder, not an image (TIFF file or .zarr store)")
    return read_tiff(path, axes, lazy=True)


def lazy_image(
    data: Any,
    axes: str | None = None,
    spacing: Mapping[str, float] | None = None,
    name: str = "image",
) -> AxesImage:
    """Wrap an array that must not be read whole (a dask array, a zarr array, a memmap)."""
    final_axes, source = resolve_axes(tuple(data.shape), axes=axes)
    return AxesImage(data, final_axes, dict(spacing or {}), source, name)


def find_inputs(items: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Expand input arguments into image paths, in the order given (sorted within each item).

    An item is a file or a ``.zarr`` store, a glob pattern (``"data/*.tif"``), or a folder
    (its TIFF files and ``.zarr`` stores, not its sub-folders). Raises :class:`ImageError`
    when an item matches nothing, and lists each image once.
    """
    found: list[Path] = []
    for item in items:
        text = os.fspath(item)
        path = Path(text)
        if path.exists() and (not path.is_dir() or is_zarr_path(path)):
            matches = [path]
        elif path.is_dir():
            matches = sorted(p for p in path.iterdir() if _is_image(p))
            if not matches:
                raise ImageError(f"{path} holds no TIFF files or .zarr stores")
        elif glob.has_magic(text):
            matches = sorted(Path(p) for p in glob.glob(text) if _is_image(Path(p)))
            if not matches:
                raise ImageError(f"no TIFF files or .zarr stores match {text}")
        else:
            raise ImageError(f"image file not found: {path}")
        found += [m for m in matches if m not in found]
    return found


def _is_image(path: Path) -> bool:
    name = path.name.lower()
    return not name.startswith(".") and name.endswith(IMAGE_SUFFIXES)
