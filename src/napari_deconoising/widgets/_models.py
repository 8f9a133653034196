"""The models the widgets share: trained, loaded from a file or compressed in this session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from psygnal import Signal

from ..bundle import DecoNoisingModel
from ..errors import ConfigError


@dataclass
class _Entry:
    model: DecoNoisingModel
    path: str | None


class ModelRegistry:
    """Named models, in the order they were added (a later add of a name replaces it).

    ``changed`` is emitted with the name after every :meth:`add` and :meth:`remove`.
    The registry is used from the GUI thread only.
    """

    changed = Signal(str)

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def add(self, name: str, model: DecoNoisingModel, path: str | None = None) -> None:
        """Register ``model`` under ``name`` (replacing an entry of that name)."""
        self._entries.pop(name, None)
        self._entries[name] = _Entry(model, None if path is None else str(path))
        self.changed.emit(name)

    def remove(self, name: str) -> None:
        """Forget the model called ``name`` (no error if there is none)."""
        if self._entries.pop(name, None) is not None:
            self.changed.emit(name)

    def get(self, name: str) -> DecoNoisingModel:
        """The model called ``name``; KeyError if there is none."""
        return self._entries[name].model

    def path(self, name: str) -> str | None:
        """The file the model called ``name`` was saved to or loaded from, if any."""
        return self._entries[name].path

    def names(self) -> list[str]:
        """All names, oldest first."""
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Forget every model (used by tests)."""
        for name in list(self._entries):
            self.remove(name)


#: The session-wide registry shared by the Train, Denoise & Deconvolve and Compress widgets.
model_registry = ModelRegistry()


#: The last entry of every model dropdown: pick a model file instead of a registered model.
LOAD_FILE = "Load model file…"


def model_choices(_widget: object = None) -> list[str]:
    """Dropdown entries: registered models, newest first, then :data:`LOAD_FILE`."""
    return [*reversed(model_registry.names()), LOAD_FILE]


def chosen_model(
    choice: str, file_value: str, purpose: str
) -> tuple[DecoNoisingModel | None, str | None]:
    """``(model, path)`` for a dropdown choice: a registered model with the file it came from,
    or ``(None, path)`` of a model file for the worker to load.

    Raises :class:`ConfigError` naming ``purpose`` when no usable file is given.
    """
    if choice != LOAD_FILE:
        return model_registry.get(choice), model_registry.path(choice)
    if not file_value or Path(file_value).expanduser().is_dir():
        raise ConfigError(f"choose a model to {purpose}: train one, or pick a model file")
    return None, str(Path(file_value).expanduser())
