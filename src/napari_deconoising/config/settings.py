"""Validated configuration objects, one per task, saved with the model as JSON.

Every setting declares its bounds and choices once, with :func:`setting`; the configs check
themselves against those declarations, and the widgets and the command line read them with
:func:`bounds` to build their ranges and choices. Nothing else writes a limit down again.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from napari_deconoising.errors import ConfigError

C = TypeVar("C", bound="Config")

DEVICES = ("auto", "cpu", "cuda")
Device = Literal["auto", "cpu", "cuda"]
MODES = ("auto", "2d", "3d")
Mode = Literal["auto", "2d", "3d"]
STORAGES = ("float32", "float16")
Storage = Literal["float32", "float16"]
"""How a model file stores its weights."""
#: The number of spatial dimensions each explicit ``mode`` trains with (``auto``: decided by the
#: data, see :func:`napari_deconoising.training.resolve_mode`).
MODE_DIMS: dict[str, int] = {"2d": 2, "3d": 3}
DOWNSAMPLING = ("max", "blur")
REPLACEMENTS = ("random", "median", "mean")
PRECISIONS = ("auto", "float32", "mixed")


@dataclass(frozen=True)
class Bounds:
    """What a setting accepts: a numeric range (``low``/``high``, open or closed) or choices."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[Any, ...] | None = None
    optional: bool = False
    help: str = ""

    def widget_range(self, step: float = 1.0) -> tuple[float, float]:
        """Closed (min, max) for a spin box: open ends move inwards by ``step``."""
        low = -1e12 if self.low is None else self.low + (step if self.low_open else 0)
        high = 1e12 if self.high is None else self.high - (step if self.high_open else 0)
        return low, high

    def describe(self) -> str:
        """``in (0, 1]``, ``one of auto, cpu, cuda``, ``>= 1``..."""
        if self.choices is not None:
            return "one of " + ", ".join(str(c) for c in self.choices)
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"in {left}{_number(self.low)}, {_number(self.high)}{right}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {_number(self.low)}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {_number(self.high)}"
        return "any value"

    def accepts(self, value: Any) -> bool:
        """True when ``value`` satisfies these bounds."""
        if value is None:
            return self.optional
        if self.choices is not None:
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, int | float):
            return self.low is None and self.high is None
        if not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (
            self.high is not None and (value >= self.high if self.high_open else value > self.high)
        )


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def setting(
    default: Any = dataclasses.MISSING,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    choices: tuple[Any, ...] | None = None,
    optional: bool = False,
    help: str = "",
    default_factory: Any = dataclasses.MISSING,
) -> Any:
    """A dataclass field that declares its bounds (read back with :func:`bounds`)."""
    declared = Bounds(low, high, low_open, high_open, choices, optional, help)
    if default_factory is not dataclasses.MISSING:
        return field(default_factory=default_factory, metadata={"bounds": declared})
    return field(default=default, metadata={"bounds": declared})


def bounds(config: type | Any, name: str) -> Bounds:
    """The declared bounds of setting ``name`` of a config class (or instance)."""
    for item in dataclasses.fields(config):
        if item.name == name:
            return item.metadata.get("bounds", Bounds())
    raise KeyError(f"{getattr(config, '__name__', type(config).__name__)} has no setting {name}")


class Config:
    """Shared behaviour: validation against declared bounds, dict round trip, ``replace``."""

    def __post_init__(self) -> None:
        self._check_declared()

    def _check_declared(self) -> None:
        for item in dataclasses.fields(self):  # type: ignore[arg-type]
            declared = item.metadata.get("bounds")
            value = getattr(self, item.name)
            if declared is not None and not declared.accepts(value):
                raise ConfigError(f"{item.name} must be {declared.describe()}, got {value!r}")

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
class NetworkConfig(Config):
    """U-Net architecture: ``depth`` poolings, ``start_filters`` channels at full resolution."""

    depth: int = setting(2, low=1, high=5, help="number of poolings")
    start_filters: int = setting(32, low=4, high=256, help="channels at full resolution")
    convs_per_level: int = setting(2, low=1, high=4, help="convolutions per level")
    downsampling: str = setting(
        "max",
        choices=DOWNSAMPLING,
        help="max: max-pooling; blur: max then a binomial low-pass before subsampling "
        "(anti-aliased, as N2V2)",
    )
    top_skip: bool = setting(
        True,
        choices=(True, False),
        help="keep the full-resolution skip connection (N2V2 drops it)",
    )

    @property
    def size_multiple(self) -> int:
        """Input sizes must be multiples of this."""
        return 2**self.depth


