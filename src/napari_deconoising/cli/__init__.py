"""The ``deconoising`` command line: demo, psf, noise, train, predict, info, compress,
export-onnx, export-bioimageio.

One module per group of commands, each with ``add_parser(commands)`` that registers its
subcommand with ``handler(args) -> exit code``. What they print is defined once in
:mod:`._output`; images are read and written only in :mod:`._files`. Errors meant for the user
(:class:`~napari_deconoising.errors.DeconoisingError` and missing or unreadable files) end a
command here, as one line ``deconoising CMD: error: message`` on stderr and exit code 2; Ctrl-C
ends it with one line and exit code 130 (``train`` first stops cleanly, see :mod:`.train`).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from napari_deconoising.cli import bioimageio, compress, demo, info, noise, predict, psf, train
from napari_deconoising.cli._output import EXIT_ERROR, EXIT_INTERRUPTED, say
from napari_deconoising.errors import Cancelled, DeconoisingError

USER_ERRORS = (DeconoisingError, FileNotFoundError, IsADirectoryError, PermissionError)

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``deconoising``."""
    parser = argparse.ArgumentParser(
        prog="deconoising",
        description="Self-supervised joint denoising and deconvolution (DecoNoising).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for add_parser in (
        demo.add_parser,
        psf.add_parser,
        noise.add_parser,
        train.add_parser,
        predict.add_parser,
        info.add_parser,
        compress.add_parser,
        compress.add_export_parser,
        bioimageio.add_commands,
    ):
        add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``deconoising`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except USER_ERRORS as err:
        say(args.command, f"error: {err}")
        return EXIT_ERROR
    except Cancelled:
        say(args.command, "cancelled")
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        say(args.command, "interrupted")
        return EXIT_INTERRUPTED
