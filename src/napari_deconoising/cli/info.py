"""``deconoising info``: describe a model file."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from napari_deconoising.cli._output import add_json_option, report
from napari_deconoising.model.bundle import load_model
from napari_deconoising.training.blind_spot import checked_blind_spot, describe_blind_spot


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
        f"network:      {info.get('spatial_dims', 2)}D U-Net depth {info['depth']}, widths "
        f"{info['widths']}, {info['parameters']:,} parameters{_layout(info)}",
        *_three_d(info),
        f"channels:     {info.get('channels', 1)}",
        f"pixel size:   {f'{pixel:.4g} µm (training images)' if pixel else 'unknown'}",
        f"PSF:          {_per_channel(info['psf_shape'], str)}",
        f"normalisation: {_per_channel(info['normalisation'], _normalisation)}",
        *_blind_spot(info),
        f"compressed:   {info['compressed_from'] or 'no'}",
        f"package:      napari-deconoising {info['metadata'].get('package_version', '?')}",
    ]


def _blind_spot(info: dict[str, Any]) -> list[str]:
    """The blind spot the model was trained with and the noise notes of its training images,
    when the file records them (as text; a file's other values are not shown)."""
    config = info.get("training_config") or {}
    recorded = checked_blind_spot(config.get("blind_spot"), config.get("blind_spot_span"))
    lines = [] if recorded is None else [f"blind spot:   {describe_blind_spot(*recorded)}"]
    notes = info.get("metadata", {}).get("noise_notes")
    if isinstance(notes, list):
        lines += [f"noise:        {note}" for note in notes if isinstance(note, str)]
    return lines


def _layout(info: dict[str, Any]) -> str:
    """The U-Net's N2V2-style options, when a model uses them."""
    options = []
    if info.get("downsampling", "max") != "max":
        options.append(f"{info['downsampling']}-pool down-sampling")
    if not info.get("top_skip", True):
        options.append("no full-resolution skip")
    if info.get("z_context"):
        options.append(
            f"2.5D: the first layer sees {info['z_context']} planes, then plane by plane"
        )
    return "".join(f", {option}" for option in options)


def _three_d(info: dict[str, Any]) -> list[str]:
    """A 3D model's lines: its pooling per level and its training voxel size."""
    if info.get("spatial_dims", 2) != 3:
        return []
    pooling = ", ".join("x".join(str(f) for f in level) for level in info["pooling"])
    voxel = info.get("voxel_size_um")
    size = " x ".join(f"{v:.4g}" for v in voxel) + " µm (z, y, x)" if voxel else "unknown"
    return [
        f"mode:         3D (volumes); pooling per level (z x y x): {pooling}",
        f"voxel size:   {size}",
    ]


def _per_channel(value: Any, text: Callable[[Any], str]) -> str:
    """``text(value)``; for a per-channel list (a multi-channel model) each channel's, numbered."""
    if not isinstance(value, list) or not value or not isinstance(value[0], list | dict | None):
        return text(value)
    return "; ".join(f"channel {index}: {text(item)}" for index, item in enumerate(value))


def _normalisation(norm: dict[str, float]) -> str:
    return f"mean {norm['mean']:.2f}, std {norm['std']:.2f}, offset {norm['offset']:.2f}"
