"""Writing files atomically: a temporary file in the target folder, then one rename.

A failed or cancelled write never leaves a half-written file at the target path.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(temporary_path)`` and move the result to ``path`` (folders are created).

    The file gets the usual permissions (0666 less the umask), not ``mkstemp``'s private ones.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(Path(temporary))
        give_default_mode(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


def give_default_mode(path: str | Path) -> None:
    """Give a file the usual permissions (0666 less the umask); ``mkstemp`` makes them 0600."""
    os.chmod(path, 0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_writable_folder(path: Path) -> None:
    """The nearest existing folder above ``path`` must be a folder we may write in; else
    :class:`~napari_deconoising.errors.ImageError` says so."""
    from .errors import ImageError

    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ImageError(f"cannot write {path}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ImageError(f"cannot write {path}: no permission to write in {folder}")
