"""The package's one notion of image axes and physical pixel size.

Every image is described by a string of axis letters, one per array dimension, taken from
:data:`AXES` = ``"STCZYX"``:

- ``S``: independent samples (frames of a recording, tiles, positions, anything without order);
- ``T``: time points (also independent samples for denoising, but kept apart for display);
- ``C``: channels (each is processed on its own);
- ``Z``, ``Y``, ``X``: space. Every image has ``Y`` and ``X``.

``S`` and ``T`` may appear together (both are just independent samples), so every combination
of distinct letters that contains ``Y`` and ``X`` is valid. The letters may come in any order;
:func:`to_canonical` transposes to the order of :data:`AXES`.

Physical sizes are kept as ``spacing``: a dict from spatial axis letter to its pixel size in
micrometres, holding only the axes whose size is known, e.g. ``{"X": 0.1, "Y": 0.1, "Z": 0.25}``.
The microscope's optics, where the file records them (OME-TIFF), are kept as :class:`Optics`.

Nothing here imports Qt or napari: the widgets pass plain values (layer shape, ``rgb``,
``axis_labels``, ``scale``, ``units``) to these functions. The napari-layer helpers
(:func:`axes_from_layer`, :func:`spacing_from_scale`, :func:`um_per_unit`) live in
:mod:`.layer_axes` (importable from :mod:`napari_deconoising.io`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from napari_deconoising.errors import ImageError

AXES = "STCZYX"
"""All axis letters, in canonical order."""

SPATIAL_AXES = "ZYX"
"""The axes that can have a physical pixel size."""

AXES_SOURCES = ("user", "file", "layer", "default")
"""Where an image's axes came from, most trusted first."""

_DEFAULT_AXES = {2: "YX", 3: "SYX", 4: "CZYX", 5: "TCZYX", 6: "STCZYX"}
_ALTERNATIVES = {
    2: (),
    3: ("CYX", "ZYX"),
    4: ("ZCYX", "TZYX", "SCYX"),
    5: ("TZCYX",),
    6: ("STZCYX",),
}
_NOUNS = {
    "S": ("frame", "frames"),
    "T": ("time point", "time points"),
    "C": ("channel", "channels"),
    "Z": ("plane", "planes"),
}
_RGB_ADVICE = (
    "convert it to grayscale (e.g. Fiji: Image > Type > 8-bit) or split the channels "
    "(Image > Color > Split Channels) and pass one channel or the stack with --axes CYX"
)


def shape_tuple(shape: Sequence[int]) -> tuple[int, ...]:
    """A shape as a tuple of Python ints (numpy and dask give their own integer types)."""
    return tuple(int(n) for n in shape)


def validate_axes(axes: str, shape: Sequence[int]) -> str:
    """Check an axes string against an array shape and return it upper-cased.

    Raises :class:`ImageError` with a message naming the problem: a letter outside
    :data:`AXES`, a repeated letter, a length that differs from the number of dimensions,
    a missing ``Y`` or ``X``, or an axis of length 0. ``S`` and ``T`` together are allowed.
    """
    shape = shape_tuple(shape)
    if not isinstance(axes, str) or not axes.strip():
        raise ImageError(f"axes must be a string of letters from {AXES}, got {axes!r}")
    axes = axes.strip().upper()
    unknown = sorted({a for a in axes if a not in AXES}, key=axes.index)
    if unknown:
        raise ImageError(
            f"axes '{axes}': unknown letter(s) {', '.join(unknown)}; use letters from {AXES} "
            "(S samples/frames, T time, C channels, Z, Y, X)"
        )
    repeated = sorted({a for a in axes if axes.count(a) > 1}, key=axes.index)
    if repeated:
        raise ImageError(f"axes '{axes}' repeats {', '.join(repeated)}; give each axis once")
    if len(axes) != len(shape):
        raise ImageError(
            f"axes '{axes}' has {len(axes)} letters but the image has {len(shape)} "
            f"dimensions {shape}"
        )
    missing = [a for a in "YX" if a not in axes]
    if missing:
        raise ImageError(
            f"axes '{axes}' has no {' and '.join(missing)} axis; every image needs Y and X"
        )
    empty = [a for a, n in zip(axes, shape, strict=True) if n == 0]
    if empty:
        raise ImageError(
            f"axes '{axes}': axis {', '.join(empty)} has length 0 in shape {shape}; "
            "the image is empty"
        )
    return axes


