"""The model file inside a bioimage.io package that napari-deconoising exported.

A package (a zip with a description, ``rdf.yaml``, at its top) carries our model file as the
attachment :data:`MODEL_MEMBER`; :func:`packaged_model_file` unpacks it so that
:func:`~napari_deconoising.model.bundle.load_model` reads the package back exactly. Needs
nothing beyond napari-deconoising itself (no ``bioimageio.spec``). Packages are untrusted
input: the description and the model member are unpacked only up to a size cap
(:data:`MAX_DESCRIPTION_BYTES`, :data:`~.archive_checks.MAX_MODEL_BYTES`) and compression ratio
(:data:`~.archive_checks.MAX_COMPRESSION_RATIO`), checked on the declared sizes first and again
on the bytes as they are unpacked; the model file itself is then checked as every model file is
(:mod:`.archive_checks`, :mod:`.checks`).
"""

from __future__ import annotations

import contextlib
import io
import re
import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from napari_deconoising.errors import ModelFileError
from napari_deconoising.model.archive_checks import MAX_MODEL_BYTES, unpacked_size_problem
from napari_deconoising.model.refusals import format_bytes

#: The names a bioimage.io package may give its description (``bioimageio.spec``'s list).
YAML_NAMES = ("rdf.yaml", "bioimageio.yaml", "model.yaml")
#: Our model file inside the package, and our block in the description's ``config``.
MODEL_MEMBER = "napari-deconoising-model.pt"
CONFIG_KEY = "napari_deconoising"
#: Largest description (``rdf.yaml``) read from a package; ours take a few kB.
MAX_DESCRIPTION_BYTES = 16 << 20
#: Bytes unpacked at a time.
CHUNK_BYTES = 1 << 20


def is_bioimageio_package(path: str | Path) -> bool:
    """True when ``path`` is a zip with a bioimage.io description (``rdf.yaml``) at its top.

    (A ``torch.save`` model file is a zip too, without one.) A ``.zip`` file that is not a
    readable zip raises :class:`ModelFileError`.
    """
    path = Path(path)
    if not path.is_file():
        return False
    if not zipfile.is_zipfile(path):
        if path.suffix.lower() == ".zip":
            raise ModelFileError(
                f"{path} is a damaged zip file: it is not a readable zip archive (was the "
                "download or copy complete?)"
            )
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise ModelFileError(f"{path} is a damaged zip file ({err})") from err
    return _yaml_name(names) is not None


@contextlib.contextmanager
def packaged_model_file(path: str | Path) -> Iterator[Path]:
    """The model file of package ``path``, unpacked within the caps into a temporary folder
    (removed on leaving). A :class:`ModelFileError` raised while reading it is reworded to name
    the package; a clear one too for other packages (not ours) or damage."""
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="deconoising-import-") as folder:
        inner = Path(folder) / MODEL_MEMBER
        _unpack_model_file(path, inner)
        try:
            yield inner
        except ModelFileError as err:
            reason = str(err).replace(str(inner), MODEL_MEMBER)
            raise ModelFileError(
                f"{path}: the model inside the package is unusable: {reason}"
            ) from err


def _unpack_model_file(path: Path, target: Path) -> None:
    """Write the package's model member to ``target``, within the caps."""
    try:
        with zipfile.ZipFile(path) as archive:
            yaml_name = _yaml_name(archive.namelist())
            if yaml_name is None:
                raise ModelFileError(f"{path} is not a bioimage.io package (it has no rdf.yaml)")
            description = io.BytesIO()
            _unpack(archive, yaml_name, description, MAX_DESCRIPTION_BYTES, path)
            rdf = description.getvalue().decode("utf-8", errors="replace")
            if MODEL_MEMBER not in archive.namelist():
                raise ModelFileError(_foreign_message(path, rdf))
            with target.open("wb") as out:
                _unpack(archive, MODEL_MEMBER, out, MAX_MODEL_BYTES, path)
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as err:
        raise ModelFileError(f"{path} is a damaged bioimage.io package ({err})") from err


def _unpack(archive: zipfile.ZipFile, name: str, out: BinaryIO, limit: int, path: Path) -> None:
    """Copy member ``name`` into ``out`` in chunks: refused when its declared size is above
    ``limit`` or too compressed, and stopped as soon as the bytes unpacked pass ``limit``
    (the declared size may lie)."""
    what = "model member" if name == MODEL_MEMBER else f"description {name}"
    problem = unpacked_size_problem(archive.getinfo(name), limit)
    if problem is not None:
        raise ModelFileError(_too_large(path, what, problem))
    written = 0
    with archive.open(name) as member:
        while chunk := member.read(CHUNK_BYTES):
            written += len(chunk)
            if written > limit:
                problem = f"would unpack to more than {format_bytes(limit)}"
                raise ModelFileError(_too_large(path, what, problem))
            out.write(chunk)


def _too_large(path: Path, what: str, problem: str) -> str:
    return f"{path}: the {what} {problem}; the package is damaged or not made by napari-deconoising"


def _yaml_name(names: Sequence[str]) -> str | None:
    for yaml_name in YAML_NAMES:
        for name in sorted(names):
            if "/" not in name and (name == yaml_name or name.endswith("." + yaml_name)):
                return name
    return None


def _foreign_message(path: Path, rdf: str) -> str:
    if re.search(rf"^\s*{CONFIG_KEY}\s*:", rdf, flags=re.MULTILINE):
        return (
            f"{path} was exported by napari-deconoising, but its model file {MODEL_MEMBER} is "
            "missing from the package"
        )
    found = re.search(r"^name:\s*(.+?)\s*$", rdf, flags=re.MULTILINE)
    described = f" (it describes '{found.group(1).strip(chr(34) + chr(39))}')" if found else ""
    return (
        f"{path} is a bioimage.io package but not one napari-deconoising exported{described}: "
        f"it has no napari-deconoising model file ({MODEL_MEMBER}). Run it with a bioimage.io "
        "tool (bioimageio.core, deepImageJ, ilastik), or train a napari-deconoising model"
    )
