"""Reading and writing TIFF files with their axes and physical pixel sizes.

:func:`read_tiff` understands ImageJ hyperstacks, OME-TIFF and plain TIFF; :func:`write_tiff`
writes ImageJ hyperstacks (``.tif``/``.tiff``) or OME-TIFF (``.ome.tif``/``.ome.tiff``) that
Fiji and tifffile read back with the same axes and pixel sizes.

Files written here also carry the exact axes, shape and spacing as JSON in a private TIFF tag
(:data:`AXES_TAG`, ignored by other software and dropped when another program re-saves the
file), so that :func:`read_tiff` restores what ImageJ/OME cannot express: an ``S`` axis
(ImageJ has none), ``S`` and ``T`` together, and axes of length 1 (which tifffile squeezes).
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from ..errors import ImageError
from ..files import give_default_mode
from .axes import (
    AxesImage,
    check_not_rgb,
    default_axes,
    normalise_spacing,
    resolve_axes,
    um_per_unit,
    validate_axes,
)

AXES_TAG = 65117
"""Private TIFF tag holding this package's axes/shape/spacing JSON."""

_TAG_KEY = "napari_deconoising"
_IMAGEJ_ORDER = "STZCYX"  # S and T both become ImageJ's T (frames)
_OME_ORDER = "TSCZYX"  # S is written as OME modulo 'Q' ("other"), right after T
_IMAGEJ_DTYPES = tuple(np.dtype(t) for t in ("uint8", "uint16", "float32"))
_OME_DTYPES = tuple(
    np.dtype(t)
    for t in ("uint8", "uint16", "uint32", "int8", "int16", "int32", "float32", "float64")
)
_PLAIN_KINDS = ("generic", "shaped", "uniform")  # tifffile series kinds without real axes
_DAMAGE_WORDS = ("invalid page offset", "truncat", "corrupt")


@dataclass
class _RawTiff:
    """What the file says, gathered while it is open (no interpretation)."""

    axes: str
    shape: tuple[int, ...]
    full_shape: tuple[int, ...]
    kind: str
    spacing: dict[str, float] = field(default_factory=dict)
    stored: str | None = None
    data: Any = None


# ----------------------------------------------------------------------------------- reading


def read_tiff(path: str | os.PathLike[str], axes: str | None = None) -> AxesImage:
    """Read the first image series of a TIFF file with its axes and pixel sizes.

    Axes come from ``axes`` (the user's, validated against the file's shape: a string that
    does not fit raises :class:`ImageError`), else from the file (ImageJ hyperstack, OME-TIFF,
    tifffile metadata; source ``"file"``), else :func:`default_axes` (source ``"default"``;
    show :func:`default_axes_message` to the user). tifffile's axis letters map to ours: T, C,
    Z, Y, X as they are, any other sequence (I, Q, angle, tile...) to S (several are merged
    into one S). RGB(A) colour images are refused.

    Pixel sizes (µm) come from ImageJ's calibration (XResolution/YResolution, ``spacing``,
    ``unit``) or OME's PhysicalSize attributes; plain TIFF resolution tags are ignored (they
    are usually a 72 dpi placeholder).

    ``data`` is a read-only ``numpy.memmap`` when the pixels are stored uncompressed and
    contiguously, else a numpy array. Raises :class:`ImageError` for a missing file, a file
    that is not a TIFF, or a damaged or truncated one.
    """
    path = Path(path)
    raw = _load(path)
    data, file_axes, spacing = _interpret(raw, axes, path.name)
    try:
        final_axes, source = resolve_axes(data.shape, axes=axes, file_axes=file_axes)
    except ImageError as err:
        raise ImageError(f"{path.name}: {err}") from err
    return AxesImage(data, final_axes, normalise_spacing(spacing, final_axes), source, _stem(path))


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".ome.tiff", ".ome.tif", ".tiff", ".tif"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _damage_log() -> Iterator[_Collect]:
    """Collect tifffile's warnings (it logs, rather than raises, e.g. a cut page chain)."""
    handler = _Collect()
    logger = logging.getLogger("tifffile")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def _damaged(path: Path, why: object) -> ImageError:
    return ImageError(f"cannot read {path}: the TIFF file is damaged or truncated ({why})")


