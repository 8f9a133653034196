"""The "continue from" choice of the Train widget: a new model, a model of the shared registry,
or a model file, whose training goes on."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from magicgui.widgets import ComboBox, FileEdit, Label

from napari_deconoising.errors import ConfigError
from napari_deconoising.model.bundle import AnyModel
from napari_deconoising.widgets._common import file_text, rebuilt_choices
from napari_deconoising.widgets._models import model_label, model_registry

#: The first entry: train a new network.
NEW_MODEL = "— new model —"
#: The last entry: continue the model in a file (read when training starts).
FROM_FILE = "a file…"
#: What an empty PSF dropdown means while a model's training is continued.
MODEL_PSF = "model's PSF"
#: magicgui's text for the empty entry of a dropdown.
NO_CHOICE = "-----"


class ContinueFrom:
    """The "continue from" dropdown (:data:`NEW_MODEL`, the registry's models newest first,
    :data:`FROM_FILE`), the file box shown for :data:`FROM_FILE` and a line about the choice.

    The choice stays put when models are added to the registry (it falls back to
    :data:`NEW_MODEL` when its model is removed); ``on_change`` is called after every change.
    Call :meth:`disconnect` when the widget closes.
    """

    def __init__(self, on_change: Callable[[], None]):
        self.combo = ComboBox(
            label="continue from",
            choices=self._choices,
            value=NEW_MODEL,
            tooltip="Train a new network, or go on training a model (its architecture, "
            "normalisation, method and PSF are kept; the step count goes on)",
        )
        self.file = FileEdit(label="model to continue", mode="r", filter="*.pt")
        self.info = Label(value="")
        self.info.native.setWordWrap(True)
        self._on_change = on_change
        self.combo.changed.connect(self._changed)
        self.file.changed.connect(self._changed)
        model_registry.changed.connect(self._on_registry)
        self._show()

    @staticmethod
    def _choices(_widget: Any = None) -> list[tuple[str, str]]:
        names = [*reversed(model_registry.names())]
        return [
            (NEW_MODEL, NEW_MODEL),
            *((model_label(name), name) for name in names),
            (FROM_FILE, FROM_FILE),
        ]

    # -- state ----------------------------------------------------------------------------------
    @property
    def continuing(self) -> bool:
        """True unless a new model is to be trained."""
        return self.combo.value != NEW_MODEL

    @property
    def from_file(self) -> bool:
        """True when the model to continue is read from a file."""
        return self.combo.value == FROM_FILE

    @property
    def name(self) -> str | None:
        """The registry name of the model to continue, if one is chosen."""
        value = self.combo.value
        return None if value in (NEW_MODEL, FROM_FILE) else value

    @property
    def model(self) -> AnyModel | None:
        """The registry model to continue, if one is chosen."""
        name = self.name
        return None if name is None else model_registry.get(name)

    @property
    def source_file(self) -> Path | None:
        """The file of the model to continue (the chosen file, or the one a registry model was
        saved to or read from): an input, never written over; None for a new model or one
        held in memory only."""
        if self.from_file:
            text = file_text(self.file)
            return Path(text).expanduser() if text else None
        name = self.name
        path = None if name is None else model_registry.path(name)
        return None if path is None else Path(path)

    def chosen(self) -> tuple[AnyModel | None, str | None]:
        """``(model, None)`` for a registry model, ``(None, path)`` for a file (read by the
        worker), ``(None, None)`` for a new model; :class:`ConfigError` without a usable file."""
        if not self.from_file:
            return self.model, None
        text = file_text(self.file)
        if not text or Path(text).expanduser().is_dir():
            raise ConfigError("choose the model file to continue, or '— new model —'")
        return None, str(Path(text).expanduser())

    def select(self, name: str) -> None:
        """Choose the registry model ``name`` (if it is there)."""
        if name in model_registry:
            self.combo.value = name

    def disconnect(self) -> None:
        """Stop following the registry."""
        model_registry.changed.disconnect(self._on_registry, missing_ok=True)

    # -- internals ------------------------------------------------------------------------------
    def _on_registry(self, _name: str) -> None:
        previous = self.combo.value
        with rebuilt_choices(self.combo):
            self.combo.value = previous if previous in self.combo.choices else NEW_MODEL
        self._changed()  # the model of that name may be another one now

    def _changed(self, *_: Any) -> None:
        self._show()
        self._on_change()

    def _show(self) -> None:
        self.file.visible = self.from_file
        model = self.model
        if self.from_file:
            self.info.value = (
                "The method, architecture, normalisation and PSF come from the file (a PSF "
                "layer chosen below replaces its PSF)."
            )
        elif model is not None:
            self.info.value = describe(model)
        else:
            self.info.value = ""


def describe(model: AnyModel) -> str:
    """E.g. 'DecoNoising, 2 channels, 12,345 parameters, trained 500 steps; its PSF is kept
    unless a PSF layer is chosen'."""
    parts = ["Noise2Void" if model.is_n2v else "DecoNoising"]
    if model.n_channels > 1:
        parts.append(f"{model.n_channels} channels")
    parts.append(f"{model.info()['parameters']:,} parameters")
    steps = int(model.channels[0].metadata.get("steps") or 0)
    parts.append(f"trained {steps:,} steps" if steps else "")
    text = ", ".join(part for part in parts if part)
    if not model.is_n2v:
        text += "; its PSF is kept unless a PSF layer is chosen"
    return text


def model_psf_choice(combo: ComboBox, continuing: Callable[[], bool]) -> None:
    """Make a PSF dropdown of :class:`~._common.LayerChoices` list "model's PSF" (None) instead
    of "(none)" while ``continuing()``, and then not switch to a PSF-named layer added to the
    viewer (as it does when empty). :func:`relabel_psf_choices` shows a change of ``continuing``.
    """
    layers = combo._default_choices  # the LayerChoices list of layers
    prefer = combo._deconoising_prefer  # type: ignore[attr-defined]

    def choices(widget: Any = None) -> list[tuple[str, Any]]:
        items = layers(widget)
        if continuing():
            items = [(name, value) for name, value in items if value is not None]
        return items

    def preferred(layer: Any) -> bool:
        return not continuing() and prefer(layer)

    combo.choices = choices
    if prefer is not None:
        combo._deconoising_prefer = preferred  # type: ignore[attr-defined]
    combo.null_string = MODEL_PSF if continuing() else NO_CHOICE


def relabel_psf_choices(combos: Sequence[ComboBox], continuing: bool) -> None:
    """Show (or stop showing) "model's PSF" in dropdowns set up by :func:`model_psf_choice`."""
    for combo in combos:
        value = combo.value
        combo.null_string = MODEL_PSF if continuing else NO_CHOICE
        with rebuilt_choices(combo):
            combo.value = value if value in combo.choices else None
