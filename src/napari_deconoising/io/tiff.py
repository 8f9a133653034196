"""Reading and writing TIFF files with their axes and physical pixel sizes.

:func:`read_tiff` understands ImageJ hyperstacks, OME-TIFF and plain TIFF; :func:`write_tiff`
writes ImageJ hyperstacks (``.tif``/``.tiff``) or OME-TIFF (``.ome.tif``/``.ome.tiff``) that
Fiji and tifffile read back with the same axes and pixel sizes.

Files written here also carry the exact axes, shape and spacing as JSON in a private TIFF tag
(:data:`AXES_TAG`, ignored by other software and dropped when another program re-saves the
file), so that :func:`read_tiff` restores what ImageJ/OME cannot express: an ``S`` axis
(ImageJ has none), ``S`` and ``T`` together, and axes of length 1 (which tifffile squeezes).

Reading is in :mod:`.tiff_read`, writing in :mod:`.tiff_write` and the tag in :mod:`.tiff_tag`;
this module gathers them.
"""

from __future__ import annotations

from napari_deconoising.io.tiff_read import read_optics, read_tiff
from napari_deconoising.io.tiff_tag import AXES_TAG
from napari_deconoising.io.tiff_write import write_tiff

__all__ = ["AXES_TAG", "read_optics", "read_tiff", "write_tiff"]
