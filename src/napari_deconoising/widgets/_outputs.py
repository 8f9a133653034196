"""How the widgets follow the output policy (:mod:`napari_deconoising.io.outputs`).

Before a worker starts, in the GUI thread, :func:`permission_to_write` checks the outputs: one
that is, holds or lies inside an input (the layer's file, the model file used) is refused with
an :class:`~napari_deconoising.errors.OutputError`, shown as a notification; existing outputs
are replaced only after a Yes to the widget's ``confirm_overwrite`` question, and on No
:class:`OverwriteDeclined` leaves the widget ready with nothing started.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from napari_deconoising.io.outputs import PathLike, check_outputs, resolved

#: ``confirm_overwrite(paths)``: whether the existing ``paths`` may be replaced (Yes/No).
ConfirmOverwrite = Callable[[list[Path]], bool]


class OverwriteDeclined(Exception):
    """The user answered No to replacing existing outputs: nothing is started."""

    def __init__(self, paths: Sequence[Path]):
        self.paths = list(paths)
        names = ", ".join(path.name for path in self.paths)
        super().__init__(f"Kept the existing outputs ({names}); nothing was run.")


def permission_to_write(
    outputs: Iterable[PathLike],
    inputs: Iterable[PathLike | None],
    confirm: ConfirmOverwrite,
) -> bool:
    """The ``overwrite`` flag to hand the engine for ``outputs``, after the policy's checks.

    False when no output exists yet; True when some do and ``confirm(existing)`` said Yes.
    Raises :class:`~napari_deconoising.errors.OutputError` for what is refused whatever the
    answer (an output that is, holds or lies inside one of ``inputs``, an output named twice,
    no writable folder) and :class:`OverwriteDeclined` when ``confirm`` says No.
    """
    checked = check_outputs(outputs, inputs, overwrite=True)
    existing = [path for path in checked if resolved(path).exists() or path.is_symlink()]
    if not existing:
        return False
    if not confirm(existing):
        raise OverwriteDeclined(existing)
    return True


def file_output(text: str) -> Path | None:
    """The output file typed in a box (``~`` expanded), None when empty (a folder is refused
    by :func:`permission_to_write`)."""
    return Path(text).expanduser() if text else None


def layer_source(layer: Any) -> Path | None:
    """The file or store napari opened ``layer`` from (``layer.source.path``), or None."""
    path = getattr(getattr(layer, "source", None), "path", None)
    return Path(path) if path else None


def ask_to_replace(parent: Any, paths: list[Path]) -> bool:
    """Ask whether the existing ``paths`` may be replaced (Yes/No, No by default)."""
    from qtpy.QtWidgets import QMessageBox

    buttons = QMessageBox.StandardButton
    names = "\n".join(str(path) for path in paths)
    these = "this output" if len(paths) == 1 else "these outputs"
    answer = QMessageBox.question(
        parent,
        "Replace existing outputs?",
        f"Replace {these}? What is there now will be lost.\n\n{names}",
        buttons.Yes | buttons.No,
        buttons.No,
    )
    return answer == buttons.Yes
