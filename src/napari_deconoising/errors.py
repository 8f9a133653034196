"""Exceptions with messages meant for the user (CLI line, napari notification)."""

from __future__ import annotations


class DeconoisingError(ValueError):
    """Base class of every error whose message is shown to the user as it is."""


class PSFError(DeconoisingError):
    """The point spread function is unusable (wrong shape, NaNs, zero or negative sum...)."""


class ImageError(DeconoisingError):
    """The image cannot be used (wrong dimensionality, NaNs, too small...)."""


class ModelFileError(DeconoisingError):
    """A file is not a readable napari-deconoising model file."""


class OutputError(DeconoisingError):
    """An output may not or cannot be written (it is an input, exists, has no folder...)."""


class ConfigError(DeconoisingError):
    """A configuration value is out of range or unknown."""


def one_line(message: object, limit: int = 200) -> str:
    """A message (an error's: its type when empty) as one line of at most ``limit`` characters,
    to quote inside the product's own one-line messages."""
    text = " ".join(str(message).split()) or type(message).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Cancelled(Exception):
    """Raised inside a long task when the user asked it to stop and it produced no result."""
