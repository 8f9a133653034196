"""Writing ImageJ hyperstacks and OME-TIFF files that Fiji and
:func:`~napari_deconoising.io.read_tiff` read back with the same axes and pixel sizes."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from napari_deconoising.errors import ImageError
from napari_deconoising.io.axes import (
    AxesImage,
    default_axes,
    normalise_spacing,
    reorder,
    validate_axes,
)
from napari_deconoising.io.dtypes import convert_values, output_dtype
from napari_deconoising.io.outputs import atomic_write, check_outputs
from napari_deconoising.io.tiff_tag import AXES_TAG, TAG_KEY

_IMAGEJ_ORDER = "STZCYX"  # S and T both become ImageJ's T (frames)
_OME_ORDER = "TSCZYX"  # S is written as OME modulo 'Q' ("other"), right after T
_IMAGEJ_DTYPES = tuple(np.dtype(t) for t in ("uint8", "uint16", "float32"))


def write_tiff(
    path: str | os.PathLike[str],
    image: AxesImage | np.ndarray,
    axes: str | None = None,
    spacing: Mapping[str, float] | None = None,
    dtype: str | np.dtype | type = "float32",
    input_dtype: str | np.dtype | type | None = None,
    overwrite: bool = False,
) -> Path:
    """Write an image as a TIFF that Fiji and :func:`read_tiff` read with the same axes and sizes.

    Format by suffix: ``.ome.tif``/``.ome.tiff`` gives OME-TIFF (axes and PhysicalSize in µm;
    S becomes OME's modulo axis ``Q``, "other"); any other ``.tif``/``.tiff`` gives an
    ImageJ hyperstack in ImageJ's TZCYX order, with ``unit=um``, the XY pixel size as
    resolution and the Z step as ``spacing`` (written only when X and Y are both known, as
    ImageJ has one unit for all axes). ImageJ has no S axis: S becomes ImageJ's T (frames);
    with both S and T, S is folded into T (S*T frames, T varying fastest). ImageJ only stores
    uint8, uint16 and float32: other types are written to the ``.tif`` with OME metadata
    instead (Fiji then needs Bio-Formats to see the axes).

    ``image`` is an :class:`AxesImage` or an array; ``axes`` (default: the image's, or
    :func:`default_axes` for an array) and ``spacing`` (µm per Z/Y/X; default: the image's)
    override the image's. ``dtype``:

    - ``"float32"`` (default): float32;
    - ``"input"``: the type of ``input_dtype`` (default: the data's own type); integer types
      get rounded and clipped values (for pipelines that expect e.g. uint16), float inputs
      give float32;
    - a numpy dtype: integers are rounded and clipped as above; float16 is written as float32.
      int64/uint64/complex are refused (neither format stores them).

    Round trip: ``read_tiff(write_tiff(p, img))`` gives the same set of axes, each holding the
    same data, possibly in the file's order (``STZCYX`` order restricted to the present axes
    for ImageJ; for OME the caller's order with Y X last, or ``TSCZYX`` when there is an S),
    and the same spacing within 1e-6 (relative).

    An existing file is replaced only with ``overwrite`` (see :mod:`napari_deconoising.io.outputs`).
    The parent folder is created; the file is written to a temporary file in the same folder
    and renamed, so a failed write leaves nothing behind. Returns the path.
    """
    path = Path(path)
    check_outputs([path], overwrite=overwrite)
    kind = _format_for(path)
    data, axes, spacing, source_dtype = _unpack(image, axes, spacing)
    target = output_dtype(dtype, source_dtype, input_dtype)
    array = convert_values(np.asarray(data), target)
    if kind == "imagej" and target not in _IMAGEJ_DTYPES:
        kind = "ome"
    if kind == "imagej":
        array, written, options = _imagej_layout(array, axes, spacing)
    else:
        array, written, options = _ome_layout(array, axes, spacing)
    stored = {TAG_KEY: 1, "axes": written[0], "shape": list(written[1]), "spacing": spacing}
    options["extratags"] = [(AXES_TAG, "s", 0, json.dumps(stored), True)]
    _write_atomic(path, array, options)
    return path


def _format_for(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".ome.tif", ".ome.tiff")):
        return "ome"
    if name.endswith((".tif", ".tiff")):
        return "imagej"
    raise ImageError(f"cannot write {path}: the file name must end with .tif or .tiff")


def _unpack(
    image: AxesImage | np.ndarray, axes: str | None, spacing: Mapping[str, float] | None
) -> tuple[Any, str, dict[str, float], np.dtype]:
    if isinstance(image, AxesImage):
        data = image.data
        axes = image.axes if axes is None else axes
        spacing = image.spacing if spacing is None else spacing
    else:
        data = image
        axes = default_axes(np.shape(data)) if axes is None else axes
    axes = validate_axes(axes, np.shape(data))
    return data, axes, normalise_spacing(spacing, axes), np.dtype(data.dtype)


def _imagej_layout(
    array: np.ndarray, axes: str, spacing: Mapping[str, float]
) -> tuple[np.ndarray, tuple[str, tuple[int, ...]], dict[str, Any]]:
    """Reorder to ImageJ's T(=S,T) Z C Y X, fold S into T, and build tifffile's options."""
    written = "".join(a for a in _IMAGEJ_ORDER if a in axes)
    array = reorder(array, axes, written)
    written_shape = tuple(array.shape)
    if "S" in written and "T" in written:  # S then T are the first two axes: fold them
        array = array.reshape((-1, *array.shape[2:]))
    imagej_axes = written.replace("S", "T").replace("TT", "T")
    metadata: dict[str, Any] = {"axes": imagej_axes}
    options: dict[str, Any] = {"imagej": True, "photometric": "minisblack", "metadata": metadata}
    if "X" in spacing and "Y" in spacing:
        options["resolution"] = (1.0 / spacing["X"], 1.0 / spacing["Y"])
        metadata["unit"] = "um"
        if "Z" in spacing:
            metadata["spacing"] = spacing["Z"]
    return array, (written, written_shape), options


def _ome_layout(
    array: np.ndarray, axes: str, spacing: Mapping[str, float]
) -> tuple[np.ndarray, tuple[str, tuple[int, ...]], dict[str, Any]]:
    """Put Y X last, keep the caller's order of T, C and Z (OME allows any of them), or use
    T S C Z Y X when there is an S (written as OME's modulo axis 'Q'); build tifffile's options."""
    if "S" in axes:
        written = "".join(a for a in _OME_ORDER if a in axes)
    else:
        written = "".join(a for a in axes if a not in "YX") + "YX"
    array = reorder(array, axes, written)
    metadata: dict[str, Any] = {"axes": written.replace("S", "Q")}
    for axis in "XYZ":
        if axis in spacing:
            metadata[f"PhysicalSize{axis}"] = spacing[axis]
            metadata[f"PhysicalSize{axis}Unit"] = "µm"
    options = {"ome": True, "photometric": "minisblack", "metadata": metadata}
    return array, (written, tuple(array.shape)), options


def _write_atomic(path: Path, array: np.ndarray, options: dict[str, Any]) -> None:
    """Write through a temporary file next to ``path`` (see :func:`atomic_write`)."""
    try:
        atomic_write(path, lambda temporary: tifffile.imwrite(temporary, array, **options))
    except ImageError:
        raise
    except (OSError, ValueError) as err:
        raise ImageError(f"cannot write {path}: {err}") from err


def write_tiff_planes(
    path: str | os.PathLike[str],
    shape: tuple[int, ...],
    axes: str,
    spacing: Mapping[str, float],
    dtype: np.dtype,
    planes: Iterator[np.ndarray],
) -> Path:
    """Write a BigTIFF OME-TIFF plane by plane from ``planes`` (2D arrays in C order over the
    axes before Y X), so that memory holds one plane at a time.

    ``axes`` must have Y and X last; S is written as OME's modulo axis ``Q`` and, as in
    :func:`write_tiff`, the exact axes are kept in the private tag, so :func:`read_tiff` reads
    the same axes and pixel sizes back. Unlike :func:`write_tiff` this writes ``path`` directly
    (the caller writes to a temporary name).
    """
    path = Path(path)
    axes = validate_axes(axes, shape)
    if axes[-2:] != "YX":
        raise ImageError(f"cannot write {path} plane by plane: axes {axes} do not end in YX")
    spacing = normalise_spacing(spacing, axes)
    metadata: dict[str, Any] = {"axes": axes.replace("S", "Q")}
    for axis in "XYZ":
        if axis in spacing:
            metadata[f"PhysicalSize{axis}"] = spacing[axis]
            metadata[f"PhysicalSize{axis}Unit"] = "µm"
    stored = {TAG_KEY: 1, "axes": axes, "shape": list(shape), "spacing": spacing}
    try:
        with tifffile.TiffWriter(path, bigtiff=True, ome=True) as tif:
            tif.write(
                data=planes,
                shape=tuple(shape),
                dtype=np.dtype(dtype),
                photometric="minisblack",
                metadata=metadata,
                extratags=[(AXES_TAG, "s", 0, json.dumps(stored), True)],
            )
    except OSError as err:
        raise ImageError(f"cannot write {path}: {err.strerror or err}") from err
    return path
