"""Reading TIFF files with their axes and physical pixel sizes: ImageJ hyperstacks, OME-TIFF,
plain TIFF, and the private tag (:data:`~.tiff_tag.AXES_TAG`) of files written here."""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from napari_deconoising.errors import ImageError, one_line
from napari_deconoising.io.axes import (
    AxesImage,
    Optics,
    check_not_rgb,
    normalise_spacing,
    resolve_axes,
    validate_axes,
)
from napari_deconoising.io.layer_axes import um_per_unit
from napari_deconoising.io.ome import ome_optics, ome_spacing
from napari_deconoising.io.tiff_pixels import read_pixels
from napari_deconoising.io.tiff_tag import AXES_TAG, TAG_KEY

_PLAIN_KINDS = ("generic", "shaped", "uniform")  # tifffile series kinds without real axes
_DAMAGE_WORDS = ("invalid page offset", "truncat", "corrupt")
_OLD_STYLE_JPEG = 6  # TIFF compression whose data offsets need not be one per strip


@dataclass
class _RawTiff:
    """What the file says, gathered while it is open (no interpretation)."""

    axes: str
    shape: tuple[int, ...]
    full_shape: tuple[int, ...]
    kind: str
    spacing: dict[str, float] = field(default_factory=dict)
    optics: Optics | None = None
    stored: str | None = None
    data: Any = None


def read_tiff(
    path: str | os.PathLike[str], axes: str | None = None, lazy: bool = False
) -> AxesImage:
    """Read the first image series of a TIFF file with its axes and pixel sizes.

    Axes come from ``axes`` (the user's, validated against the file's shape: a string that
    does not fit raises :class:`ImageError`), else from the file (ImageJ hyperstack, OME-TIFF,
    tifffile metadata; source ``"file"``), else :func:`default_axes` (source ``"default"``;
    show :func:`default_axes_message` to the user). tifffile's axis letters map to ours: T, C,
    Z, Y, X as they are, any other sequence (I, Q, angle, tile...) to S (several are merged
    into one S). RGB(A) colour images are refused.

    Pixel sizes (µm) come from ImageJ's calibration (XResolution/YResolution, ``spacing``,
    ``unit``) or OME's PhysicalSize attributes; plain TIFF resolution tags are ignored (they
    are usually a 72 dpi placeholder). The optics (NA, emission wavelengths, immersion index:
    :class:`~napari_deconoising.io.axes.Optics`) come from OME-XML only (see :mod:`.ome`):
    ImageJ has no standard field for them.

    ``data`` is a read-only ``numpy.memmap`` when the pixels are stored uncompressed and
    contiguously, else a numpy array. With ``lazy`` it is a dask array that reads only what is
    indexed (uncompressed data by plain reads of the rows needed, compressed or tiled data
    through tifffile's zarr view): no file is read in full, and no memory map keeps the pages
    it touched resident; a damaged compressed part only fails when it is read. Raises
    :class:`ImageError` for a missing file, a file that is not a TIFF, or a damaged or
    truncated one.
    """
    path = Path(path)
    raw = _load(path, lazy)
    data, file_axes, spacing = _interpret(raw, axes, path.name)
    try:
        final_axes, source = resolve_axes(data.shape, axes=axes, file_axes=file_axes)
    except ImageError as err:
        raise ImageError(f"{path.name}: {err}") from err
    spacing = normalise_spacing(spacing, final_axes)
    return AxesImage(data, final_axes, spacing, source, _stem(path), path, raw.optics)


def read_optics(path: str | os.PathLike[str]) -> Optics | None:
    """The optics an OME-TIFF file records (see :mod:`.ome`), reading its metadata only; None
    for any other file, one that records none, or one that cannot be read."""
    try:
        with tifffile.TiffFile(path) as tif:
            xml = tif.ome_metadata if tif.is_ome else None
    except Exception:  # not a TIFF, missing, damaged: no optics
        return None
    return ome_optics(xml) if xml else None


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
    return ImageError(
        f"cannot read {path}: the TIFF file is damaged or truncated ({one_line(why)})"
    )


def _load(path: Path, lazy: bool = False) -> _RawTiff:
    """Open the file and gather its metadata and pixels, turning failures into ImageError."""
    if not path.is_file():
        raise ImageError(f"image file not found: {path}")
    with _damage_log() as log:
        try:
            with tifffile.TiffFile(path) as tif:
                raw = _gather(tif)
                _check_intact(path, tif, log)
                raw.data = read_pixels(path, tif, lazy)
        except ImageError:
            raise
        except tifffile.TiffFileError as err:
            if "not a TIFF" in str(err):
                raise ImageError(f"{path} is not a TIFF file") from err
            raise _damaged(path, err) from err
        except OSError as err:
            raise ImageError(f"cannot read {path}: {err.strerror or err}") from err
        except Exception as err:  # struct.error, zlib.error, ValueError... from a cut file
            raise _damaged(path, err) from err
    _check_log(path, log)
    return raw


def _check_log(path: Path, log: _Collect) -> None:
    """Raise :class:`ImageError` when tifffile logged signs of damage."""
    problems = [m for m in log.messages if any(w in m.lower() for w in _DAMAGE_WORDS)]
    if problems:
        raise _damaged(path, problems[0])


def _check_intact(path: Path, tif: tifffile.TiffFile, log: _Collect) -> None:
    """Refuse a file whose structure is damaged before any pixel is read: tifffile logged
    damage, or the first page lists fewer strips or tiles than its size needs (a damaged
    width or height, which would otherwise have huge arrays allocated for a tiny file)."""
    _check_log(path, log)
    page = tif.pages[0]
    if math.prod(tif.series[0].shape) == 0:  # an empty image has nothing to read (and is refused)
        return
    if tif.is_lsm or tif.is_ndpi or page.compression == _OLD_STYLE_JPEG:  # their own layouts
        return
    needed = math.prod(page.chunked)
    listed = len(page.dataoffsets)
    if listed < needed:
        raise _damaged(path, f"the first page lists {listed} of its {needed} strips or tiles")


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
        raw.spacing = ome_spacing(tif.ome_metadata)
        raw.optics = ome_optics(tif.ome_metadata)
    elif tif.is_imagej and tif.imagej_metadata:
        resolution = [page.tags.get(name) for name in ("XResolution", "YResolution")]
        raw.spacing = _imagej_spacing(
            tif.imagej_metadata, *(t.value if t is not None else None for t in resolution)
        )
    return raw


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
    with suppress(TypeError, ValueError, OverflowError):
        z_step = float(metadata.get("spacing", math.nan)) * (factor or math.nan)
        if math.isfinite(z_step) and z_step > 0:
            spacing["Z"] = z_step
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
        if not isinstance(stored, dict) or stored.get(TAG_KEY) != 1:
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
    samples = math.prod(data.shape[: len(positions)])  # not -1: the image may be empty
    merged = data.reshape((samples, *data.shape[len(positions) :]))
    return merged, "S" + "".join(axes[i] for i in others)
