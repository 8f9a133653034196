"""The model files of the Train widget: the names it proposes and the checks before it saves."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from napari_deconoising.errors import OutputError
from napari_deconoising.io.outputs import resolved
from napari_deconoising.training.inputs import last_checkpoint_path
from napari_deconoising.widgets._common import free_path, models_folder, safe_stem
from napari_deconoising.widgets._outputs import ConfirmOverwrite, layer_source, permission_to_write


def default_model_path(layer_name: str) -> Path:
    """``~/deconoising-models/<layer>-<YYYYmmdd-HHMMSS>.pt`` (the name made file-safe).

    A second run within the same second gets ``-2``, ``-3``, ... so no model file is overwritten.
    """
    stem = f"{safe_stem(layer_name)}-{time.strftime('%Y%m%d-%H%M%S')}"
    return free_path(models_folder() / f"{stem}.pt", model_files_exist)


def continued_model_path(continued: Path) -> Path:
    """A free name beside ``continued`` for the model its training gives:
    ``<name>-continued.pt`` (numbered when taken, by the model or its ``.last`` file)."""
    return free_path(continued.with_name(f"{continued.stem}-continued.pt"), model_files_exist)


def model_files_exist(path: Path) -> bool:
    """Whether a training run saving to ``path`` would find its model or ``.last`` file."""
    return path.exists() or last_checkpoint_path(path).exists()


def permission_to_save(
    path: Path | None,
    layers: Iterable[Any],
    continued: Path | None,
    confirm: ConfirmOverwrite,
    propose: Callable[[Path], None],
) -> bool:
    """The engine's ``overwrite`` flag for saving a model to ``path`` (and its ``.last``
    sibling): the files of ``layers`` (image and PSFs) and the ``continued`` model's file are
    never written over, and existing files are replaced only after a Yes from ``confirm``.

    Writing over ``continued`` raises an :class:`OutputError`, after ``propose(path)`` with a
    free name beside it (:func:`continued_model_path`), e.g. to show it in "save model to".
    """
    if path is None:
        return False
    outputs = [path, last_checkpoint_path(path)]
    refuse_continued_file(outputs, continued, propose)
    inputs = [*map(layer_source, layers), continued]
    return permission_to_write(outputs, inputs, confirm)


def refuse_continued_file(
    outputs: Sequence[Path], continued: Path | None, propose: Callable[[Path], None]
) -> None:
    """Raise an :class:`OutputError` when one of ``outputs`` is the model file being
    continued, which is an input and kept; ``propose`` gets a free name beside it first."""
    if continued is None or resolved(continued) not in map(resolved, outputs):
        return
    proposal = continued_model_path(continued)
    propose(proposal)
    raise OutputError(
        f"cannot save to {outputs[0]}: it would write over {continued}, the model being "
        f"continued, which is kept; proposed {proposal.name} instead (click Train again to "
        "save there)"
    )
