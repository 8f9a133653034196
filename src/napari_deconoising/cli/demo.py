"""``deconoising demo``: train and predict on the built-in synthetic sample."""

from __future__ import annotations

import argparse
from functools import partial

from napari_deconoising.cli._files import add_overwrite_option, write_output
from napari_deconoising.cli._output import Progress, add_json_option, report
from napari_deconoising.cli.train import training_printer
from napari_deconoising.demo import DEMO_MINUTES, run_demo


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register ``demo``."""
    demo = commands.add_parser("demo", help="train and predict on built-in synthetic data")
    demo.add_argument("--out", default="demo_output", help="output folder (default: demo_output)")
    budget = demo.add_mutually_exclusive_group()
    budget.add_argument(
        "--minutes",
        type=float,
        default=DEMO_MINUTES,
        help=f"training budget in minutes (default {DEMO_MINUTES:g})",
    )
    budget.add_argument("--steps", type=int, default=None, help="training budget in steps")
    add_overwrite_option(demo, "the demo's files in --out")
    add_json_option(demo)
    demo.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo and print its PSNR figures."""
    with Progress("training", enabled=not args.json) as progress:
        figures = run_demo(
            args.out,
            minutes=args.minutes,
            steps=args.steps,
            on_training_event=training_printer(progress),
            write=partial(write_output, overwrite=True),  # checked before training
            overwrite=args.overwrite,
        )
    lines = [
        f"PSNR input (noisy vs blurred truth):        {figures['psnr_input']:.2f} dB",
        f"PSNR denoised (vs blurred truth):           {figures['psnr_denoised']:.2f} dB",
        f"PSNR deconvolved (vs sharp truth):          {figures['psnr_deconvolved']:.2f} dB",
        f"  (blurred truth itself vs sharp truth:     {figures['psnr_blurred_vs_sharp']:.2f} dB)",
        f"outputs in {figures['out_dir']}/, side-by-side figure {figures['figure']}",
    ]
    report(figures, lines, args.json)
    return 0
