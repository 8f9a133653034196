"""Validated configuration objects, one per task, saved with the model as JSON."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from .errors import ConfigError

C = TypeVar("C", bound="_Config")

DEVICES = ("auto", "cpu", "cuda")


class _Config:
    """Shared helpers: dict round trip that rejects unknown keys, range checks."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON representation."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[C], values: dict[str, Any]) -> C:
        """Build from a dict, refusing keys this config does not know."""
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{cls.__name__}: unknown setting(s) {', '.join(unknown)}")
        return cls(**values)

    def replace(self: C, **changes: Any) -> C:
        """A copy with some values changed (validated again)."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


@dataclass(frozen=True)
class NetworkConfig(_Config):
    """U-Net architecture: ``depth`` poolings, ``start_filters`` channels at full resolution."""

    depth: int = 2
    start_filters: int = 32
    convs_per_level: int = 2

    def __post_init__(self) -> None:
        _check(1 <= self.depth <= 5, f"network depth must be 1..5, got {self.depth}")
        _check(
            4 <= self.start_filters <= 256,
            f"start_filters must be 4..256, got {self.start_filters}",
        )
        _check(1 <= self.convs_per_level <= 4, "convs_per_level must be 1..4")

    @property
    def size_multiple(self) -> int:
        """Input sizes must be multiples of this."""
        return 2**self.depth


@dataclass(frozen=True)
class TrainingConfig(_Config):
    """Everything that defines a DecoNoising (or plain N2V) training run.

    The budget is ``steps`` optimiser steps or ``minutes`` of wall time, whichever is set
    (``minutes`` wins when both are). ``n2v=True`` trains plain Noise2Void: no PSF, no positivity.
    """

    steps: int | None = 2000
    minutes: float | None = None
    patch_size: int = 64
    batch_size: int = 16
    learning_rate: float = 1e-3
    network: NetworkConfig = field(default_factory=NetworkConfig)
    positivity_weight: float = 1.0
    tv_weight: float = 0.0
    mask_fraction: float = 1 / 32
    neighbourhood: int = 5
    validation_fraction: float = 0.1
    validation_interval: int = 50
    output_scale: float = 10.0
    seed: int | None = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    n2v: bool = False
    augment: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.network, dict):
            object.__setattr__(self, "network", NetworkConfig.from_dict(self.network))
        _check(
            self.steps is not None or self.minutes is not None, "give a budget: steps or minutes"
        )
        _check(self.steps is None or self.steps >= 1, f"steps must be >= 1, got {self.steps}")
        _check(
            self.minutes is None or (math.isfinite(self.minutes) and self.minutes > 0),
            f"minutes must be > 0, got {self.minutes}",
        )
        multiple = self.network.size_multiple
        _check(
            16 <= self.patch_size <= 1024 and self.patch_size % multiple == 0,
            f"patch_size must be 16..1024 and a multiple of {multiple}, got {self.patch_size}",
        )
        _check(1 <= self.batch_size <= 1024, f"batch_size must be 1..1024, got {self.batch_size}")
        _check(
            0 < self.learning_rate <= 1,
            f"learning_rate must be in (0, 1], got {self.learning_rate}",
        )
        _check(self.positivity_weight >= 0, "positivity_weight must be >= 0")
        _check(self.tv_weight >= 0, "tv_weight must be >= 0")
        _check(0 < self.mask_fraction <= 0.25, "mask_fraction must be in (0, 0.25]")
        _check(self.neighbourhood in (3, 5, 7, 9), "neighbourhood must be 3, 5, 7 or 9")
        _check(0 <= self.validation_fraction < 0.5, "validation_fraction must be in [0, 0.5)")
        _check(self.validation_interval >= 1, "validation_interval must be >= 1")
        _check(self.output_scale > 0, "output_scale must be > 0")
        _check(self.device in DEVICES, f"device must be one of {DEVICES}, got {self.device!r}")


@dataclass(frozen=True)
class PredictionConfig(_Config):
    """Tiled inference settings. ``tile`` is rounded up to what the network needs."""

    tile: int = 256
    overlap: int = 32
    batch_size: int = 4
    device: Literal["auto", "cpu", "cuda"] = "auto"

    def __post_init__(self) -> None:
        _check(16 <= self.tile <= 8192, f"tile must be 16..8192 px, got {self.tile}")
        _check(self.overlap >= 0, f"overlap must be >= 0, got {self.overlap}")
        _check(
            2 * self.overlap < self.tile,
            f"overlap ({self.overlap}) must be less than half the tile ({self.tile})",
        )
        _check(1 <= self.batch_size <= 256, "batch_size must be 1..256")
        _check(self.device in DEVICES, f"device must be one of {DEVICES}, got {self.device!r}")
