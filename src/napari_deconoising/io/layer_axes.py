"""Axes and pixel sizes of a napari image layer, from the plain values the widgets pass
(``ndim``, ``rgb``, ``axis_labels``, ``scale``, ``units``): nothing here imports Qt or napari.

:func:`um_per_unit` (length units to µm) also serves the TIFF reader's calibrations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from napari_deconoising.errors import ImageError
from napari_deconoising.io.axes import (
    SPATIAL_AXES,
    check_not_rgb,
    default_axes,
    rgb_error,
    shape_tuple,
    validate_axes,
)

_LAYER_LABELS = {
    "s": "S",
    "sample": "S",
    "samples": "S",
    "frame": "S",
    "frames": "S",
    "t": "T",
    "time": "T",
    "c": "C",
    "ch": "C",
    "channel": "C",
    "channels": "C",
    "z": "Z",
    "y": "Y",
    "x": "X",
}
_UM_PER_UNIT = {
    **dict.fromkeys(("pm", "picometer", "picometre", "picometers", "picometres"), 1e-6),
    **dict.fromkeys(("å", "a", "angstrom", "ångström", "angstroms"), 1e-4),
    **dict.fromkeys(("nm", "nanometer", "nanometre", "nanometers", "nanometres"), 1e-3),
    **dict.fromkeys(
        (
            "µm",  # micro sign U+00B5
            "μm",  # greek mu U+03BC
            "um",
            "\\u00b5m",  # ImageJ's escaped micro sign, as found in some descriptions
            "micron",
            "microns",
            "micrometer",
            "micrometre",
            "micrometers",
            "micrometres",
        ),
        1.0,
    ),
    **dict.fromkeys(("mm", "millimeter", "millimetre", "millimeters", "millimetres"), 1e3),
    **dict.fromkeys(("cm", "centimeter", "centimetre", "centimeters", "centimetres"), 1e4),
    **dict.fromkeys(("m", "meter", "metre", "meters", "metres"), 1e6),
}


def axes_from_layer(
    ndim: int,
    rgb: bool,
    axis_labels: Sequence[str] | None,
    shape: Sequence[int] | None = None,
) -> tuple[str, str]:
    """Axes of a napari image layer from its ``ndim``, ``rgb`` flag and ``axis_labels``.

    Labels count only when every one names an axis: a letter of :data:`AXES` (any case) or
    ``time``, ``channel(s)``, ``frame(s)``, ``sample(s)``. napari's own labels (``"0"``,
    ``"1"``... or ``"-3"``, ``"-2"``...) do not, so the result is then
    ``(default_axes, "default")``; else ``(axes, "layer")``. An RGB layer raises
    :class:`ImageError`, as does a default guess for a ``shape`` that looks RGB.
    """
    if rgb:
        raise rgb_error("layer", shape_tuple(shape) if shape is not None else None)
    dummy = (1,) * ndim
    if axis_labels is not None and len(axis_labels) == ndim:
        letters = [_LAYER_LABELS.get(str(label).strip().lower()) for label in axis_labels]
        if all(letters):
            try:
                return validate_axes("".join(letters), dummy), "layer"  # type: ignore[arg-type]
            except ImageError:
                pass
    if shape is not None:
        check_not_rgb(shape, axes_source="default", name="layer")
    return default_axes(dummy), "default"


def um_per_unit(unit: object) -> float | None:
    """Micrometres in one ``unit`` (a string or e.g. a pint unit), or None when the unit is
    not a length (``"pixel"``, ``None``, ``""``, ``"inch"`` from screen DPI, unknown words)."""
    if unit is None:
        return None
    return _UM_PER_UNIT.get(str(unit).strip().lower())


def spacing_from_scale(
    axes: str,
    scale: Sequence[float],
    units: Sequence[object] | str | None = None,
) -> dict[str, float]:
    """Pixel sizes in µm of the Z/Y/X axes from a napari layer's ``scale`` and ``units``.

    Lengths are converted (nm / 1000, mm * 1000...). With no unit or ``"pixel"``, a scale of
    1.0 means unknown (omitted) and any other scale is taken to be in µm, the usual habit
    when setting a layer's scale by hand. Unknown units, zero, negative or non-finite scales
    are omitted. ``units`` may be one unit for all axes.
    """
    axes = axes.strip().upper()
    if len(scale) != len(axes):
        raise ImageError(f"scale {tuple(scale)} does not match axes '{axes}'")
    if units is None or isinstance(units, str):
        units = [units] * len(axes)
    spacing: dict[str, float] = {}
    for axis, value, unit in zip(axes, scale, units, strict=True):
        if axis not in SPATIAL_AXES or not math.isfinite(value) or value <= 0:
            continue
        factor = um_per_unit(unit)
        if factor is None:
            is_pixel = unit is None or str(unit).strip().lower() in ("", "pixel", "pixels", "px")
            if not is_pixel or value == 1.0:
                continue
            factor = 1.0
        spacing[axis] = float(value) * factor
    return spacing