def default_axes(shape: Sequence[int]) -> str:
    """Axes assumed for an image that comes without any: by number of dimensions.

    ===  ==========  ==========================================================
    2D   ``YX``      one image
    3D   ``SYX``     a stack of independent frames (what the product always did)
    4D   ``CZYX``    channels of volumes (Fiji/Bio-Formats' usual C before Z)
    5D   ``TCZYX``   the OME-TIFF order
    6D   ``STCZYX``  canonical order
    ===  ==========  ==========================================================

    Raises :class:`ImageError` for 1D or more than 6D arrays.
    """
    ndim = len(shape)
    if ndim not in _DEFAULT_AXES:
        raise ImageError(
            f"the image has {ndim} dimensions {shape_tuple(shape)}; expected 2 to 6 "
            f"(axes from {AXES})"
        )
    return _DEFAULT_AXES[ndim]


def _count(axis: str, n: int) -> str:
    one, many = _NOUNS[axis]
    return f"{n} {one if n == 1 else many}"


def _describe(shape: Sequence[int], axes: str, with_yx: bool) -> str:
    parts = [
        _count(a, n) if a in _NOUNS else str(n)
        for a, n in zip(axes, shape, strict=True)
        if with_yx or a in _NOUNS
    ]
    return " × ".join(parts)


def default_axes_message(shape: Sequence[int], axes: str, option: str = "--axes") -> str:
    """A one-line note that default axes were assumed, with the likely alternatives.

    E.g. ``"reading (3, 395, 695) as SYX: 3 frames; say --axes CYX or ZYX if that is wrong"``.
    ``option`` names how the user gives axes (the CLI's ``--axes``; a widget may pass its
    field's name).
    """
    shape = shape_tuple(shape)
    what = _describe(shape, axes, with_yx=False) or "one 2D image"
    message = f"reading {shape} as {axes}: {what}"
    alternatives = [a for a in _ALTERNATIVES.get(len(shape), ()) if a != axes]
    if alternatives:
        listed = ", ".join(alternatives[:-1])
        listed = f"{listed} or {alternatives[-1]}" if listed else alternatives[0]
        message += f"; say {option} {listed} if that is wrong"
    return message


def check_not_rgb(
    shape: Sequence[int],
    *,
    axes_source: str = "default",
    rgb: bool = False,
    samples_per_pixel: int | None = None,
    name: str = "image",
) -> None:
    """Refuse RGB(A) colour images with advice on how to convert them.

    An image is RGB(A) when ``rgb`` is true (a napari layer's flag), when the file stores 3 or
    4 samples per pixel, or, when its axes are only the default guess, when its last dimension
    is 3 or 4 and the two before it are longer than 4 (a colour picture, not a 3-pixel-wide
    stack). Raises :class:`ImageError`; returns None otherwise.
    """
    shape = shape_tuple(shape)
    guessed_rgb = axes_source == "default" and looks_rgb(shape)
    if rgb or samples_per_pixel in (3, 4) or guessed_rgb:
        raise rgb_error(name, shape)


def looks_rgb(shape: Sequence[int]) -> bool:
    """A last dimension of 3 or 4 after two longer than 4: a colour picture, not a thin stack."""
    shape = shape_tuple(shape)
    return len(shape) >= 3 and shape[-1] in (3, 4) and min(shape[-3:-1]) > 4


def rgb_error(name: str, shape: tuple[int, ...] | None = None) -> ImageError:
    """The refusal of an RGB(A) image ``name``, with how to convert it."""
    what = f"shape {shape} is" if shape else "it is"
    return ImageError(f"{name}: {what} an RGB(A) colour image; {_RGB_ADVICE}")


