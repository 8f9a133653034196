"""The ``deconoising`` command line: demo, psf, train, predict, info (and compression)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import Cancelled, DeconoisingError


class ProgressBar:
    """A text progress bar on stderr: redrawn in place at most 5 times a second on a terminal,
    or written as a new line every 10 seconds when stderr is a file or a pipe."""

    def __init__(self, label: str, enabled: bool = True, width: int = 30):
        self.label, self.enabled, self.width = label, enabled, width
        self._last = 0.0
        self._interactive = sys.stderr.isatty()

    def update(self, fraction: float, detail: str = "", force: bool = False) -> None:
        """Redraw with ``fraction`` (0..1) done and a short ``detail`` text."""
        now = time.monotonic()
        interval = 0.2 if self._interactive else 10.0
        if not self.enabled or (not force and now - self._last < interval):
            return
        self._last = now
        filled = int(self.width * min(max(fraction, 0.0), 1.0))
        bar = "#" * filled + "-" * (self.width - filled)
        start, end = ("\r", "   ") if self._interactive else ("", "\n")
        sys.stderr.write(f"{start}{self.label} [{bar}] {100 * fraction:5.1f}% {detail}{end}")
        sys.stderr.flush()

    def close(self) -> None:
        """End the line."""
        if self.enabled and self._interactive:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _format_seconds(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _training_printer(bar: ProgressBar):
    from .training import TrainingFinished, TrainingStep, ValidationResult

    state: dict[str, Any] = {"val": None}

    def on_event(event) -> None:
        if isinstance(event, ValidationResult):
            state["val"] = event.validation_loss
        elif isinstance(event, TrainingStep):
            val = f" val {state['val']:.4f}" if state["val"] is not None else ""
            bar.update(
                event.progress,
                f"step {event.step} loss {event.train_loss:.4f}{val} "
                f"ETA {_format_seconds(event.eta_s)}",
            )
        elif isinstance(event, TrainingFinished):
            bar.update(1.0, f"{event.steps} steps in {_format_seconds(event.seconds)}", force=True)
            bar.close()

    return on_event


def _prediction_printer(bar: ProgressBar):
    def on_progress(event) -> None:
        bar.update(event.progress, f"frame {event.frame + 1}/{event.n_frames}")

    return on_progress


def _emit_json(values: dict[str, Any]) -> None:
    print(json.dumps(values, default=float))


# -- commands -------------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    quiet = args.json
    bar = ProgressBar("training", enabled=not quiet)
    figures = run_demo(
        args.out,
        minutes=args.minutes,
        steps=args.steps,
        on_training_event=_training_printer(bar),
        on_prediction_progress=_prediction_printer(ProgressBar("predicting", enabled=False)),
    )
    if quiet:
        _emit_json(figures)
        return 0
    print(f"PSNR input (noisy vs blurred truth):        {figures['psnr_input']:.2f} dB")
    print(f"PSNR denoised (vs blurred truth):           {figures['psnr_denoised']:.2f} dB")
    print(f"PSNR deconvolved (vs sharp truth):          {figures['psnr_deconvolved']:.2f} dB")
    print(f"  (blurred truth itself vs sharp truth:     {figures['psnr_blurred_vs_sharp']:.2f} dB)")
    print(f"outputs in {figures['out_dir']}/, side-by-side figure {figures['figure']}")
    return 0


def cmd_psf(args: argparse.Namespace) -> int:
    from . import psf as psf_module
    from .images import write_image

    optics = (args.na, args.wavelength, args.pixel_size)
    if args.sigma is not None and any(v is not None for v in optics):
        raise DeconoisingError(
            "give either --sigma or the optics (--na, --wavelength, --pixel-size)"
        )
    if args.sigma is None and any(v is None for v in optics):
        raise DeconoisingError("give --sigma, or all of --na, --wavelength and --pixel-size")
    if args.model == "widefield":
        if args.sigma is not None:
            raise DeconoisingError("the widefield model needs the optics, not --sigma")
        kernel = psf_module.widefield_psf(*optics)
    elif args.sigma is not None:
        kernel = psf_module.gaussian_psf(args.sigma)
    else:
        kernel = psf_module.gaussian_psf_from_optics(*optics)
    write_image(args.out, kernel)
    figures = {
        "shape": list(kernel.shape),
        "fwhm_px": psf_module.psf_fwhm(kernel),
        "out": str(args.out),
    }
    if args.json:
        _emit_json(figures)
    else:
        print(
            f"PSF {kernel.shape[0]}x{kernel.shape[1]}, FWHM {figures['fwhm_px']:.2f} px "
            f"-> {args.out}"
        )
    return 0


def _read_images(paths: Sequence[str]) -> list[np.ndarray]:
    """Read and check each TIFF (errors name the file); returns float32 frame stacks, which
    the trainer then uses without another copy."""
    from .images import as_frames, read_image

    return [as_frames(read_image(path), name=str(path)) for path in paths]


def _training_config(args: argparse.Namespace):
    from .config import NetworkConfig, TrainingConfig

    defaults = TrainingConfig()
    network = NetworkConfig(
        depth=args.depth or defaults.network.depth,
        start_filters=args.start_filters or defaults.network.start_filters,
    )
    values: dict[str, Any] = {"network": network, "n2v": args.n2v, "device": args.device}
    if args.minutes is not None:
        values.update(minutes=args.minutes, steps=None)
    elif args.steps is not None:
        values.update(steps=args.steps)
    for name in ("seed", "patch_size", "batch_size", "learning_rate"):
        if getattr(args, name) is not None:
            values[name] = getattr(args, name)
    return defaults.replace(**values)


def cmd_train(args: argparse.Namespace) -> int:
    from .psf import gaussian_psf, load_psf
    from .training import Trainer, TrainingFinished

    images = _read_images(args.images)
    psf = None
    if args.psf is not None:
        psf = load_psf(args.psf)
    elif args.psf_sigma is not None:
        psf = gaussian_psf(args.psf_sigma)
    trainer = Trainer(images, psf, _training_config(args), model_path=args.out)
    printer = _training_printer(ProgressBar("training", enabled=not args.json))
    finished = None
    try:
        for event in trainer.run():
            printer(event)
            finished = event if isinstance(event, TrainingFinished) else finished
    except KeyboardInterrupt:
        trainer.stop()
        raise
    figures = {
        "steps": finished.steps,
        "seconds": finished.seconds,
        "train_loss": finished.train_loss,
        "validation_loss": finished.validation_loss,
        "best_validation_loss": finished.best_validation_loss,
        "model": str(args.out),
    }
    if args.json:
        _emit_json(figures)
    else:
        print(f"model saved to {args.out} ({finished.steps} steps, {finished.seconds:.0f} s)")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .bundle import load_model
    from .config import PredictionConfig
    from .images import read_image, write_image
    from .prediction import Predictor

    model = load_model(args.model)
    image = read_image(args.image)
    defaults = PredictionConfig()
    config = PredictionConfig(
        tile=args.tile or defaults.tile,
        overlap=defaults.overlap if args.overlap is None else args.overlap,
        device=args.device,
    )
    bar = ProgressBar("predicting", enabled=not args.json)
    result = Predictor(model, config).predict(image, _prediction_printer(bar))
    bar.update(1.0, "done", force=True)
    bar.close()
    write_image(args.denoised, result.denoised)
    write_image(args.deconvolved, result.deconvolved)
    figures = {"seconds": result.seconds, "shape": list(result.denoised.shape)}
    if args.json:
        _emit_json(figures)
    else:
        print(
            f"denoised -> {args.denoised}, deconvolved -> {args.deconvolved} "
            f"({result.seconds:.1f} s)"
        )
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from .bundle import load_model

    model = load_model(args.model)
    info = model.info()
    info["file_bytes"] = Path(args.model).stat().st_size
    if args.json:
        _emit_json(info)
        return 0
    print(f"model file:   {args.model} ({info['file_bytes'] / 1e6:.2f} MB)")
    print(f"kind:         {info['kind']}")
    print(
        f"network:      U-Net depth {info['depth']}, widths {info['widths']}, "
        f"{info['parameters']:,} parameters"
    )
    print(f"PSF:          {info['psf_shape']}")
    norm = info["normalisation"]
    print(
        f"normalisation: mean {norm['mean']:.2f}, std {norm['std']:.2f}, "
        f"offset {norm['offset']:.2f}"
    )
    compressed = info["compressed_from"] or "no"
    print(f"compressed:   {compressed}")
    print(f"package:      napari-deconoising {info['metadata'].get('package_version', '?')}")
    return 0


# -- parser ----------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``deconoising``."""
    parser = argparse.ArgumentParser(
        prog="deconoising",
        description="Self-supervised joint denoising and deconvolution (DecoNoising).",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="train and predict on built-in synthetic data")
    demo.add_argument("--out", default="demo_output", help="output folder (default: demo_output)")
    demo_budget = demo.add_mutually_exclusive_group()
    demo_budget.add_argument(
        "--minutes", type=float, default=None, help="training budget in minutes (default 2)"
    )
    demo_budget.add_argument("--steps", type=int, default=None, help="training budget in steps")
    demo.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    demo.set_defaults(handler=cmd_demo)

    psf = commands.add_parser("psf", help="make a PSF and save it as a TIFF")
    psf.add_argument("--sigma", type=float, help="Gaussian sigma in pixels")
    psf.add_argument("--na", type=float, help="numerical aperture")
    psf.add_argument("--wavelength", type=float, help="emission wavelength (nm)")
    psf.add_argument("--pixel-size", type=float, help="pixel size in the sample (nm)")
    psf.add_argument("--model", choices=("gaussian", "widefield"), default="gaussian")
    psf.add_argument("--out", required=True, help="output TIFF")
    psf.add_argument("--json", action="store_true")
    psf.set_defaults(handler=cmd_psf)

    train = commands.add_parser("train", help="train a model on noisy images")
    train.add_argument("images", nargs="+", help="TIFF files: 2D images or stacks of 2D frames")
    train.add_argument("--out", required=True, help="model file to write (exactly this path)")
    kind = train.add_mutually_exclusive_group(required=True)
    kind.add_argument("--psf", help="PSF TIFF")
    kind.add_argument("--psf-sigma", type=float, help="Gaussian PSF sigma in pixels")
    kind.add_argument("--n2v", action="store_true", help="plain Noise2Void (no deconvolution)")
    budget = train.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int, help="optimiser steps")
    budget.add_argument("--minutes", type=float, help="wall-time budget in minutes")
    train.add_argument("--seed", type=int)
    train.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    train.add_argument("--patch-size", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--learning-rate", type=float)
    train.add_argument("--depth", type=int, help="U-Net depth (poolings)")
    train.add_argument("--start-filters", type=int, help="channels at full resolution")
    train.add_argument("--json", action="store_true")
    train.set_defaults(handler=cmd_train)

    predict = commands.add_parser("predict", help="denoise and deconvolve an image")
    predict.add_argument("image")
    predict.add_argument("--model", required=True)
    predict.add_argument("--denoised", required=True, help="output TIFF of the denoised image")
    predict.add_argument(
        "--deconvolved", required=True, help="output TIFF of the deconvolved image"
    )
    predict.add_argument("--tile", type=int, help="tile size in pixels")
    predict.add_argument("--overlap", type=int, help="tile overlap in pixels")
    predict.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    predict.add_argument("--json", action="store_true")
    predict.set_defaults(handler=cmd_predict)

    info = commands.add_parser("info", help="describe a model file")
    info.add_argument("model")
    info.add_argument("--json", action="store_true")
    info.set_defaults(handler=cmd_info)

    _add_compression_commands(commands)
    return parser


def _add_compression_commands(commands) -> None:
    from .cli_compress import add_compression_commands

    add_compression_commands(commands)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``deconoising`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    if getattr(args, "minutes", None) is None and args.command == "demo":
        from .demo import DEMO_MINUTES

        args.minutes = DEMO_MINUTES
    try:
        return int(args.handler(args) or 0)
    except (DeconoisingError, FileNotFoundError, IsADirectoryError, PermissionError) as err:
        print(f"deconoising {args.command}: error: {err}", file=sys.stderr)
        return 2
    except Cancelled:
        print(f"deconoising {args.command}: cancelled", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"\ndeconoising {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
