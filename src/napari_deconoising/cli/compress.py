"""``deconoising compress`` and ``deconoising export-onnx``: smaller models, and ONNX files.

With ``--json`` both print only their figures, as one JSON object on stdout (as every command).
"""

from __future__ import annotations

import argparse
import inspect
from pathlib import Path
from typing import Any

from napari_deconoising.cli._files import add_axes_option, add_out_option, read_input
from napari_deconoising.cli._output import Progress, add_json_option, report, say
from napari_deconoising.cli._settings import add_setting, given
from napari_deconoising.compression import (
    PRESET_DESCRIPTIONS,
    PRESETS,
    CompressionConfig,
    CompressionStage,
    CompressionStarted,
    CompressionStep,
    Compressor,
    preset_config,
)
from napari_deconoising.compression.inputs import refuse_original
from napari_deconoising.data.channels import check_channel_count, pixel_size_warning
from napari_deconoising.export.onnx import export_onnx
from napari_deconoising.io import AxesImage
from napari_deconoising.io.outputs import check_outputs as check_output_paths
from napari_deconoising.io.outputs import refuse_input_model
from napari_deconoising.model.bundle import DecoNoisingModel, load_model, single_channel

DEFAULT_PRESET = inspect.signature(Compressor).parameters["preset"].default


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register ``compress``."""
    compress = commands.add_parser(
        "compress",
        help="make a trained model smaller and faster (pruning + fine-tuning on your images)",
        description="Prune a trained model's channels and fine-tune it to reproduce the original "
        "on your images (no ground truth needed); prints what was gained and lost.",
    )
    compress.add_argument("--model", required=True, help="the trained model file (not changed)")
    compress.add_argument(
        "--images",
        required=True,
        nargs="+",
        metavar="IMAGE.tif",
        help="TIFF files like those the model is for: 2D images, stacks or any axes of STCZYX "
        "with one channel (see --axes)",
    )
    add_axes_option(compress)
    add_out_option(compress, "compressed model file to write")
    compress.add_argument(
        "--preset",
        choices=tuple(PRESETS),
        default=DEFAULT_PRESET,
        help="; ".join(f"{name}: {text}" for name, text in PRESET_DESCRIPTIONS.items()),
    )
    add_setting(compress, "--device", CompressionConfig, "device", help="where to compress")
    add_setting(compress, "--precision", CompressionConfig, "precision")
    add_json_option(compress, "the report")
    compress.set_defaults(handler=run_compress)


def add_export_parser(commands: argparse._SubParsersAction) -> None:
    """Register ``export-onnx``."""
    export = commands.add_parser(
        "export-onnx",
        help="export a model (original or compressed) to ONNX, checked with onnxruntime",
    )
    export.add_argument("--model", required=True, help="model file")
    add_out_option(export, "ONNX file to write")
    add_json_option(export)
    export.set_defaults(handler=run_export)


def run_compress(args: argparse.Namespace) -> int:
    """Compress, write ``--out`` at the very end (atomically) and print the report."""
    model_path = Path(args.model)
    refuse_original(args.out, model_path)
    check_output_paths([args.out], [model_path, *args.images], overwrite=args.overwrite)
    model = single_channel(load_model(model_path), "compression")
    images = [
        _frames(model, read_input(path, args.axes, command=args.command), args.command)
        for path in args.images
    ]
    config = preset_config(args.preset).replace(**given(args, ("device", "precision")))
    compressor = Compressor(
        model, images, args.preset, config, args.out, model_path, overwrite=args.overwrite
    )
    with Progress("compress", enabled=not args.json) as progress:
        for event in compressor.run():
            progress.update(event.progress, describe(event))
        progress.close(1.0, "done")
    result = compressor.result
    figures = {**result.report.to_dict(), "path": str(result.path)}
    report(figures, [*result.report.lines(), f"Saved to {result.path}"], args.json)
    return 0


def run_export(args: argparse.Namespace) -> int:
    """Write the ONNX file, check it with onnxruntime and print the figures."""
    model_path = Path(args.model)
    refuse_input_model(args.out, model_path, "choose an .onnx file name")
    check_output_paths([args.out], [model_path], overwrite=args.overwrite)
    model = load_model(model_path)
    export = export_onnx(model, Path(args.out), check=True, overwrite=args.overwrite)
    summary = (
        f"Wrote {export.path} ({export.bytes / 1e6:.2f} MB, opset {export.opset}); onnxruntime "
        f"matches torch within {export.max_relative_error:.1e} of the output range on shapes "
        f"{export.checked_shapes}"
    )
    report(export.to_dict(), [summary], args.json)
    return 0


def describe(event: Any) -> str:
    """The progress line's text for a compression event."""
    if isinstance(event, CompressionStep):
        return f"fine-tuning step {event.step} loss {event.loss:.4g} eta {event.eta_s:.0f} s"
    if isinstance(event, CompressionStage):
        return event.message
    if isinstance(event, CompressionStarted):
        return f"widths {event.widths_before} -> {event.widths_after} on {event.device}"
    return "done"


def _frames(model: DecoNoisingModel, image: AxesImage, command: str) -> Any:
    """The single-channel ``image`` as a stack of 2D frames (N, Y, X), still unread when it is
    a file mapped in memory; a pixel size unlike the model's is a warning."""
    check_channel_count(model.n_channels, image)
    warning = pixel_size_warning(model.pixel_size_um, image)
    if warning:
        say(command, f"warning: {warning}")
    canonical = image.canonical()
    return canonical.data.reshape((-1, *canonical.shape[-2:]))