def _transpose(data: Any, order: list[int]) -> Any:
    if order == sorted(order):
        return data
    if isinstance(data, np.ndarray):
        return np.transpose(data, order)
    if hasattr(data, "transpose"):
        return data.transpose(order)
    return np.transpose(np.asarray(data), order)


def reorder(data: Any, axes: str, target: str) -> Any:
    """``data`` (with ``axes``) transposed to ``target``, the same letters in another order: the
    package's one axis reordering. A numpy array comes back as a view, data already in ``target``
    order as it is (lazy arrays stay lazy); other arrays use their own ``transpose``."""
    if sorted(target) != sorted(axes):
        raise ImageError(f"cannot reorder axes '{axes}' to '{target}': they hold different axes")
    return _transpose(data, [axes.index(a) for a in target])


def to_canonical(data: Any, axes: str) -> tuple[Any, str]:
    """Transpose ``data`` (with ``axes``) to the order of :data:`AXES`; return it and its axes.

    A numpy array comes back as a view (no copy); data already in canonical order comes back
    as it is, so lazy arrays stay lazy. Other array types are transposed with their own
    ``transpose`` method when they have one.
    """
    axes = validate_axes(axes, data.shape)
    canonical = "".join(a for a in AXES if a in axes)
    return reorder(data, axes, canonical), canonical


def from_canonical(array: Any, canonical_axes: str, target_axes: str) -> Any:
    """Transpose ``array`` from ``canonical_axes`` to ``target_axes`` (the inverse of
    :func:`to_canonical`). Both strings must hold the same letters."""
    canonical_axes = validate_axes(canonical_axes, array.shape)
    return reorder(array, canonical_axes, target_axes.strip().upper())


def resolve_axes(
    shape: Sequence[int],
    axes: str | None = None,
    file_axes: str | None = None,
    layer_axes: str | None = None,
) -> tuple[str, str]:
    """Pick the axes of an image: the user's, else the file's, else the layer's, else the default.

    Returns ``(axes, source)`` with source ``"user"``, ``"file"``, ``"layer"`` or
    ``"default"``. The chosen axes are validated against ``shape``. Default axes of an image
    that looks like an RGB picture are refused (see :func:`check_not_rgb`); explicit axes are
    trusted.
    """
    for given, source in ((axes, "user"), (file_axes, "file"), (layer_axes, "layer")):
        if given is not None:
            return validate_axes(given, shape), source
    guessed = default_axes(shape)
    check_not_rgb(shape, axes_source="default")
    return validate_axes(guessed, shape), "default"


def normalise_spacing(spacing: Mapping[str, float] | None, axes: str) -> dict[str, float]:
    """Check a spacing dict and keep the entries for spatial axes present in ``axes``.

    Keys are upper-cased. Raises :class:`ImageError` for a key other than Z/Y/X or a value
    that is not a positive finite number; a spatial axis absent from ``axes`` (a Z step of a
    2D image) is dropped.
    """
    result: dict[str, float] = {}
    for key, value in (spacing or {}).items():
        axis = str(key).strip().upper()
        if axis not in SPATIAL_AXES:
            raise ImageError(f"spacing is for the axes Z, Y, X only, got {key!r}")
        try:
            size = float(value)
        except (TypeError, ValueError):
            size = math.nan
        if not math.isfinite(size) or size <= 0:
            raise ImageError(f"the {axis} pixel size must be a positive number, got {value!r}")
        if axis in axes:
            result[axis] = size
    return result


