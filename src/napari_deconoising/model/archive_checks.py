"""Checks of a model file's container before ``torch.load`` unpacks it: model files are
untrusted input.

A model file is the zip archive that ``torch.save`` writes. :func:`check_archive` refuses one
that declares a member larger than :data:`MAX_MODEL_BYTES` (a pickle larger than
:data:`MAX_PICKLE_BYTES`) or packed more than :data:`MAX_COMPRESSION_RATIO` times, so that
``torch.load`` never inflates a bomb; :func:`read_payload` then loads it with
``weights_only=True`` (tensors and plain containers only: opening a model file cannot run code)
and :func:`check_format` checks its format and version. The metadata and weights are checked
next (:mod:`napari_deconoising.model.checks`).
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from napari_deconoising.errors import ModelFileError, one_line
from napari_deconoising.model.refusals import MISSING, damaged, format_bytes, is_whole, shown

#: Largest unpacked content of a model file (each archive member, and all together), largest
#: model member of a bioimage.io package, and largest network (as float32 weights) a file may
#: describe. The default network has about half a million weights (2 MB); this leaves room for
#: any network that trains on one machine.
MAX_MODEL_BYTES = 1 << 30
#: Longest metadata JSON (characters). The PSF is its largest part: a 3D PSF of a million
#: values takes about 25 MB.
MAX_METADATA_CHARS = 64 << 20
#: Largest pickle in a model file: the metadata plus the names of the weights.
MAX_PICKLE_BYTES = MAX_METADATA_CHARS + (1 << 20)
#: Largest ratio of unpacked to packed size of an archive member (weights pack about 1.1:1),
#: checked for members above :data:`RATIO_CHECKED_ABOVE` bytes.
MAX_COMPRESSION_RATIO = 200
RATIO_CHECKED_ABOVE = 1 << 20


def unpacked_size_problem(member: zipfile.ZipInfo, limit: int) -> str | None:
    """Why archive ``member`` may not be unpacked (its declared size above ``limit``, or packed
    more than :data:`MAX_COMPRESSION_RATIO` times), as ``would unpack to ...``; None if it may."""
    size, packed = member.file_size, member.compress_size
    if size > limit:
        return f"would unpack to {format_bytes(size)} (at most {format_bytes(limit)})"
    if size > RATIO_CHECKED_ABOVE and size > MAX_COMPRESSION_RATIO * max(packed, 1):
        return (
            f"would unpack to {format_bytes(size)} from {format_bytes(packed)} "
            f"({size / max(packed, 1):.0f} times; at most {MAX_COMPRESSION_RATIO})"
        )
    return None


def check_archive(path: Path) -> None:
    """Refuse a model file that is not a zip archive (what ``torch.save`` writes), or whose
    members would unpack to more than the caps, before ``torch.load`` reads it."""
    not_ours = f"{path} is not a napari-deconoising model file"
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{not_ours} (it is not the zip archive that torch.save writes)")
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise ModelFileError(f"{not_ours} ({one_line(err)})") from err
    for member in members:
        limit = MAX_PICKLE_BYTES if member.filename.endswith("data.pkl") else MAX_MODEL_BYTES
        problem = unpacked_size_problem(member, limit)
        if problem is not None:
            raise ModelFileError(
                f"{path}: its part {shown(member.filename)} {problem}; the file is damaged or "
                "not a napari-deconoising model file"
            )
    total = sum(member.file_size for member in members)
    if total > MAX_MODEL_BYTES:
        raise ModelFileError(
            f"{path}: its parts would unpack to {format_bytes(total)} (at most "
            f"{format_bytes(MAX_MODEL_BYTES)}); the file is damaged or not a napari-deconoising "
            "model file"
        )


def check_format(payload: Any, name: str, expected: str, versions: Sequence[int]) -> int:
    """The format version of a loaded ``payload``; a :class:`ModelFileError` when it is not a
    ``expected`` file or its version is not one of ``versions`` (a newer one: please upgrade)."""
    found = payload.get("format") if isinstance(payload, dict) else None
    if not isinstance(found, str) or found != expected:
        raise ModelFileError(f"{name} is not a napari-deconoising model file")
    version = payload.get("format_version", MISSING)
    whole = is_whole(version)
    if whole and version > max(versions):
        raise ModelFileError(
            f"{name} was written by a newer napari-deconoising (format {version}); please upgrade"
        )
    if not whole or version not in versions:
        known = " or ".join(str(v) for v in versions)
        raise damaged(name, f"format_version must be {known}, got {shown(version)}")
    return int(version)


def read_payload(path: Path, expected: str, versions: Sequence[int]) -> dict[str, Any]:
    """The payload of model file ``path`` (format ``expected``, one of ``versions``), read with
    ``weights_only=True`` once its archive is checked, and its format checked."""
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    check_archive(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ModelFileError(_unreadable(path, err)) from err
    check_format(payload, str(path), expected, versions)
    return payload


def _unreadable(path: Path, err: Exception) -> str:
    """Why ``torch.load`` refused ``path``, in our words: never torch's advice to load it
    without ``weights_only``."""
    if isinstance(err, pickle.UnpicklingError) or "weights_only" in str(err):
        return (
            f"{path} is not a napari-deconoising model file: it holds Python objects other than "
            "network weights and plain values (or is damaged); such files are never loaded, "
            "since opening them could run code"
        )
    return f"{path} is not a napari-deconoising model file ({one_line(err)})"
