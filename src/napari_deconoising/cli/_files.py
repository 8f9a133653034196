"""The command line's only image reader and image writer: every command reads and writes here.

Inputs are read with their axes and pixel sizes (:func:`~napari_deconoising.io.read_tiff`);
outputs are written as ImageJ hyperstacks (``.tif``/``.tiff``) or OME-TIFF (``.ome.tif``/
``.ome.tiff``) that keep both (:func:`~napari_deconoising.io.write_tiff`). A command's outputs
are written together: every file or none.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping
from contextlib import suppress
from pathlib import Path

import numpy as np

from napari_deconoising.cli._output import say
from napari_deconoising.errors import ImageError, OutputError
from napari_deconoising.io import AXES, AxesImage, default_axes_message, read_tiff, write_tiff
from napari_deconoising.io.lazy import open_image
from napari_deconoising.io.outputs import check_outputs as check_output_paths
from napari_deconoising.io.outputs import give_default_mode, replace_all, temporary_name

TIFF_SUFFIXES = (".tif", ".tiff")
DTYPES = ("float32", "input")

Image = AxesImage | np.ndarray


def add_axes_option(parser: argparse._ActionsContainer, what: str = "the input images") -> None:
    """Add ``--axes AXES``: the axes of ``what``, overriding their metadata."""
    parser.add_argument(
        "--axes",
        metavar="AXES",
        help=f"axes of {what}, one letter per dimension from {AXES} (S samples/frames, T time, "
        "C channels, Z, Y, X), e.g. CYX or TZCYX; default: from the file's ImageJ/OME "
        "metadata, else a guess by the number of dimensions (with a note)",
    )


def read_input(
    path: str | Path, axes: str | None = None, *, command: str, lazy: bool = False
) -> AxesImage:
    """Read one input image with its axes and pixel sizes; errors name the file.

    ``axes`` (the user's ``--axes``) wins over the file's metadata. When the axes are only a
    guess by the number of dimensions, one ``note:`` line on stderr says so and how to correct
    it (not when the guess is only Y and X: a 2D image has nothing to guess). With ``lazy``, a
    TIFF file or a (OME-)Zarr store is opened without reading its pixels (see
    :func:`~napari_deconoising.io.lazy.open_image`).
    """
    image = open_image(path, axes) if lazy else read_tiff(path, axes)
    guessed = [axis for axis in image.axes if axis not in "YX"]
    if image.axes_source == "default" and guessed:
        note = default_axes_message(image.shape, image.axes)
        say(command, f"note: {Path(path).name}: {note}")
    return image


def add_overwrite_option(parser: argparse._ActionsContainer, what: str = "outputs") -> None:
    """Add ``--overwrite``: replace ``what`` that exist already (never an input)."""
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help=f"replace {what} that exist already (an input is never replaced)",
    )


def add_out_option(
    parser: argparse._ActionsContainer, help: str, what: str = "an --out file"
) -> None:
    """Add the required ``--out`` (described by ``help``) and ``--overwrite`` for ``what``."""
    parser.add_argument("--out", required=True, help=help)
    add_overwrite_option(parser, what)


def check_outputs(
    paths: Iterable[str | Path],
    inputs: Iterable[str | Path | None] = (),
    overwrite: bool = False,
) -> list[Path]:
    """Refuse, before any work, TIFF outputs that cannot be written: a name without a TIFF
    suffix, and whatever the output policy refuses (:func:`napari_deconoising.io.outputs.
    check_outputs`: an input, the same file twice, a place with no folder to write in, or,
    unless ``overwrite``, a file that exists already)."""
    paths = [Path(path) for path in paths]
    for path in paths:
        if not path.name.lower().endswith(TIFF_SUFFIXES):
            raise OutputError(
                f"cannot write {path}: the file name must end with .tif or .tiff "
                "(.ome.tif for OME-TIFF)"
            )
    return check_output_paths(paths, inputs, overwrite=overwrite)


def write_outputs(
    outputs: Mapping[str | Path, Image],
    dtype: str = "float32",
    input_dtype: np.dtype | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Write every output or none: each goes to a temporary file beside its target first, and
    only when all are written are they moved into place together (Ctrl-C held back meanwhile).

    Each image keeps its axes and pixel sizes (a plain array gets the default axes). ``dtype``
    is ``"float32"`` or ``"input"`` (``input_dtype``, rounded and clipped for integer types).
    Existing files are replaced only with ``overwrite``.
    """
    paths = check_outputs(outputs, overwrite=overwrite)
    temporaries: dict[Path, Path] = {}
    try:
        for path, image in zip(paths, outputs.values(), strict=True):
            temporary = temporary_name(path)
            temporaries[path] = temporary
            try:
                write_tiff(temporary, image, dtype=dtype, input_dtype=input_dtype, overwrite=True)
            except ImageError as err:
                raise ImageError(str(err).replace(str(temporary), str(path))) from err
            give_default_mode(temporary)
        replace_all((temporary, path) for path, temporary in temporaries.items())
    finally:
        for temporary in temporaries.values():
            with suppress(OSError):
                temporary.unlink()
    return paths


def write_output(path: str | Path, image: Image, overwrite: bool = False) -> Path:
    """Write one float32 output image (see :func:`write_outputs`)."""
    return write_outputs({path: image}, overwrite=overwrite)[0]
