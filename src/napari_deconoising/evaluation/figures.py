"""A dependency-free PNG writer for side-by-side comparison figures."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from napari_deconoising.io.outputs import atomic_write


def to_uint8(image: np.ndarray, low: float, high: float) -> np.ndarray:
    """Scale ``image`` so that ``low`` maps to 0 and ``high`` to 255."""
    scaled = (np.asarray(image, np.float64) - low) / max(high - low, 1e-12)
    return (np.clip(scaled, 0, 1) * 255 + 0.5).astype(np.uint8)


def side_by_side(images: Sequence[np.ndarray], gap: int = 4, percentiles=(0.5, 99.8)) -> np.ndarray:
    """Grey panels next to each other, all with the contrast of the first (the raw image)."""
    low, high = np.percentile(images[0], percentiles)
    height = max(image.shape[0] for image in images)
    panels = []
    for index, image in enumerate(images):
        panel = np.full((height, image.shape[1]), 255, np.uint8)
        panel[: image.shape[0]] = to_uint8(image, low, high)
        panels.append(panel)
        if index < len(images) - 1:
            panels.append(np.full((height, gap), 255, np.uint8))
    return np.concatenate(panels, axis=1)


def write_png(path: str | Path, grey: np.ndarray) -> Path:
    """Write an 8-bit greyscale PNG."""
    grey = np.ascontiguousarray(grey, dtype=np.uint8)
    height, width = grey.shape
    rows = np.concatenate([np.zeros((height, 1), np.uint8), grey], axis=1).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
    png += chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")
    return atomic_write(path, lambda temporary: temporary.write_bytes(png))