def _load(path: Path) -> _RawTiff:
    """Open the file and gather its metadata and pixels, turning failures into ImageError."""
    if not path.is_file():
        raise ImageError(f"image file not found: {path}")
    with _damage_log() as log:
        try:
            with tifffile.TiffFile(path) as tif:
                raw = _gather(tif)
                raw.data = _read_array(path, tif)
        except tifffile.TiffFileError as err:
            if "not a TIFF" in str(err):
                raise ImageError(f"{path} is not a TIFF file") from err
            raise _damaged(path, err) from err
        except OSError as err:
            raise ImageError(f"cannot read {path}: {err.strerror or err}") from err
        except Exception as err:  # struct.error, zlib.error, ValueError... from a cut file
            raise _damaged(path, err) from err
    problems = [m for m in log.messages if any(w in m.lower() for w in _DAMAGE_WORDS)]
    if problems:
        raise _damaged(path, problems[0])
    return raw


def _gather(tif: tifffile.TiffFile) -> _RawTiff:
    series = tif.series[0]
    page = tif.pages[0]
    stored = page.tags.get(AXES_TAG)
    raw = _RawTiff(
        axes=series.axes,
        shape=tuple(series.shape),
        full_shape=tuple(series.get_shape(False)),
        kind=getattr(series, "kind", "generic"),
        stored=stored.value if stored is not None and isinstance(stored.value, str) else None,
    )
    if tif.is_ome and tif.ome_metadata:
        raw.spacing = _ome_spacing(tif.ome_metadata)
    elif tif.is_imagej and tif.imagej_metadata:
        resolution = [page.tags.get(name) for name in ("XResolution", "YResolution")]
        raw.spacing = _imagej_spacing(
            tif.imagej_metadata, *(t.value if t is not None else None for t in resolution)
        )
    return raw


def _read_array(path: Path, tif: tifffile.TiffFile) -> Any:
    """Return the pixels of the first series: the one place that reads image data.

    A read-only ``numpy.memmap`` when the data are uncompressed and contiguous (nothing is read
    until used), else the whole array. A lazy reader (``series.aszarr()``) belongs here.
    """
    try:
        return tifffile.memmap(path, series=0, mode="r")
    except ValueError:  # compressed, tiled, scattered, or the file is too short
        return tif.series[0].asarray()


def _ratio(rational: Any) -> float | None:
    """Pixels per unit from a TIFF RATIONAL tag value (numerator, denominator)."""
    try:
        numerator, denominator = (float(v) for v in rational)
    except (TypeError, ValueError):
        return None
    return numerator / denominator if numerator > 0 and denominator > 0 else None


def _imagej_spacing(metadata: Mapping[str, Any], xres: Any, yres: Any) -> dict[str, float]:
    """Pixel sizes in µm from ImageJ's description (unit, spacing) and resolution tags."""
    unit = metadata.get("unit")
    spacing: dict[str, float] = {}
    for axis, resolution, axis_unit in (
        ("X", xres, unit),
        ("Y", yres, metadata.get("yunit", unit)),
    ):
        factor, per_unit = um_per_unit(axis_unit), _ratio(resolution)
        if factor is not None and per_unit is not None:
            spacing[axis] = factor / per_unit
    factor = um_per_unit(metadata.get("zunit", unit))
    with suppress(TypeError, ValueError):
        z_step = float(metadata.get("spacing", math.nan))
        if factor is not None and math.isfinite(z_step) and z_step > 0:
            spacing["Z"] = z_step * factor
    return spacing


def _ome_spacing(xml: str) -> dict[str, float]:
    """Pixel sizes in µm from the first Pixels element of OME-XML (default unit µm)."""
    try:
        root = ET.fromstring(xml.encode("utf-8"))
    except ET.ParseError:
        return {}
    pixels = next((el for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "Pixels"), None)
    if pixels is None:
        return {}
    spacing: dict[str, float] = {}
    for axis in "XYZ":
        value = pixels.get(f"PhysicalSize{axis}")
        factor = um_per_unit(pixels.get(f"PhysicalSize{axis}Unit", "µm"))
        with suppress(TypeError, ValueError):
            size = float(value) * factor if value is not None and factor else math.nan
            if math.isfinite(size) and size > 0:
                spacing[axis] = size
    return spacing


