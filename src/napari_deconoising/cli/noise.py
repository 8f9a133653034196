"""``deconoising noise``: what an image's noise is like, before training on it.

Prints, per channel, the noise correlation along X and Y, the noise level and camera offset, and
the notes of :class:`~napari_deconoising.data.noise.NoiseReport` (correlated noise and the blind
spot ``--blind-spot auto`` would use, saturation, hot pixels, 8-bit data). With ``--psf`` or
``--psf-sigma`` it also checks the PSF against the image (:func:`~napari_deconoising.data.
psf_check.check_psf`). The image is opened lazily and only a few central regions of it are read.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

import numpy as np

from napari_deconoising.cli._files import add_axes_option, read_input
from napari_deconoising.cli._output import add_json_option, report
from napari_deconoising.data.noise import NoiseReport, measure_noise
from napari_deconoising.data.psf_check import PSFCheck, check_psf
from napari_deconoising.data.stacks import channel_stacks
from napari_deconoising.psf.load import load_psf
from napari_deconoising.psf.models import gaussian_psf
from napari_deconoising.training.blind_spot import measurable_arrays


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register ``noise``."""
    noise = commands.add_parser(
        "noise",
        help="measure an image's noise: correlation along X and Y, clipping, hot pixels, levels",
    )
    noise.add_argument("image", help="TIFF file or OME-Zarr store (any axes, see --axes)")
    add_axes_option(noise, "the image")
    kind = noise.add_mutually_exclusive_group()
    kind.add_argument("--psf", metavar="PSF.tif", help="check this PSF against the image")
    kind.add_argument(
        "--psf-sigma", type=float, metavar="SIGMA", help="check a Gaussian PSF of this sigma (px)"
    )
    add_json_option(noise)
    noise.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Measure every channel's noise and print the figures and notes."""
    image = read_input(args.image, args.axes, command=args.command, lazy=True)
    psf = _psf(args)
    lines = [f"{args.image}: {image.describe()}"]
    channels = []
    for index, frames in enumerate(channel_stacks(image, 2, lazy=True)):
        arrays = measurable_arrays(frames)
        noise = measure_noise(arrays, dtype=image.dtype)
        check = None if psf is None else check_psf(arrays, psf, noise)
        prefix = f"channel {index}: " if image.n_channels > 1 else ""
        lines += [prefix + line for line in [*describe_noise(noise), *describe_check(check)]]
        channels.append(_figures(noise, check))
    report({"image": str(args.image), "channels": channels}, lines, args.json)
    return 0


def _psf(args: argparse.Namespace) -> np.ndarray | None:
    """The PSF to check (``--psf`` or ``--psf-sigma``), or None."""
    if args.psf is not None:
        return load_psf(args.psf, spatial_dims=None)
    return None if args.psf_sigma is None else gaussian_psf(args.psf_sigma)


def _figures(noise: NoiseReport, check: PSFCheck | None) -> dict[str, Any]:
    figures = noise.to_dict()
    if check is not None:
        figures["psf_check"] = {**asdict(check), "notes": check.notes()}
    return figures


def describe_check(check: PSFCheck | None) -> list[str]:
    """The lines printed for the PSF check: the widths, then its notes."""
    if check is None:
        return []
    if check.data_fwhm_px is None:
        shown = "the image's spectrum shows no measurable blur (too little signal above noise)"
    else:
        shown = (
            f"signal above the noise down to a period of {check.finest_period_px:.2g} px, "
            f"blur at most FWHM {check.data_fwhm_px:.2g} px"
        )
    return [
        f"PSF FWHM {check.psf_fwhm_px:.2g} px; {shown}",
        *(f"- {note}" for note in check.notes()),
    ]


def describe_noise(noise: NoiseReport) -> list[str]:
    """The lines printed for one channel: figures, then the notes (or that there are none)."""
    lags = f"lags 1-{len(noise.correlation_x)}"
    notes = noise.notes() or ["nothing to note: pixel-independent noise, no clipping or hot pixels"]
    spread = []
    if noise.correlated_alike():  # what tells the noise's own correlation from structures'
        x_low, x_median = noise.block_correlation_x
        y_low, y_median = noise.block_correlation_y
        spread = [
            "lag-1 correlation per block, lowest tenth / median: "
            f"X {x_low:+.2f} / {x_median:+.2f}, Y {y_low:+.2f} / {y_median:+.2f}"
        ]
    return [
        f"noise correlation along X ({lags}): {_values(noise.correlation_x)}",
        f"noise correlation along Y ({lags}): {_values(noise.correlation_y)}",
        *spread,
        f"noise sigma {noise.noise_sigma:.3g}, camera offset {noise.offset:.4g} "
        f"({noise.pixels:,} pixels measured)",
        *(f"- {note}" for note in notes),
    ]


def _values(correlation: tuple[float, ...]) -> str:
    return " ".join(f"{value:+.2f}" for value in correlation)
