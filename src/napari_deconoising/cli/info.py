"""``deconoising info``: describe a model file."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..bundle import load_model
from ._output import add_json_option, report


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register ``info``."""
    info = commands.add_parser("info", help="describe a model file")
    info.add_argument("model", help="model file")
    add_json_option(info)
    info.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print what the model file holds."""
    info = load_model(args.model).info()
    info["file_bytes"] = Path(args.model).stat().st_size
    report(info, describe(args.model, info), args.json)
    return 0


def describe(path: str, info: dict[str, Any]) -> list[str]:
    """The lines ``deconoising info`` prints for people (per channel where channels differ)."""
    pixel = info.get("pixel_size_um")
    return [
        f"model file:   {path} ({info['file_bytes'] / 1e6:.2f} MB)",
        f"kind:         {info['kind']}",
        f"network:      U-Net depth {info['depth']}, widths {info['widths']}, "
        f"{info['parameters']:,} parameters",
        f"channels:     {info.get('channels', 1)}",
        f"pixel size:   {f'{pixel:.4g} µm (training images)' if pixel else 'unknown'}",
        f"PSF:          {_per_channel(info['psf_shape'], str)}",
        f"normalisation: {_per_channel(info['normalisation'], _normalisation)}",
        f"compressed:   {info['compressed_from'] or 'no'}",
        f"package:      napari-deconoising {info['metadata'].get('package_version', '?')}",
    ]


def _per_channel(value: Any, text: Callable[[Any], str]) -> str:
    """``text(value)``; for a per-channel list (a multi-channel model) each channel's, numbered."""
    if not isinstance(value, list) or not value or not isinstance(value[0], list | dict | None):
        return text(value)
    return "; ".join(f"channel {index}: {text(item)}" for index, item in enumerate(value))


def _normalisation(norm: dict[str, float]) -> str:
    return f"mean {norm['mean']:.2f}, std {norm['std']:.2f}, offset {norm['offset']:.2f}"
