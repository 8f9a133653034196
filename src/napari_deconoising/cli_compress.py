"""The ``deconoising compress`` and ``deconoising export-onnx`` commands.

:func:`add_compression_commands` registers both on the main parser's subparsers; each sets
``handler(args) -> int``. Progress goes to stderr; with ``--json`` the last line of stdout is one
JSON object. Errors are raised as :class:`~napari_deconoising.errors.DeconoisingError`, which the
main command prints as one line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from .errors import ConfigError

PRESET_NAMES = ("fast", "balanced", "smallest")


def add_compression_commands(subparsers: Any) -> None:
    """Register ``compress`` and ``export-onnx`` on ``subparsers`` (from ``add_subparsers``)."""
    compress = subparsers.add_parser(
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
        help="TIFF files like those the model is for: 2D images or stacks of 2D frames",
    )
    compress.add_argument("--out", required=True, help="compressed model file to write")
    compress.add_argument(
        "--preset",
        choices=PRESET_NAMES,
        default="balanced",
        help="fast: mild and quick; balanced (default); smallest: smallest file",
    )
    compress.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    compress.add_argument("--json", action="store_true", help="print the report as one JSON object")
    compress.set_defaults(handler=cmd_compress)

    export = subparsers.add_parser(
        "export-onnx",
        help="export a model (original or compressed) to ONNX, checked with onnxruntime",
    )
    export.add_argument("--model", required=True, help="model file")
    export.add_argument("--out", required=True, help="ONNX file to write")
    export.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    export.set_defaults(handler=cmd_export_onnx)


class _Bar:
    """A one-line text progress bar on stderr, redrawn at most 5 times a second."""

    def __init__(self, width: int = 30):
        self.width, self._last = width, 0.0

    def draw(self, fraction: float, detail: str, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < 0.2:
            return
        self._last = now
        filled = int(self.width * min(max(fraction, 0.0), 1.0))
        bar = "#" * filled + "-" * (self.width - filled)
        sys.stderr.write(f"\rcompress [{bar}] {100 * fraction:5.1f}% {detail[:60]:<60}")
        sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")
        sys.stderr.flush()


def _describe(event: Any) -> str:
    from .compression import CompressionStage, CompressionStarted, CompressionStep

    if isinstance(event, CompressionStep):
        return f"fine-tuning step {event.step} loss {event.loss:.4g} eta {event.eta_s:.0f} s"
    if isinstance(event, CompressionStage):
        return event.message
    if isinstance(event, CompressionStarted):
        return f"widths {event.widths_before} -> {event.widths_after} on {event.device}"
    return "done"


def _same_file(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def cmd_compress(args: argparse.Namespace) -> int:
    """``deconoising compress``: compress, write ``--out`` at the end, print the report."""
    from .bundle import load_model
    from .compression import CompressionConfig, Compressor, preset_config
    from .images import read_image

    model_path, out = Path(args.model), Path(args.out)
    if _same_file(model_path, out):
        raise ConfigError("--out is the input model; the original is never overwritten")
    model = load_model(model_path)
    images = [read_image(path) for path in args.images]
    config: CompressionConfig = preset_config(args.preset).replace(device=args.device)
    compressor = Compressor(model, images, args.preset, config, out, source_path=model_path)
    bar = _Bar()
    try:
        for event in compressor.run():
            bar.draw(event.progress, _describe(event))
        bar.draw(1.0, "done", force=True)
    finally:
        bar.close()
    result = compressor.result
    lines = [*result.report.lines(), f"Saved to {result.path}"]
    if args.json:
        print("\n".join(lines), file=sys.stderr)
        _emit_json({**result.report.to_dict(), "path": str(result.path)})
    else:
        print("\n".join(lines))
    return 0


def cmd_export_onnx(args: argparse.Namespace) -> int:
    """``deconoising export-onnx``: write the ONNX file and check it with onnxruntime."""
    from .bundle import load_model
    from .onnx_export import export_onnx

    model_path, out = Path(args.model), Path(args.out)
    if _same_file(model_path, out):
        raise ConfigError("--out is the input model; choose an .onnx file name")
    model = load_model(model_path)
    export = export_onnx(model, out, check=True)
    summary = (
        f"Wrote {export.path} ({export.bytes / 1e6:.2f} MB, opset {export.opset}); onnxruntime "
        f"matches torch within {export.max_relative_error:.1e} of the output range on shapes "
        f"{export.checked_shapes}"
    )
    if args.json:
        print(summary, file=sys.stderr)
        _emit_json(export.to_dict())
    else:
        print(summary)
    return 0


def _emit_json(values: dict[str, Any]) -> None:
    print(json.dumps(values, default=str))
