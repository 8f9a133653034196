"""The models the widgets share: trained, loaded from a file or compressed in this session."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from magicgui.widgets import ComboBox, FileEdit
from psygnal import Signal

from napari_deconoising.errors import ConfigError
from napari_deconoising.model.bundle import AnyModel, load_model
from napari_deconoising.widgets._common import file_text, rebuilt_choices


@dataclass
class _Entry:
    model: AnyModel
    path: str | None


class ModelRegistry:
    """Named models, in the order they were added (a later add of a name replaces it).

    ``changed`` is emitted with the name after every :meth:`add` and :meth:`remove`.
    The registry is used from the GUI thread only.
    """

    changed = Signal(str)

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def add(self, name: str, model: AnyModel, path: str | None = None) -> None:
        """Register ``model`` under ``name`` (replacing an entry of that name)."""
        self._entries.pop(name, None)
        self._entries[name] = _Entry(model, None if path is None else str(path))
        self.changed.emit(name)

    def remove(self, name: str) -> None:
        """Forget the model called ``name`` (no error if there is none)."""
        if self._entries.pop(name, None) is not None:
            self.changed.emit(name)

    def get(self, name: str) -> AnyModel:
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


def model_label(name: str) -> str:
    """How the dropdowns show the model called ``name``: with its channel count when several."""
    n_channels = model_registry.get(name).n_channels
    return f"{name} ({n_channels} channels)" if n_channels > 1 else name


def model_choices(_widget: object = None) -> list[tuple[str, str]]:
    """Dropdown entries as (shown text, name): registered models, newest first, then
    :data:`LOAD_FILE`."""
    names = [*reversed(model_registry.names())]
    return [(model_label(name), name) for name in names] + [(LOAD_FILE, LOAD_FILE)]


def chosen_model(choice: str, file_value: str, purpose: str) -> tuple[AnyModel | None, str | None]:
    """``(model, path)`` for a dropdown choice: a registered model with the file it came from,
    or ``(None, path)`` of a model file for the worker to load.

    Raises :class:`ConfigError` naming ``purpose`` when no usable file is given.
    """
    if choice != LOAD_FILE:
        return model_registry.get(choice), model_registry.path(choice)
    if not file_value or Path(file_value).expanduser().is_dir():
        raise ConfigError(f"choose a model to {purpose}: train one, or pick a model file")
    return None, str(Path(file_value).expanduser())


class ModelPicker:
    """The "model" dropdown (registered models, newest first, then :data:`LOAD_FILE`) and the
    model file box, shown only while :data:`LOAD_FILE` is chosen.

    A model added to the registry is selected, unless ``busy()`` is true or ``adopt(name)``
    false; ``on_change`` is called after every change. Call :meth:`disconnect` on closing.
    """

    def __init__(
        self,
        on_change: Callable[[], None],
        busy: Callable[[], bool],
        adopt: Callable[[str], bool] = lambda name: True,
    ):
        self.combo = ComboBox(label="model", choices=model_choices)
        self.file = FileEdit(label="model file", mode="r", filter="*.pt *.zip")
        self._on_change, self._busy, self._adopt = on_change, busy, adopt
        self.combo.changed.connect(self._changed)
        self.file.changed.connect(self._changed)
        model_registry.changed.connect(self._on_registry)
        self.file.visible = self.from_file

    @property
    def from_file(self) -> bool:
        """True when the user is to pick a model file."""
        return self.combo.value == LOAD_FILE

    def chosen(self, purpose: str) -> tuple[AnyModel | None, str | None]:
        """See :func:`chosen_model`."""
        return chosen_model(self.combo.value, file_text(self.file), purpose)

    def disconnect(self) -> None:
        """Stop following the registry."""
        model_registry.changed.disconnect(self._on_registry, missing_ok=True)

    def _on_registry(self, name: str) -> None:
        previous = self.combo.value
        with rebuilt_choices(self.combo):
            if name in model_registry and not self._busy() and self._adopt(name):
                self.combo.value = name
            elif previous in self.combo.choices:
                self.combo.value = previous
        self._changed()

    def _changed(self, *_: Any) -> None:
        self.file.visible = self.from_file
        self._on_change()


def ask_package_path(parent: Any, suggested: str) -> str | None:
    """Ask where to write a bioimage.io package (a save dialog, which confirms replacing a
    file); None when the user cancels."""
    from qtpy.QtWidgets import QFileDialog

    path, _ = QFileDialog.getSaveFileName(
        parent, "Export to bioimage.io", suggested, "bioimage.io package (*.zip)"
    )
    return path or None


@dataclass(frozen=True)
class Loaded:
    """Yielded by a worker that has read a model file; :meth:`register` it in the GUI thread."""

    model: AnyModel
    path: str

    def register(self) -> None:
        """Add the model to the registry as ``file: <file name>``."""
        model_registry.add(f"file: {Path(self.path).stem}", self.model, self.path)


def load_if_needed(model: AnyModel | None, path: str | None) -> Generator[Loaded, None, AnyModel]:
    """Worker step: ``model``, or the model read from ``path`` (announced by :class:`Loaded`)."""
    if model is None:
        model = load_model(path)
        yield Loaded(model, str(path))
    return model


def model_text(info: dict[str, Any]) -> str:
    """A model's summary for the widgets, e.g. 'DecoNoising, 2 channels, 12,345 parameters,
    PSF 9 px, trained at 0.1 µm pixels' (``info``: :meth:`DecoNoisingModel.info`)."""
    kind = "Noise2Void" if info["kind"] == "n2v" else "DecoNoising"
    channels = info.get("channels", 1)
    shapes = info["psf_shape"] if channels > 1 else [info["psf_shape"]]
    sizes = "/".join(str(n) for n in sorted({shape[0] for shape in shapes if shape}))
    parts = [kind, f"{channels} channels" if channels > 1 else ""]
    parts += [f"{info['parameters']:,} parameters", f"PSF {sizes} px" if sizes else ""]
    pixel = info.get("pixel_size_um")
    parts.append(f"trained at {pixel:.4g} µm pixels" if pixel else "")
    return ", ".join(part for part in parts if part)
