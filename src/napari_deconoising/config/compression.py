"""Compression settings and the three presets."""

from __future__ import annotations

from dataclasses import dataclass

from napari_deconoising.config.base import (
    DEVICES,
    PRECISIONS,
    STORAGES,
    Config,
    Device,
    Storage,
    setting,
)
from napari_deconoising.errors import ConfigError

#: Smallest size of the square patches used for fine-tuning.
MIN_PATCH = 32


@dataclass(frozen=True)
class CompressionConfig(Config):
    """Everything that defines a compression run.

    ``keep`` is the share of channels kept at full resolution and ``taper`` the factor applied per
    level below it; widths are rounded to multiples of ``round_to`` (fast on SIMD CPUs).
    Fine-tuning runs ``steps`` optimiser steps or until the whole run nears ``minutes`` of wall
    time (teacher outputs, fine-tuning and the report's measurements together), whichever comes
    first. At most ``max_pixels`` of the images are used (frames evenly spread over the stack),
    and ``eval_fraction`` of the frames (at most ``max_eval_frames``) are held out to measure
    fidelity when there are at least three.
    """

    keep: float = setting(0.5, low=0, high=1, low_open=True, help="share of channels kept")
    taper: float = setting(0.9, low=0.25, high=1, help="factor on the share kept per level")
    round_to: int = setting(8, low=1, high=64, help="widths are multiples of this")
    min_width: int = setting(4, low=4, high=256, help="fewest channels kept at any level")
    steps: int = setting(800, low=1, help="most fine-tuning steps")
    minutes: float | None = setting(2.5, low=0, low_open=True, optional=True)
    patch_size: int = setting(128, low=MIN_PATCH, high=1024, help="fine-tuning patch side")
    batch_size: int = setting(8, low=1, high=256, help="patches per fine-tuning step")
    learning_rate: float = setting(1e-3, low=0, high=1, low_open=True)
    max_pixels: int = setting(4 * 1024 * 1024, low=4096, help="most pixels used per image")
    eval_fraction: float = setting(0.2, low=0, high=1, high_open=True)
    max_eval_frames: int = setting(2, low=1)
    storage: Storage = setting("float16", choices=STORAGES)
    timing_size: int = setting(512, low=64, high=4096, help="side of the timed frame (px)")
    timing_repeats: int = setting(3, low=1, high=50)
    augment: bool = True
    seed: int | None = setting(0, low=0, high=2**31 - 1, optional=True)
    device: Device = setting("auto", choices=DEVICES)
    precision: str = setting(
        "auto",
        choices=PRECISIONS,
        help="how fine-tuning and the timed predictions compute (as for training and "
        "prediction): mixed, float32, or auto (mixed where the device does it natively)",
    )


PRESETS: dict[str, CompressionConfig] = {
    "fast": CompressionConfig(keep=0.5, taper=1.0, steps=400, minutes=1.25),
    "balanced": CompressionConfig(),
    "smallest": CompressionConfig(keep=0.25, taper=0.9, steps=1200, minutes=2.75),
}

PRESET_DESCRIPTIONS: dict[str, str] = {
    "fast": "quickest to run (about a minute): half the channels, a shorter fine-tuning",
    "balanced": "the default: about 5x fewer parameters, several times faster, same output",
    "smallest": "the smallest file (about 20x fewer parameters), at some cost in fidelity",
}


def preset_config(name: str) -> CompressionConfig:
    """The configuration of a preset (``fast``, ``balanced`` or ``smallest``)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