def _interpret(
    raw: _RawTiff, user_axes: str | None, name: str
) -> tuple[Any, str | None, dict[str, float]]:
    """The data (reshaped as the axes need), the file's axes (or None) and the spacing."""
    if raw.axes.endswith("S") and raw.shape[-1] in (3, 4):  # interleaved colour samples
        check_not_rgb(raw.shape, samples_per_pixel=raw.shape[-1], name=name)
    data = raw.data
    stored = _stored_layout(raw.stored, tuple(data.shape))
    spacing = dict(stored[2]) if stored else {}
    spacing.update(raw.spacing)  # what Fiji shows wins over our copy
    if user_axes is not None:
        shapes = [tuple(data.shape), stored[1] if stored else None, raw.full_shape]
        return _fit(data, len(user_axes.strip()), shapes), None, spacing
    if stored:
        return data.reshape(stored[1]), stored[0], spacing
    file_axes = _map_axes(raw)
    if file_axes is None:
        return data, None, spacing
    data, file_axes = _merge_samples(data, file_axes)
    return data, file_axes, spacing


def _fit(data: Any, ndim: int, shapes: list[tuple[int, ...] | None]) -> Any:
    """Reshape ``data`` to the first candidate shape with ``ndim`` dimensions (same size)."""
    size = math.prod(data.shape)
    for shape in shapes:
        if shape is not None and len(shape) == ndim and math.prod(shape) == size:
            return data.reshape(shape)
    return data  # validate_axes will say what does not fit


def _stored_layout(
    text: str | None, data_shape: tuple[int, ...]
) -> tuple[str, tuple[int, ...], dict[str, float]] | None:
    """Axes, shape and spacing from our private tag, when present and consistent with the data."""
    if not text:
        return None
    try:
        stored = json.loads(text)
        if not isinstance(stored, dict) or stored.get(_TAG_KEY) != 1:
            return None
        shape = tuple(int(n) for n in stored["shape"])
        axes = validate_axes(str(stored["axes"]), shape)
        spacing = normalise_spacing(stored.get("spacing") or {}, axes)
    except (ValueError, TypeError, KeyError):  # ImageError is a ValueError
        return None
    if math.prod(shape) != math.prod(data_shape) or shape[-2:] != data_shape[-2:]:
        return None
    return axes, shape, spacing


def _map_axes(raw: _RawTiff) -> str | None:
    """Our letters for tifffile's axes, or None when the file says nothing about them."""
    letters = []
    meaningful = raw.kind not in _PLAIN_KINDS
    last = len(raw.axes) - 1
    for i, axis in enumerate(raw.axes):
        if axis in "TCZYX":
            letters.append(axis)
            meaningful |= axis in "TCZ"
        elif axis == "S" and i == last:  # interleaved samples that are not RGB: channels
            letters.append("S" if "C" in raw.axes else "C")
            meaningful = True
        else:  # I, Q and planar S say nothing; angle, tile, lambda... are independent samples
            letters.append("S")
            meaningful |= axis not in "IQS"
    return "".join(letters) if meaningful else None


def _merge_samples(data: Any, axes: str) -> tuple[Any, str]:
    """Merge several S axes into one leading S axis."""
    positions = [i for i, a in enumerate(axes) if a == "S"]
    if len(positions) < 2:
        return data, axes
    others = [i for i in range(len(axes)) if i not in positions]
    order = positions + others
    if order != sorted(order):
        data = np.transpose(data, order)
    merged = data.reshape((-1, *data.shape[len(positions) :]))
    return merged, "S" + "".join(axes[i] for i in others)


# ----------------------------------------------------------------------------------- writing


