"""``deconoising train``: train a model on noisy images; Ctrl-C stops it and keeps the model.

Images keep their axes (``--axes`` or the files' metadata): each channel gets its own network and
PSF (``--psf`` or ``--psf-sigma``: one for all channels or one per channel, in channel order), and
the model records the images' pixel size so that ``predict`` can warn about images that differ.
``--psf auto`` makes each channel's PSF from the first image
(:func:`~napari_deconoising.data.automatic_psf.automatic_psf`: the OME-TIFF's optics, else typical
optics at its pixel size, else a width estimated from its spectrum) and says which.

z-stacks (``--axes ZYX``, ``TZYX``, ``CZYX``...) with a 3D PSF train a 3D model (``--mode auto``,
the default, or ``3d``); ``--mode 2d`` trains plane by plane (a 3D PSF then gives its in-focus
plane). Settings not given take the defaults of the mode (3D: a smaller network and batch).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from napari_deconoising.cli._files import add_axes_option, add_out_option, read_input
from napari_deconoising.cli._interrupt import first_interrupt_stops
from napari_deconoising.cli._output import (
    EXIT_INTERRUPTED,
    Progress,
    add_json_option,
    format_seconds,
    report,
    say,
)
from napari_deconoising.cli._settings import add_setting, add_settings, given
from napari_deconoising.config.base import bounds
from napari_deconoising.config.training import NetworkConfig, TrainingConfig
from napari_deconoising.data.automatic_psf import automatic_psf
from napari_deconoising.errors import DeconoisingError
from napari_deconoising.io import AxesImage
from napari_deconoising.io.outputs import check_outputs
from napari_deconoising.model.bundle import load_model
from napari_deconoising.psf.load import load_psf
from napari_deconoising.psf.models import gaussian_psf
from napari_deconoising.psf.recipe import make_psf
from napari_deconoising.training.events import (
    TrainingEvent,
    TrainingFinished,
    TrainingStarted,
    TrainingStep,
    ValidationResult,
)
from napari_deconoising.training.inputs import last_checkpoint_path
from napari_deconoising.training.mode import resolve_mode
from napari_deconoising.training.trainer import Trainer

#: The training settings with an option of their own (``--name-with-dashes``), in --help order.
TRAINING_OPTIONS = (
    "seed",
    "device",
    "precision",
    "patch_size",
    "batch_size",
    "learning_rate",
    "neighbourhood",
    "mode",
    "design",
    "patch_size_z",
    "min_psf_coverage",
    "cache_mb",
)
#: The settings given to the config as they are (the mode is resolved first).
TRAINING_SETTINGS = (
    "steps",
    "minutes",
    *(name for name in TRAINING_OPTIONS if name != "mode"),
    "replacement",
    "blind_spot",
    "blind_spot_span",
)
NETWORK_SETTINGS = ("depth", "start_filters", "z_context", "downsampling", "top_skip")
#: The ``--psf`` value that makes the PSF from the image itself.
AUTO_PSF = "auto"


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register ``train``."""
    train = commands.add_parser("train", help="train a model on noisy images")
    train.add_argument(
        "images",
        nargs="+",
        help="TIFF files: 2D images, stacks or any axes of STCZYX (see --axes); all with the "
        "same channels",
    )
    add_out_option(
        train,
        "model file to write (exactly this path)",
        "an --out model (and its .last checkpoint)",
    )
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
        help="PSF TIFF; give it once for all channels, or once per channel in channel order; "
        "'auto': a Gaussian for the first image's OME-TIFF optics, else typical optics at its "
        "pixel size, else estimated from its spectrum (one per channel; a note says which)",
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
    training_helps = {
        "seed": "random seed",
        "device": "where to train",
        "batch_size": _in_3d("batch_size"),
        "mode": "3d: volumes with a 3D PSF; 2d: plane by plane; auto: 3d for z-stacks with a 3D "
        "PSF",
        "cache_mb": "images larger than this (MB, as float32) are not loaded: patches are read "
        "from disk through a cache of this size",
    }
    add_settings(train, TrainingConfig, TRAINING_OPTIONS, training_helps)
    network_helps = {
        "depth": "U-Net depth (poolings)",
        "start_filters": _in_3d("start_filters"),
        "z_context": _in_3d("z_context"),
    }
    add_settings(train, NetworkConfig, ("depth", "start_filters", "z_context"), network_helps)
    add_n2v2_options(train)
    add_blind_spot_options(train)
    add_json_option(train)
    train.set_defaults(handler=run)


def add_n2v2_options(parser: argparse.ArgumentParser) -> None:
    """``--downsampling``, ``--no-top-skip`` and ``--replacement`` (the N2V2-style options)."""
    add_setting(
        parser,
        "--downsampling",
        NetworkConfig,
        "downsampling",
        help="U-Net down-sampling: max-pooling, or blur (anti-aliased max-blur-pooling)",
    )
    parser.add_argument(
        "--no-top-skip",
        dest="top_skip",
        action="store_const",
        const=False,
        default=None,
        help="drop the U-Net's full-resolution skip connection (as N2V2)",
    )
    add_setting(
        parser,
        "--replacement",
        TrainingConfig,
        "replacement",
        help="value of a blind-spot pixel: a random other pixel of its window, or the median "
        "or mean of the others",
    )


