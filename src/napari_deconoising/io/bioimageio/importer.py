"""Reading back a bioimage.io package that napari-deconoising exported: its attached model file.

Needs nothing beyond napari-deconoising itself (no ``bioimageio.spec``)."""

from __future__ import annotations

import re
import tempfile
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

from ...bundle import AnyModel, load_model
from ...errors import ModelFileError
from .common import CONFIG_KEY, MODEL_MEMBER, YAML_NAMES


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


def load_bioimageio(path: str | Path) -> AnyModel:
    """Read back the model of a package that :func:`export_bioimageio` wrote (its attached
    model file, exactly); a clear :class:`ModelFileError` for other packages or damage."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            yaml_name = _yaml_name(names)
            if yaml_name is None:
                raise ModelFileError(f"{path} is not a bioimage.io package (it has no rdf.yaml)")
            rdf = archive.read(yaml_name).decode("utf-8", errors="replace")
            if MODEL_MEMBER not in names:
                raise ModelFileError(_foreign_message(path, rdf))
            data = archive.read(MODEL_MEMBER)
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as err:
        raise ModelFileError(f"{path} is a damaged bioimage.io package ({err})") from err
    with tempfile.TemporaryDirectory(prefix="deconoising-import-") as folder:
        inner = Path(folder) / MODEL_MEMBER
        inner.write_bytes(data)
        try:
            return load_model(inner)
        except ModelFileError as err:
            reason = str(err).replace(str(inner), MODEL_MEMBER)
            raise ModelFileError(
                f"{path}: the model inside the package is unusable: {reason}"
            ) from err


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