@dataclass(frozen=True)
class Optics:
    """The microscope's optics as an image file records them; None where it does not.

    ``na``: the objective's numerical aperture; ``emission_nm``: each channel's emission
    wavelength (nm), one per channel of the file in its order (empty when the file lists no
    channels); ``refractive_index``: the immersion medium's. Read from OME-TIFF only (see
    :func:`~napari_deconoising.io.read_tiff`): ImageJ hyperstacks have no standard field for
    them.
    """

    na: float | None = None
    emission_nm: tuple[float | None, ...] = ()
    refractive_index: float | None = None

    def emission_for(self, channel: int, n_channels: int) -> float | None:
        """The emission wavelength (nm) of ``channel`` of an image with ``n_channels`` channels:
        None when unknown, or when the file lists another number of channels (the image's
        channels are then not the file's, e.g. read with other axes)."""
        if len(self.emission_nm) != n_channels or not 0 <= channel < n_channels:
            return None
        return self.emission_nm[channel]

    @property
    def known(self) -> bool:
        """Whether the file gives any of the values."""
        values = (self.na, self.refractive_index, *self.emission_nm)
        return any(value is not None for value in values)


@dataclass
class AxesImage:
    """An image array with its axes and physical pixel sizes.

    ``data`` is any array with ``shape``, ``dtype`` and indexing (a numpy array, a
    ``numpy.memmap`` from :func:`~napari_deconoising.io.read_tiff`, later dask or zarr); it is
    never read in full here. ``axes`` is validated against ``data.shape`` and upper-cased;
    ``spacing`` maps Z/Y/X to µm for the known axes only; ``axes_source`` says where the axes
    came from (one of :data:`AXES_SOURCES`); ``optics`` is what the file says of the
    microscope's optics (None: nothing).
    """

    data: Any
    axes: str
    spacing: dict[str, float] = field(default_factory=dict)
    axes_source: str = "user"
    name: str = "image"
    #: The file or store the image was read from (None for arrays in memory): outputs are
    #: never written over it (see :mod:`napari_deconoising.io.outputs`).
    path: Path | None = None
    #: The optics the file records (OME-TIFF), or None.
    optics: Optics | None = None

    def __post_init__(self) -> None:
        self.axes = validate_axes(self.axes, self.data.shape)
        self.spacing = normalise_spacing(self.spacing, self.axes)
        if self.axes_source not in AXES_SOURCES:
            raise ValueError(f"axes_source must be one of {AXES_SOURCES}, got {self.axes_source!r}")

    @property
    def shape(self) -> tuple[int, ...]:
        """The array shape."""
        return shape_tuple(self.data.shape)

    @property
    def dtype(self) -> np.dtype:
        """The array's data type."""
        return np.dtype(self.data.dtype)

    @property
    def ndim(self) -> int:
        """The number of dimensions."""
        return len(self.axes)

    @property
    def sizes(self) -> dict[str, int]:
        """Length of each axis, in the array's order, e.g. ``{"C": 3, "Y": 395, "X": 695}``."""
        return dict(zip(self.axes, self.shape, strict=True))

    @property
    def n_channels(self) -> int:
        """The number of channels (1 when there is no C axis)."""
        return self.sizes.get("C", 1)

    def has(self, axis: str) -> bool:
        """Whether the image has ``axis`` (a letter of :data:`AXES`, any case)."""
        return axis.upper() in self.axes

    @property
    def pixel_size(self) -> float | None:
        """The XY pixel size in µm (X's, or Y's when only Y is known), or None when unknown."""
        return self.spacing.get("X", self.spacing.get("Y"))

    def describe(self) -> str:
        """A short human description, e.g. ``"3 channels × 395 × 695 (CYX)"``."""
        return f"{_describe(self.shape, self.axes, with_yx=True)} ({self.axes})"

    def canonical(self) -> AxesImage:
        """The same image with its data transposed to canonical :data:`AXES` order."""
        return self.reordered("".join(a for a in AXES if a in self.axes))

    def reordered(self, axes: str) -> AxesImage:
        """The same image with its data transposed to ``axes`` (see :func:`reorder`)."""
        data = reorder(self.data, self.axes, axes)
        return AxesImage(
            data, axes, dict(self.spacing), self.axes_source, self.name, self.path, self.optics
        )
