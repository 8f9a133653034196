"""The private TIFF tag that files written here carry, shared by reading and writing.

It holds the exact axes, shape and spacing as JSON (ignored by other software and dropped when
another program re-saves the file), so that :func:`~napari_deconoising.io.read_tiff` restores
what ImageJ/OME cannot express: an ``S`` axis (ImageJ has none), ``S`` and ``T`` together, and
axes of length 1 (which tifffile squeezes).
"""

from __future__ import annotations

AXES_TAG = 65117
"""Private TIFF tag holding this package's axes/shape/spacing JSON."""

TAG_KEY = "napari_deconoising"
"""The key of the tag's JSON object that marks it as ours (its value is the layout version, 1)."""
