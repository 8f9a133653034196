"""Image input/output with explicit axes and physical pixel sizes (no Qt, no napari).

An image is an :class:`AxesImage`: an array, its axes (letters of ``"STCZYX"``), its pixel
sizes in µm, where the axes came from, and the :class:`Optics` an OME-TIFF records.
:func:`read_tiff` and :func:`write_tiff` keep axes and pixel sizes through ImageJ hyperstacks
and OME-TIFF files; :func:`read_optics` reads only a file's optics.
"""

from __future__ import annotations

from napari_deconoising.io.axes import (
    AXES,
    AXES_SOURCES,
    SPATIAL_AXES,
    AxesImage,
    Optics,
    check_not_rgb,
    default_axes,
    default_axes_message,
    from_canonical,
    normalise_spacing,
    resolve_axes,
    to_canonical,
    validate_axes,
)
from napari_deconoising.io.layer_axes import axes_from_layer, spacing_from_scale, um_per_unit
from napari_deconoising.io.tiff import AXES_TAG, read_optics, read_tiff, write_tiff

__all__ = [
    "AXES",
    "AXES_SOURCES",
    "AXES_TAG",
    "SPATIAL_AXES",
    "AxesImage",
    "Optics",
    "axes_from_layer",
    "check_not_rgb",
    "default_axes",
    "default_axes_message",
    "from_canonical",
    "normalise_spacing",
    "read_optics",
    "read_tiff",
    "resolve_axes",
    "spacing_from_scale",
    "to_canonical",
    "um_per_unit",
    "validate_axes",
    "write_tiff",
]
