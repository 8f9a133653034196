"""OME-Zarr images with their axes and physical pixel sizes: lazy reading and block-wise writing.

An output store written here is one OME-Zarr image (NGFF 0.5, zarr format 3): a group whose
``ome.multiscales`` metadata names the axes (in the order ``T S C Z Y X``, as NGFF wants time
first and space last; ``S`` is an axis of type ``"sample"``) and gives the pixel sizes in
micrometres as a ``scale`` transformation, with one array ``"0"`` at full resolution. napari
(with napari-ome-zarr), ome-zarr-py and Fiji's N5/OME-Zarr readers open it as an image.

The group also carries ``"deconoising": {"complete": ..., "axes": ...}``: an output is created
with ``complete: false`` and marked complete only after the last block is written, so a store
left by a stopped run is never mistaken for a result.

Reading (:func:`read_zarr`) accepts such a store, any OME-Zarr image (NGFF 0.4 or 0.5) and a
plain zarr array (axes from the user or the default guess). The data stay on disk: the image's
``data`` is a dask array over the zarr array's chunks.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from napari_deconoising.errors import ImageError, one_line
from napari_deconoising.io.axes import AxesImage, normalise_spacing, resolve_axes
from napari_deconoising.io.layer_axes import um_per_unit

NGFF_VERSION = "0.5"
STORE_ORDER = "TSCZYX"
"""Axis order inside a written store (NGFF: time first, channel before space)."""
ATTRIBUTE = "deconoising"
"""Group attribute holding ``complete`` and the exact axes."""
_AXIS_TYPES = {"T": "time", "S": "sample", "C": "channel", "Z": "space", "Y": "space", "X": "space"}
_NGFF_TO_OURS = {"t": "T", "c": "C", "z": "Z", "y": "Y", "x": "X"}


def is_zarr_path(path: str | os.PathLike[str]) -> bool:
    """True for a name ending in ``.zarr`` (with or without a trailing slash)."""
    return str(path).rstrip("/\\").lower().endswith(".zarr")


def store_axes(axes: str) -> str:
    """The order in which a store written here keeps the axes of an image with ``axes``."""
    return "".join(a for a in STORE_ORDER if a in axes)


def _zarr() -> Any:
    try:
        import zarr
    except ImportError as err:  # zarr 3 needs Python 3.11
        raise ImageError("zarr stores need the zarr package (3 or newer, Python 3.11+)") from err
    return zarr


def _multiscales_metadata(axes: str, spacing: Mapping[str, float], name: str) -> dict[str, Any]:
    described = []
    for axis in axes:
        entry = {"name": axis.lower(), "type": _AXIS_TYPES[axis]}
        if axis in spacing:
            entry["unit"] = "micrometer"
        described.append(entry)
    scale = [float(spacing.get(axis, 1.0)) for axis in axes]
    return {
        "version": NGFF_VERSION,
        "multiscales": [
            {
                "name": name,
                "axes": described,
                "datasets": [
                    {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": scale}]}
                ],
            }
        ],
    }


def create_zarr(
    path: str | os.PathLike[str],
    shape: Sequence[int],
    axes: str,
    chunks: Sequence[int],
    spacing: Mapping[str, float] | None = None,
    dtype: str | np.dtype = "float32",
    name: str = "image",
) -> Any:
    """Create an empty OME-Zarr image at ``path`` (which must not exist), marked incomplete.

    ``shape``, ``chunks`` and ``axes`` are in the store's order (see :func:`store_axes`).
    Returns the full-resolution zarr array; call :func:`mark_complete` when it is filled.
    """
    zarr = _zarr()
    spacing = normalise_spacing(spacing, axes)
    try:
        group = zarr.open_group(str(path), mode="w-", zarr_format=3)
        group.attrs.update(
            {
                "ome": _multiscales_metadata(axes, spacing, name),
                ATTRIBUTE: {"complete": False, "axes": axes, "spacing": spacing},
            }
        )
        return group.create_array(
            "0",
            shape=tuple(int(n) for n in shape),
            chunks=tuple(int(n) for n in chunks),
            dtype=np.dtype(dtype),
            fill_value=0,
            dimension_names=[a.lower() for a in axes],
        )
    except (OSError, ValueError) as err:  # ContainsGroupError etc. are ValueErrors/OSErrors
        raise ImageError(f"cannot create {path}: {err}") from err


def mark_complete(path: str | os.PathLike[str]) -> None:
    """Mark a store made by :func:`create_zarr` as a finished result."""
    group = _zarr().open_group(str(path), mode="r+")
    info = dict(group.attrs.get(ATTRIBUTE, {}))
    info["complete"] = True
    group.attrs[ATTRIBUTE] = info


def is_complete(path: str | os.PathLike[str]) -> bool | None:
    """``True``/``False`` for a store written here, None for any other store."""
    try:
        group = _zarr().open_group(str(path), mode="r")
    except Exception:
        return None
    info = group.attrs.get(ATTRIBUTE)
    return bool(info.get("complete")) if isinstance(info, Mapping) else None


def read_zarr(path: str | os.PathLike[str], axes: str | None = None) -> AxesImage:
    """Open a zarr or OME-Zarr image lazily, with its axes and pixel sizes.

    Axes come from ``axes`` (the user's), else our own attribute, else the NGFF ``multiscales``
    axes (names t, c, z, y, x; any other axis becomes S), else the default guess. Pixel sizes
    come from the first dataset's ``scale`` (units converted to µm). The highest resolution is
    read. Raises :class:`ImageError` for a missing path, a store that is not zarr, a group with
    neither OME metadata nor an array, or a store that a run left incomplete.
    """
    path = Path(path)
    if not path.exists():
        raise ImageError(f"image not found: {path}")
    array, file_axes, spacing = _image_array(path)
    data = _lazy_view(path, array)
    try:
        final_axes, source = resolve_axes(data.shape, axes=axes, file_axes=file_axes)
    except ImageError as err:
        raise ImageError(f"{path.name}: {err}") from err
    name = path.name[: -len(".zarr")] if is_zarr_path(path) else path.name
    return AxesImage(data, final_axes, normalise_spacing(spacing, final_axes), source, name, path)


def _image_array(path: Path) -> tuple[Any, str | None, dict[str, float]]:
    """The zarr array to read (the store's, or an OME-Zarr group's full resolution), its axes
    (None when the store says nothing) and its pixel sizes; damaged metadata of the group or
    of its arrays raises :class:`ImageError`."""
    node = _open_node(path)
    if hasattr(node, "shape"):
        return node, None, {}
    if is_complete(path) is False:
        raise ImageError(
            f"{path} is an incomplete result of a stopped prediction; delete it and run again"
        )
    try:
        return _group_image(path, node)
    except ImageError:
        raise
    except Exception as err:  # zarr, JSON and pydantic errors about the arrays' metadata
        raise _damaged(path, err) from err


def _lazy_view(path: Path, array: Any) -> Any:
    """A dask array over the zarr ``array`` (read only when indexed and computed)."""
    import dask.array as da

    if not hasattr(array, "shape") or not hasattr(array, "chunks"):
        raise ImageError(f"cannot read {path}: the image's path in its metadata is not an array")
    try:
        return da.from_zarr(array)
    except Exception as err:  # a shape or chunk grid that dask cannot use
        raise _damaged(path, err) from err


def _damaged(path: Path, err: BaseException) -> ImageError:
    return ImageError(f"cannot read {path}: the zarr store is damaged ({one_line(err)})")


def _open_node(path: Path) -> Any:
    zarr = _zarr()
    try:
        return zarr.open(str(path), mode="r")
    except Exception as err:
        raise ImageError(
            f"cannot read {path}: it is not a zarr store, or its metadata is damaged "
            f"({one_line(err)})"
        ) from err


def _group_image(path: Path, group: Any) -> tuple[Any, str | None, dict[str, float]]:
    """The full-resolution array of an OME-Zarr group, its axes and its pixel sizes."""
    attrs = dict(group.attrs)
    ome = attrs.get("ome", attrs)
    multiscales = ome.get("multiscales") if isinstance(ome, Mapping) else None
    if not multiscales:
        if "0" in group and hasattr(group["0"], "shape"):
            return group["0"], None, {}
        raise ImageError(
            f"cannot read {path}: the zarr group has no OME-Zarr 'multiscales' metadata and no "
            "array '0'; give the path of the image array inside it"
        )
    scales = multiscales[0]
    try:
        dataset = scales["datasets"][0]
        array = group[dataset["path"]]
        names = [str(a["name"] if isinstance(a, Mapping) else a) for a in scales["axes"]]
        units = [a.get("unit") if isinstance(a, Mapping) else None for a in scales["axes"]]
    except (KeyError, IndexError, TypeError) as err:
        raise ImageError(f"cannot read {path}: damaged OME-Zarr metadata ({err})") from err
    ours = attrs.get(ATTRIBUTE)
    if isinstance(ours, Mapping) and isinstance(ours.get("axes"), str):
        axes = ours["axes"]
    else:
        axes = _ngff_axes(names)
    if isinstance(ours, Mapping) and isinstance(ours.get("spacing"), Mapping):
        return array, axes, dict(ours["spacing"])
    scale = _scale(dataset, scales, len(names))
    spacing = {}
    for axis, size, unit in zip(axes, scale, units, strict=False):
        factor = um_per_unit(unit or "micrometer")
        if axis in "ZYX" and factor and math.isfinite(size) and size > 0:
            spacing[axis] = size * factor
    return array, axes, spacing


def _ngff_axes(names: Sequence[str]) -> str:
    letters = [_NGFF_TO_OURS.get(n.lower(), "S") for n in names]
    return "".join(letters)


def _scale(dataset: Mapping[str, Any], multiscale: Mapping[str, Any], ndim: int) -> list[float]:
    """The product of the dataset's and the multiscale's ``scale`` transformations."""
    scale = [1.0] * ndim
    for source in (dataset, multiscale):
        for item in source.get("coordinateTransformations", []) or []:
            if item.get("type") == "scale" and len(item.get("scale", [])) == ndim:
                scale = [a * float(b) for a, b in zip(scale, item["scale"], strict=True)]
    return scale
