"""``deconoising train``: train a model on noisy images; Ctrl-C stops it and keeps the model.

Images keep their axes (``--axes`` or the files' metadata): each channel gets its own network and
PSF (``--psf`` or ``--psf-sigma``: one for all channels or one per channel, in channel order), and
the model records the images' pixel size so that ``predict`` can warn about images that differ.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..config import NetworkConfig, TrainingConfig
from ..errors import DeconoisingError
from ..io import AxesImage
from ..psf import gaussian_psf
from ..training import Trainer, TrainingEvent, TrainingFinished, TrainingStep, ValidationResult
from ._files import add_axes_option, read_input, read_psf
from ._interrupt import first_interrupt_stops
from ._output import EXIT_INTERRUPTED, Progress, add_json_option, format_seconds, report, say
from ._settings import add_setting, given

TRAINING_SETTINGS = (
    "steps",
    "minutes",
    "seed",
    "device",
    "patch_size",
    "batch_size",
    "learning_rate",
    "neighbourhood",
)
NETWORK_SETTINGS = ("depth", "start_filters")


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register ``train``."""
    train = commands.add_parser("train", help="train a model on noisy images")
    train.add_argument(
        "images",
        nargs="+",
        help="TIFF files: 2D images, stacks or any axes of STCZYX (see --axes); all with the "
        "same channels",
    )
    train.add_argument("--out", required=True, help="model file to write (exactly this path)")
    add_axes_option(train)
    train.add_argument(
        "--init",
        metavar="MODEL",
        help="continue training this model (file): its architecture, normalisation and PSFs "
        "(unless --psf/--psf-sigma are given) are kept and the step count goes on",
    )
    kind = train.add_mutually_exclusive_group()
    kind.add_argument(
        "--psf",
        action="append",
        metavar="PSF.tif",
        help="PSF TIFF; give it once for all channels, or once per channel in channel order",
    )
    kind.add_argument(
        "--psf-sigma",
        type=float,
        nargs="+",
        metavar="SIGMA",
        help="Gaussian PSF sigma in pixels: one for all channels, or one per channel",
    )
    kind.add_argument("--n2v", action="store_true", help="plain Noise2Void (no deconvolution)")
    budget = train.add_mutually_exclusive_group()
    add_setting(budget, "--steps", TrainingConfig, "steps", help="optimiser steps")
    add_setting(
        budget,
        "--minutes",
        TrainingConfig,
        "minutes",
        help="wall-time budget in minutes",
        kind=float,
    )
    add_setting(train, "--seed", TrainingConfig, "seed", help="random seed")
    add_setting(train, "--device", TrainingConfig, "device", help="where to train")
    add_setting(train, "--patch-size", TrainingConfig, "patch_size")
    add_setting(train, "--batch-size", TrainingConfig, "batch_size")
    add_setting(train, "--learning-rate", TrainingConfig, "learning_rate")
    add_setting(train, "--neighbourhood", TrainingConfig, "neighbourhood")
    add_setting(train, "--depth", NetworkConfig, "depth", help="U-Net depth (poolings)")
    add_setting(train, "--start-filters", NetworkConfig, "start_filters")
    add_json_option(train)
    train.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Train, save the model at ``--out`` and print the figures; 130 when stopped by Ctrl-C."""
    if args.init is None and args.psf is None and args.psf_sigma is None and not args.n2v:
        raise DeconoisingError(
            "give --psf, --psf-sigma or --n2v (or --init MODEL to continue training a model)"
        )
    if args.init is not None and args.n2v:
        raise DeconoisingError("--n2v cannot change a model's mode; drop it to continue --init")
    images = [read_input(path, args.axes, command=args.command) for path in args.images]
    trainer = Trainer(images, _psfs(args), training_config(args), args.out, init=args.init)
    finished = train_until_stopped(trainer, Progress("training", enabled=not args.json))
    if finished.stopped:
        return _stopped(Path(args.out))
    figures = {
        "steps": finished.steps,
        "seconds": finished.seconds,
        "train_loss": finished.train_loss,
        "validation_loss": finished.validation_loss,
        "best_validation_loss": finished.best_validation_loss,
        "model": str(args.out),
        "channels": trainer.n_channels,
        "pixel_size_um": trainer.pixel_size_um,
        "continued_from": args.init,
    }
    line = (
        f"model saved to {args.out} ({finished.steps} steps, {finished.seconds:.0f} s; "
        f"{_describe_data(images, trainer.pixel_size_um)})"
    )
    report(figures, [line], args.json)
    return 0


def training_config(args: argparse.Namespace) -> TrainingConfig:
    """The config's defaults with the settings given on the command line."""
    config = TrainingConfig()
    network = config.network.replace(**given(args, NETWORK_SETTINGS))
    values = given(args, TRAINING_SETTINGS)
    if "minutes" in values:
        values["steps"] = None
    return config.replace(network=network, n2v=args.n2v, **values)


def train_until_stopped(trainer: Trainer, progress: Progress) -> TrainingFinished:
    """Run ``trainer`` to the end, showing progress; the first Ctrl-C stops it at the next batch
    (the run still validates and saves its checkpoints), the second aborts at once."""
    show = training_printer(progress)
    finished: TrainingFinished | None = None
    with progress, first_interrupt_stops(trainer.stop) as interrupts:
        for event in trainer.run():
            if interrupts.news():
                progress.note("stopping after this batch and saving (Ctrl-C again to abort)")
            show(event)
            finished = event if isinstance(event, TrainingFinished) else finished
    if finished is None:  # pragma: no cover - the trainer always ends with TrainingFinished
        raise RuntimeError("training ended without a result")
    return finished


def training_printer(progress: Progress) -> Callable[[TrainingEvent], None]:
    """A callback that shows training events on ``progress``."""
    state: dict[str, Any] = {"val": None}

    def show(event: TrainingEvent) -> None:
        if isinstance(event, ValidationResult):
            state["val"] = event.validation_loss
        elif isinstance(event, TrainingStep):
            val = f" val {state['val']:.4f}" if state["val"] is not None else ""
            progress.update(
                event.progress,
                f"step {event.step} loss {event.train_loss:.4f}{val} "
                f"ETA {format_seconds(event.eta_s)}",
            )
        elif isinstance(event, TrainingFinished):
            done = 1.0 if not event.stopped else None
            progress.close(done, f"{event.steps} steps in {format_seconds(event.seconds)}")

    return show


def _psfs(args: argparse.Namespace) -> np.ndarray | list[np.ndarray] | None:
    """The PSF for all channels (one given), one per channel (several), or None for N2V."""
    if args.psf is not None:
        psfs = [read_psf(path) for path in args.psf]
    elif args.psf_sigma is not None:
        psfs = [gaussian_psf(sigma) for sigma in args.psf_sigma]
    else:
        return None
    return psfs[0] if len(psfs) == 1 else psfs


def _describe_data(images: Sequence[AxesImage], pixel_size_um: float | None) -> str:
    channels = images[0].n_channels
    pixels = f"{pixel_size_um:.4g} µm pixels" if pixel_size_um else "pixel size unknown"
    return f"{channels} channel{'s' if channels > 1 else ''}, {pixels}"


def _stopped(model: Path) -> int:
    if model.is_file():
        say("train", f"stopped: saved {model}")
    else:
        say("train", "stopped before the first step: nothing saved")
    return EXIT_INTERRUPTED
