"""The command line's only image reader and image writer: every command reads and writes here."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..files import atomic_write
from ..images import read_image, write_image


def read_input(path: str | Path) -> np.ndarray:
    """Read one input image; errors name the file."""
    return read_image(path)


def write_output(path: str | Path, image: np.ndarray) -> Path:
    """Write one output image atomically: an interrupted write leaves no file behind."""
    return atomic_write(path, lambda temporary: write_image(temporary, image))
