"""The one output policy: nothing the product writes can destroy a user's data.

Every command, the Python API and every widget that writes a file or a store goes through here:

* **Before any work**, :func:`check_outputs` resolves the output paths (symlinks, ``..``; stores
  are folders) and refuses an output that *is*, *contains* or *lies inside* an input, the same
  place named twice, an existing output unless ``overwrite`` (the widgets ask), and a place whose
  nearest existing folder is a file or not writable.
* **While writing**, :func:`atomic_write` writes under a temporary name beside the target and
  renames it when complete; :func:`replace_path` moves a finished file or store into place
  without ever leaving the target missing or half-written; :func:`interrupts_deferred` holds a
  Ctrl-C back until a group of renames is done, so an interruption at any moment leaves either the
  previous files or the new ones, and no partial file under a final name.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType
from typing import Any

from napari_deconoising.errors import OutputError

PathLike = str | os.PathLike[str]

#: What the messages tell the user to do about an existing output.
OVERWRITE_ADVICE = "choose another name or allow overwriting (--overwrite)"


def resolved(path: PathLike) -> Path:
    """``path`` made absolute with symlinks and ``..`` resolved (also where it does not exist)."""
    return Path(os.path.realpath(os.path.expanduser(os.fspath(path))))


def check_outputs(
    outputs: Iterable[PathLike],
    inputs: Iterable[PathLike | None] = (),
    *,
    overwrite: bool = False,
) -> list[Path]:
    """Refuse, before any work, outputs that may not or cannot be written; the outputs as paths.

    Raises :class:`~napari_deconoising.errors.OutputError` for an output that is an input,
    holds an input (a folder or store around it) or lies inside an input (a store); an output
    named twice or inside another output; an existing output unless ``overwrite``; and an output
    whose nearest existing folder is a file or not writable; an existing folder is an output
    only when it is a ``.zarr`` store. ``inputs`` may hold None (inputs
    without a file, such as arrays in memory), which are skipped.
    """
    sources = [(Path(p), resolved(p)) for p in inputs if p is not None]
    taken: list[tuple[Path, Path]] = []
    checked = []
    for output in map(Path, outputs):
        target = resolved(output)
        for given, source in sources:
            _refuse_overlap(output, target, given, source, "the input")
        for given, other in taken:
            _refuse_overlap(output, target, given, other, "another output")
        taken.append((output, target))
        if target.is_dir() and not _is_store_name(output):
            raise OutputError(f"cannot write {output}: it is a folder; give a file name")
        if not overwrite and (target.exists() or output.is_symlink()):
            raise OutputError(f"{output} exists; {OVERWRITE_ADVICE}")
        check_writable_folder(target, shown=output)
        checked.append(output)
    return checked


def refuse_input_model(output: PathLike, model: PathLike | None, advice: str) -> None:
    """Refuse an output that is the model file a command reads, saying ``advice``."""
    if model is not None and resolved(output) == resolved(model):
        raise OutputError(f"the output {output} is the input model; {advice}")


def _refuse_overlap(output: Path, target: Path, given: Path, other: Path, what: str) -> None:
    if target == other:
        raise OutputError(f"cannot write {output}: it is {what} {given}; choose another name")
    if other.is_relative_to(target):
        raise OutputError(
            f"cannot write {output}: it holds {what} {given}, which writing it would destroy; "
            "choose another name"
        )
    if target.is_relative_to(other):
        raise OutputError(
            f"cannot write {output}: it lies inside {what} {given}; choose a place outside it"
        )


def _is_store_name(path: Path) -> bool:
    """A ``.zarr`` name: a store, which is a folder (as :func:`..io.zarr_io.is_zarr_path`)."""
    return path.name.lower().endswith(".zarr")


def check_writable_folder(path: PathLike, shown: PathLike | None = None) -> None:
    """The nearest existing folder above ``path`` must be a folder we may write in; else an
    :class:`~napari_deconoising.errors.OutputError` names ``shown`` (default ``path``)."""
    path = Path(path)
    shown = path if shown is None else Path(shown)
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise OutputError(f"cannot write {shown}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {shown}: no permission to write in {folder}")


def atomic_write(path: PathLike, write: Callable[[Path], object]) -> Path:
    """Call ``write(temporary_path)`` and move the result to ``path`` (folders are created).

    The temporary file lies beside ``path``; the rename is atomic and held back from Ctrl-C, so
    ``path`` holds either its previous content or the complete new one. The file gets the usual
    permissions (0666 less the umask), not ``mkstemp``'s private ones.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot write {path}: {err.strerror or err}") from err
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(Path(temporary))
        give_default_mode(temporary)
        with interrupts_deferred():
            os.replace(temporary, path)
    finally:
        with suppress(OSError):
            os.remove(temporary)
    return path


def temporary_name(target: PathLike) -> Path:
    """A hidden name beside ``target`` for building it (unique, same folder, same suffix)."""
    target = Path(target)
    return target.with_name(f".{secrets.token_hex(4)}.{target.name}")


def replace_path(built: PathLike, target: PathLike) -> None:
    """Move the finished file or folder ``built`` to ``target``, replacing what is there.

    The previous ``target`` is first renamed aside and deleted only once the new one is in
    place, all with Ctrl-C held back: an interruption leaves the previous or the new target,
    never none and never a partial one.
    """
    built, target = Path(built), Path(target)
    with interrupts_deferred():
        aside = None
        if target.exists() or target.is_symlink():
            aside = target.with_name(f".{target.name}.replaced-{secrets.token_hex(4)}")
            os.replace(target, aside)
        try:
            os.replace(built, target)
        except BaseException:
            if aside is not None:
                os.replace(aside, target)
            raise
    if aside is not None:
        remove_path(aside)


def replace_all(moves: Iterable[tuple[PathLike, PathLike]]) -> None:
    """:func:`replace_path` for several outputs, all under one deferred Ctrl-C."""
    with interrupts_deferred():
        for built, target in moves:
            replace_path(built, target)


def remove_path(path: PathLike) -> None:
    """Delete a file or a folder tree if it exists (a symlink itself, never its target)."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) back within the block, then deliver it as it would have been.

    Used around renames that must all happen or none. Outside the main thread (where signals
    are never delivered) and in nested blocks nothing changes.
    """
    if threading.current_thread() is not threading.main_thread() or _Deferral.active:
        yield
        return
    arrived: list[tuple[int, FrameType | None]] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        arrived.append((signum, frame))

    previous = signal.signal(signal.SIGINT, hold)
    _Deferral.active = True
    try:
        yield
    finally:
        _Deferral.active = False
        signal.signal(signal.SIGINT, previous)
        for signum, frame in arrived:
            _deliver(previous, signum, frame)


class _Deferral:
    """Whether a deferral is active (nested blocks keep the outer one's handler)."""

    active = False


def _deliver(handler: Any, signum: int, frame: FrameType | None) -> None:
    if callable(handler):
        handler(signum, frame)
    elif handler != signal.SIG_IGN:
        raise KeyboardInterrupt


def give_default_mode(path: PathLike) -> None:
    """Give a file the usual permissions (0666 less the umask); ``mkstemp`` makes them 0600."""
    os.chmod(path, 0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def image_source(image: Any) -> Path | None:
    """The file an image was read from, when it knows (an ``AxesImage`` read from a file, a
    ``numpy.memmap``); None for arrays in memory."""
    source = getattr(image, "path", None)
    if source is None:
        data = getattr(image, "data", image)
        source = getattr(data, "filename", None)
    return None if source is None else Path(source)
