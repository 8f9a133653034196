"""The machinery of every config: settings that declare their bounds, choices and help once.

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

DEVICES = ("auto", "cpu", "cuda", "mps")
"""Where a task computes: ``auto`` tries CUDA, then Apple's MPS, then the CPU."""

Device = Literal["auto", "cpu", "cuda", "mps"]

#: How a network computes: ``mixed`` in bfloat16 (float16 on Apple's MPS), ``float32``, or
#: ``auto``, mixed where the device does it natively (see
#: :func:`napari_deconoising.model.devices.mixed_precision`).
PRECISIONS = ("auto", "float32", "mixed")

STORAGES = ("float32", "float16")

Storage = Literal["float32", "float16"]
"""How a model file stores its weights."""


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


def require(condition: bool, message: str) -> None:
    """Raise :class:`~napari_deconoising.errors.ConfigError` (``message``) unless ``condition``."""
    if not condition:
        raise ConfigError(message)