def add_blind_spot_options(parser: argparse.ArgumentParser) -> None:
    """``--blind-spot`` and ``--blind-spot-span``: one pixel, structured along X, Y or both, or
    a box (for noise correlated along them); ``auto`` measures the images' noise first."""
    add_setting(
        parser,
        "--blind-spot",
        TrainingConfig,
        "blind_spot",
        help="auto: measure the images' noise and mask the neighbours along the axis where it "
        "is correlated (structN2V), or a square where it is correlated along both everywhere "
        "in 8-bit or display-scaled data, else one pixel; pixel; x, y, xy: always along them; "
        "box: always a square",
    )
    add_setting(parser, "--blind-spot-span", TrainingConfig, "blind_spot_span", kind=int)


def _in_3d(name: str) -> str:
    """A setting's help that also gives its default in 3D mode."""
    config = TrainingConfig.for_mode("3d")
    value = getattr(config.network if name in NETWORK_SETTINGS else config, name)
    declared = bounds(NetworkConfig if name in NETWORK_SETTINGS else TrainingConfig, name)
    return f"{declared.help or name.replace('_', ' ')}; 3D mode: {value} by default"


def run(args: argparse.Namespace) -> int:
    """Train, save the model at ``--out`` and print the figures; 130 when stopped by Ctrl-C."""
    if args.init is None and args.psf is None and args.psf_sigma is None and not args.n2v:
        raise DeconoisingError(
            "give --psf, --psf-sigma or --n2v (or --init MODEL to continue training a model)"
        )
    if args.init is not None and args.n2v:
        raise DeconoisingError("--n2v cannot change a model's mode; drop it to continue --init")
    outputs = [args.out, last_checkpoint_path(args.out)]
    inputs = [*args.images, *(path for path in args.psf or [] if path != AUTO_PSF), args.init]
    check_outputs(outputs, inputs, overwrite=args.overwrite)
    images = [read_input(p, args.axes, command=args.command, lazy=True) for p in args.images]
    init = None if args.init is None else load_model(args.init)
    psfs = _psfs(args, images[0])
    mode = resolve_mode(args.mode or "auto", images, psfs, init)
    config = training_config(args, mode)
    trainer = Trainer(images, psfs, config, args.out, init=init, overwrite=args.overwrite)
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
        "mode": trainer.mode,
        "voxel_size_um": None if trainer.voxel_size_um is None else list(trainer.voxel_size_um),
        "notes": trainer.notes,
    }
    line = (
        f"model saved to {args.out} ({finished.steps} steps, {finished.seconds:.0f} s; "
        f"{_describe_data(images, trainer.pixel_size_um, trainer.mode.upper())})"
    )
    report(figures, [line], args.json)
    return 0


def training_config(args: argparse.Namespace, mode: str = "auto") -> TrainingConfig:
    """The defaults of ``mode`` (``"2d"``/``"3d"``, see :meth:`TrainingConfig.for_mode`) with
    the settings given on the command line."""
    values = given(args, TRAINING_SETTINGS)
    if "minutes" in values:
        values["steps"] = None
    network = given(args, NETWORK_SETTINGS)
    return TrainingConfig.for_mode(mode, network=network, n2v=args.n2v, **values)


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
        if isinstance(event, TrainingStarted):
            for note in event.notes:
                progress.note(note)
        elif isinstance(event, ValidationResult):
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


def _psfs(args: argparse.Namespace, image: AxesImage) -> np.ndarray | list[np.ndarray] | None:
    """The PSF for all channels (one given), one per channel (several, or ``--psf auto``), or
    None for N2V.

    PSF files that record their voxel size are resampled to ``image``'s (the first image) when
    it is known."""
    if args.psf == [AUTO_PSF]:
        psfs = automatic_psfs(image, args.command)
    elif args.psf is not None and AUTO_PSF in args.psf:
        raise DeconoisingError("--psf auto makes the PSF of every channel; give it alone")
    elif args.psf is not None:
        # 2D files stay 2D and stacks stay 3D: the mode decides how a 3D PSF is used
        voxel = [image.spacing.get(axis) for axis in "ZYX"]
        voxel_um = voxel if all(v is not None for v in voxel[1:]) else None
        psfs = [load_psf(path, spatial_dims=None, voxel_size_um=voxel_um) for path in args.psf]
    elif args.psf_sigma is not None:
        psfs = [gaussian_psf(sigma) for sigma in args.psf_sigma]
    else:
        return None
    return psfs[0] if len(psfs) == 1 else psfs


def automatic_psfs(image: AxesImage, command: str) -> list[np.ndarray]:
    """One automatic PSF per channel of ``image``; one ``note:`` line on stderr says what each
    was made from (one line for channels made alike)."""
    choices = [automatic_psf(image, channel) for channel in range(image.n_channels)]
    for text in dict.fromkeys(choice.describe() for choice in choices):
        say(command, f"note: automatic PSF: {text}")
    return [make_psf(choice.recipe) for choice in choices]


def _describe_data(images: Sequence[AxesImage], pixel_size_um: float | None, mode: str) -> str:
    channels = images[0].n_channels
    pixels = f"{pixel_size_um:.4g} µm pixels" if pixel_size_um else "pixel size unknown"
    return f"{mode} mode, {channels} channel{'s' if channels > 1 else ''}, {pixels}"


def _stopped(model: Path) -> int:
    if model.is_file():
        say("train", f"stopped: saved {model}")
    else:
        say("train", "stopped before the first step: nothing saved")
    return EXIT_INTERRUPTED
