"""``deconoising train``: train a model on noisy images; Ctrl-C stops it and keeps the model."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..config import NetworkConfig, TrainingConfig
from ..images import as_frames
from ..psf import gaussian_psf, load_psf
from ..training import Trainer, TrainingEvent, TrainingFinished, TrainingStep, ValidationResult
from ._files import read_input
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
    train.add_argument("images", nargs="+", help="TIFF files: 2D images or stacks of 2D frames")
    train.add_argument("--out", required=True, help="model file to write (exactly this path)")
    kind = train.add_mutually_exclusive_group(required=True)
    kind.add_argument("--psf", help="PSF TIFF")
    kind.add_argument("--psf-sigma", type=float, help="Gaussian PSF sigma in pixels")
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
    trainer = Trainer(_read_frames(args.images), _psf(args), training_config(args), args.out)
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
    }
    line = f"model saved to {args.out} ({finished.steps} steps, {finished.seconds:.0f} s)"
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


def _read_frames(paths: Sequence[str]) -> list[np.ndarray]:
    """Read and check each image (errors name the file); the trainer uses the checked float32
    frames without another copy."""
    return [as_frames(read_input(path), name=str(path)) for path in paths]


def _psf(args: argparse.Namespace) -> np.ndarray | None:
    if args.psf is not None:
        return load_psf(args.psf)
    if args.psf_sigma is not None:
        return gaussian_psf(args.psf_sigma)
    return None


def _stopped(model: Path) -> int:
    if model.is_file():
        say("train", f"stopped: saved {model}")
    else:
        say("train", "stopped before the first step: nothing saved")
    return EXIT_INTERRUPTED
