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


class Cancelled(Exception):
    """Raised inside a long task when the user asked it to stop and it produced no result."""