@dataclass(frozen=True)
class TrainingConfig(Config):
    """Everything that defines a DecoNoising (or plain N2V) training run.

    The budget is ``steps`` optimiser steps or ``minutes`` of wall time, whichever is set
    (``minutes`` wins when both are). ``n2v=True`` trains plain Noise2Void: no PSF, no positivity.

    ``mode`` picks 2D (plane by plane) or 3D training: ``auto`` trains in 3D when the images have
    a Z axis and the PSF is 3D. 3D patches are ``patch_size_z`` planes of ``patch_size`` squared;
    :meth:`for_mode` gives the defaults that suit each mode (3D: a smaller network and batch).
    """

    steps: int | None = setting(2000, low=1, high=10_000_000, optional=True)
    minutes: float | None = setting(None, low=0, low_open=True, high=100_000, optional=True)
    patch_size: int = setting(64, low=16, high=1024, help="side of the square training patches")
    batch_size: int = setting(16, low=1, high=1024, help="patches per optimiser step")
    learning_rate: float = setting(1e-3, low=0, high=1, low_open=True)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    positivity_weight: float = setting(1.0, low=0, high=1000)
    tv_weight: float = setting(0.0, low=0, high=1000)
    mask_fraction: float = setting(1 / 32, low=0, high=0.25, low_open=True)
    neighbourhood: int = setting(5, choices=(3, 5, 7, 9), help="replacement window (pixels)")
    replacement: str = setting(
        "random",
        choices=REPLACEMENTS,
        help="value of a blind-spot pixel: a random other pixel of its window, or the median or "
        "mean of the window without it",
    )
    validation_fraction: float = setting(0.1, low=0, high=0.5, high_open=True)
    validation_interval: int = setting(50, low=1, high=1_000_000)
    output_scale: float = setting(10.0, low=0, high=1000, low_open=True)
    seed: int | None = setting(0, low=0, high=2**31 - 1, optional=True)
    device: Device = setting("auto", choices=DEVICES)
    n2v: bool = False
    augment: bool = True
    mode: Mode = setting("auto", choices=MODES, help="2d: plane by plane; 3d: volumes; auto")
    patch_size_z: int = setting(16, low=4, high=256, help="planes per 3D patch")
    min_psf_coverage: float = setting(
        0.0,
        low=0,
        high=1,
        help="blind spots count in the loss only where at least this share of the PSF falls "
        "inside the patch (0: everywhere; near a border the rest is reflected content)",
    )
    precision: str = setting(
        "auto",
        choices=PRECISIONS,
        help="mixed: the network computes in bfloat16 (about twice as fast where the hardware "
        "has it); auto: mixed on GPUs and on CPUs with native bfloat16, else float32",
    )
    cache_mb: float = setting(
        512, low=1, high=1_000_000, help="images larger than this are streamed from disk (MB)"
    )

    @classmethod
    def for_mode(cls, mode: str, **values: Any) -> TrainingConfig:
        """The defaults for ``mode`` (:data:`MODE_DEFAULTS` of its spatial dims; ``auto`` takes
        the 2D ones, the class defaults), with ``values`` on top."""
        base = dict(MODE_DEFAULTS[MODE_DIMS.get(mode, 2)])
        network = NetworkConfig.from_dict(
            {**base.pop("network", {}), **_as_dict(values.pop("network", {}))}
        )
        return cls(**{**base, **values, "network": network, "mode": mode})

    def __post_init__(self) -> None:
        if isinstance(self.network, dict):
            object.__setattr__(self, "network", NetworkConfig.from_dict(self.network))
        self._check_declared()
        _check(
            self.steps is not None or self.minutes is not None, "give a budget: steps or minutes"
        )
        multiple = self.network.size_multiple
        _check(
            self.patch_size % multiple == 0,
            f"patch_size must be a multiple of {multiple} for a network of depth "
            f"{self.network.depth}, got {self.patch_size}",
        )


def _as_dict(value: Any) -> dict[str, Any]:
    return value.to_dict() if isinstance(value, Config) else dict(value)


#: What 3D training changes from the class defaults: a network and batch that train usefully
#: on a CPU within minutes (a 3D patch of 16 x 64 x 64 holds 16 times the pixels of a 2D one).
DEFAULTS_3D: dict[str, Any] = {
    "batch_size": 4,
    "patch_size": 64,
    "patch_size_z": 16,
    "network": {"depth": 2, "start_filters": 16},
}

#: What each number of spatial dims changes from the class defaults (2D: nothing).
MODE_DEFAULTS: dict[int, dict[str, Any]] = {2: {}, 3: DEFAULTS_3D}


@dataclass(frozen=True)
class PredictionConfig(Config):
    """Tiled inference settings. ``tile`` is rounded up to what the network needs.

    3D models cut volumes into tiles of at most ``tile_z`` planes and ``tile`` pixels in Y and
    X, with ``overlap_z`` planes and ``overlap`` pixels of context (never more than the network
    can see); an axis that fits in one tile is not cut.
    """

    tile: int = setting(256, low=16, high=8192, help="tile side (px)")
    overlap: int = setting(32, low=0, high=4000, help="context around each tile (px)")
    batch_size: int = setting(4, low=1, high=256, help="tiles per batch")
    device: Device = setting("auto", choices=DEVICES)
    tile_z: int = setting(64, low=4, high=4096, help="tile depth of 3D models (planes)")
    overlap_z: int = setting(24, low=0, high=2000, help="context above and below 3D tiles (planes)")

    def __post_init__(self) -> None:
        self._check_declared()
        _check(
            2 * self.overlap < self.tile,
            f"overlap ({self.overlap}) must be less than half the tile ({self.tile})",
        )
        _check(
            2 * self.overlap_z < self.tile_z,
            f"overlap_z ({self.overlap_z}) must be less than half of tile_z ({self.tile_z})",
        )


@dataclass(frozen=True)
class OpticsConfig(Config):
    """The microscope optics a PSF is computed from (and the Gaussian sigma when given directly)."""

    sigma: float = setting(1.5, low=0.1, high=50, help="Gaussian PSF sigma (px)")
    na: float = setting(1.4, low=0.05, high=1.7, help="numerical aperture")
    wavelength_nm: float = setting(520.0, low=200, high=2000, help="emission wavelength (nm)")
    pixel_size_nm: float = setting(100.0, low=1, high=10_000, help="pixel size (nm)")
