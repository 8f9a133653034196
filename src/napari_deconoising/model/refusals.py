"""How the checks of untrusted model files word a refusal: the file named, the problem in one
line, and a refused value shown short (never the whole of a large one)."""

from __future__ import annotations

import reprlib
from typing import Any

from napari_deconoising.errors import ModelFileError

#: Stands for a field that the file does not have.
MISSING = object()
#: Longest rendering of a refused value (characters).
SHOWN_CHARS = 40
_SHORT_REPR = reprlib.Repr()  # a few items of two levels at most, whatever the value's size
_SHORT_REPR.maxlevel, _SHORT_REPR.maxlist, _SHORT_REPR.maxdict = 2, 4, 3
_SHORT_REPR.maxstring = _SHORT_REPR.maxother = _SHORT_REPR.maxlong = SHOWN_CHARS


def damaged(name: str, problem: str) -> ModelFileError:
    """The refusal of the damaged model file ``name`` because of ``problem``."""
    return ModelFileError(f"{name} is a damaged napari-deconoising model file: {problem}")


def format_bytes(count: float) -> str:
    """``2.5 GiB``, ``300 MiB``, ``12 KiB``, ``7 bytes``."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size:
            return f"{count / size:.3g} {unit}"
    return f"{int(count)} bytes"


def shown(value: Any) -> str:
    """A short one-line rendering of a refused value (never the whole of a large one)."""
    if value is MISSING:
        return "nothing (it is missing)"
    text = _SHORT_REPR.repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


def is_whole(value: Any) -> bool:
    """True for a Python integer that is not a bool (what JSON whole numbers become)."""
    return isinstance(value, int) and not isinstance(value, bool)
