"""Side-by-side comparison figures, written as 8-bit greyscale PNG files with Pillow."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

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
    """Write ``grey`` (height, width; cast to 8 bits) as a greyscale PNG, atomically."""
    picture = Image.fromarray(np.ascontiguousarray(grey, dtype=np.uint8))
    return atomic_write(path, lambda temporary: picture.save(temporary, format="PNG"))