def write_tiff(
    path: str | os.PathLike[str],
    image: AxesImage | np.ndarray,
    axes: str | None = None,
    spacing: Mapping[str, float] | None = None,
    dtype: str | np.dtype | type = "float32",
    input_dtype: str | np.dtype | type | None = None,
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

    The parent folder is created; the file is written to a temporary file in the same folder
    and renamed, so a failed write leaves nothing behind. Returns the path.
    """
    path = Path(path)
    kind = _format_for(path)
    data, axes, spacing, source_dtype = _unpack(image, axes, spacing)
    target = _target_dtype(dtype, source_dtype, input_dtype)
    array = _convert(np.asarray(data), target)
    if kind == "imagej" and target not in _IMAGEJ_DTYPES:
        kind = "ome"
    if kind == "imagej":
        array, written, options = _imagej_layout(array, axes, spacing)
    else:
        array, written, options = _ome_layout(array, axes, spacing)
    stored = {_TAG_KEY: 1, "axes": written[0], "shape": list(written[1]), "spacing": spacing}
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


def _target_dtype(dtype: Any, source: np.dtype, input_dtype: Any) -> np.dtype:
    """The type to write, from the ``dtype`` argument of :func:`write_tiff`."""
    if isinstance(dtype, str) and dtype == "float32":
        return np.dtype(np.float32)
    if isinstance(dtype, str) and dtype == "input":
        kind = np.dtype(input_dtype) if input_dtype is not None else source
        if kind == np.bool_:
            return np.dtype(np.uint8)
        return kind.newbyteorder("=") if kind.kind in "iu" else np.dtype(np.float32)
    try:
        target = np.dtype(dtype).newbyteorder("=")
    except TypeError as err:
        raise ImageError(f"unknown output data type {dtype!r}") from err
    if target == np.float16:
        return np.dtype(np.float32)
    if target not in _OME_DTYPES:
        names = ", ".join(t.name for t in _OME_DTYPES)
        raise ImageError(f"cannot write {target.name} TIFFs; use one of {names}")
    return target


def _convert(array: np.ndarray, target: np.dtype) -> np.ndarray:
    """Cast to ``target``; integer targets get rounded values clipped to their range."""
    if np.iscomplexobj(array):
        raise ImageError("cannot write complex images to TIFF")
    if target.kind not in "iu" or array.dtype == target:
        return array.astype(target, copy=False)
    info = np.iinfo(target)
    if array.dtype.kind in "iu" and np.can_cast(array.dtype, target):
        return array.astype(target)
    work = array.astype(np.float64)
    work = np.nan_to_num(np.rint(work), nan=0.0)
    return np.clip(work, info.min, info.max).astype(target)


def _imagej_layout(
    array: np.ndarray, axes: str, spacing: Mapping[str, float]
) -> tuple[np.ndarray, tuple[str, tuple[int, ...]], dict[str, Any]]:
    """Reorder to ImageJ's T(=S,T) Z C Y X, fold S into T, and build tifffile's options."""
    order = [axes.index(a) for a in _IMAGEJ_ORDER if a in axes]
    array = np.transpose(array, order)
    written = "".join(axes[i] for i in order)
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
        order = [axes.index(a) for a in _OME_ORDER if a in axes]
    else:
        order = [i for i, a in enumerate(axes) if a not in "YX"] + [
            axes.index("Y"),
            axes.index("X"),
        ]
    array = np.transpose(array, order)
    written = "".join(axes[i] for i in order)
    metadata: dict[str, Any] = {"axes": written.replace("S", "Q")}
    for axis in "XYZ":
        if axis in spacing:
            metadata[f"PhysicalSize{axis}"] = spacing[axis]
            metadata[f"PhysicalSize{axis}Unit"] = "µm"
    options = {"ome": True, "photometric": "minisblack", "metadata": metadata}
    return array, (written, tuple(array.shape)), options


def _write_atomic(path: Path, array: np.ndarray, options: dict[str, Any]) -> None:
    """Write to a temporary file next to ``path``, then rename it over ``path``."""
    temporary: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp.tif"
        )
        os.close(handle)
        tifffile.imwrite(temporary, array, **options)
        give_default_mode(temporary)
        os.replace(temporary, path)
        temporary = None
    except ImageError:
        raise
    except (OSError, ValueError) as err:
        raise ImageError(f"cannot write {path}: {err}") from err
    finally:
        if temporary is not None:
            with suppress(OSError):
                os.unlink(temporary)
