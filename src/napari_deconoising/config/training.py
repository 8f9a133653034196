"""The network and training settings, and what 3D training changes from their defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from napari_deconoising.config.base import (
    DEVICES,
    PRECISIONS,
    Config,
    Device,
    require,
    setting,
)

MODES = ("auto", "2d", "3d")

Mode = Literal["auto", "2d", "3d"]

#: The number of spatial dimensions each explicit ``mode`` trains with (``auto``: decided by the
#: data, see :func:`napari_deconoising.training.resolve_mode`).
MODE_DIMS: dict[str, int] = {"2d": 2, "3d": 3}

DOWNSAMPLING = ("max", "blur")

REPLACEMENTS = ("random", "median", "mean")

#: Blind-spot shapes: one pixel, or structured along X, Y or both (lines), or a square box
#: (``auto``: from the noise).
BLIND_SPOTS = ("auto", "pixel", "x", "y", "xy", "box")
#: The widest structured blind spot: this many neighbours on either side.
MAX_BLIND_SPOT_SPAN = 6

#: The most planes a 2.5D network's first layer may mix (``NetworkConfig.z_context``).
MAX_Z_CONTEXT = 15

#: How a DecoNoising model deconvolves: ``joint``, the network's output is the deconvolved image
#: (the 2020 method); ``two-stage``, the network denoises and Richardson-Lucy deconvolves.
DESIGNS = ("joint", "two-stage")


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
    z_context: int = setting(
        0,
        low=0,
        high=MAX_Z_CONTEXT,
        help="3D networks: 0 mixes planes in every layer (3D convolutions); an odd number k "
        "mixes k planes in the first layer only, then works plane by plane (2.5D: about the "
        "speed of a 2D network, with the neighbouring planes in view)",
    )

    def __post_init__(self) -> None:
        self._check_declared()
        require(
            self.z_context == 0 or self.z_context % 2 == 1,
            f"z_context must be 0 or odd, got {self.z_context}",
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
    blind_spot: str = setting(
        "auto",
        choices=BLIND_SPOTS,
        help="pixel: mask one pixel; x, y, xy: also its neighbours along X, Y or both, for noise "
        "correlated along them (structN2V); box: the square around it, for noise correlated in "
        "every direction; auto: measured on the images before training",
    )
    blind_spot_span: int | None = setting(
        None,
        low=1,
        high=MAX_BLIND_SPOT_SPAN,
        optional=True,
        help="neighbours masked on either side along x / y, or the box's half-width (none: "
        "from the measured correlation length, at least 1)",
    )
    validation_fraction: float = setting(0.1, low=0, high=0.5, high_open=True)
    validation_interval: int = setting(50, low=1, high=1_000_000)
    output_scale: float = setting(10.0, low=0, high=1000, low_open=True)
    seed: int | None = setting(0, low=0, high=2**31 - 1, optional=True)
    device: Device = setting("auto", choices=DEVICES)
    n2v: bool = False
    design: str = setting(
        "joint",
        choices=DESIGNS,
        help="joint: the network's output is the deconvolved image, fitted through the PSF "
        "(DecoNoising, 2020); two-stage: the network denoises (blind-spot loss without the PSF) "
        "and Richardson-Lucy deconvolves its output at prediction",
    )
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
        help="mixed: the network computes in bfloat16 (float16 on Apple's MPS; about twice as "
        "fast where the hardware has it); auto: mixed on CUDA GPUs and on CPUs with native "
        "bfloat16, else float32",
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
        require(
            self.steps is not None or self.minutes is not None, "give a budget: steps or minutes"
        )
        multiple = self.network.size_multiple
        require(
            self.patch_size % multiple == 0,
            f"patch_size must be a multiple of {multiple} for a network of depth "
            f"{self.network.depth}, got {self.patch_size}",
        )


def _as_dict(value: Any) -> dict[str, Any]:
    return value.to_dict() if isinstance(value, Config) else dict(value)


#: What 3D training changes from the class defaults: a network and batch that train usefully
#: on a CPU within minutes (a 3D patch of 16 x 64 x 64 holds 16 times the pixels of a 2D one).
DEFAULTS_3D: dict[str, Any] = {
    # a widefield 3D PSF is learnt slowly through the blind-spot loss; denoising first and then
    # Richardson-Lucy wins in 3D (bench/bench_3d.py)
    "design": "two-stage",
    "batch_size": 4,
    "patch_size": 64,
    "patch_size_z": 16,
    # 2.5D: five planes into the first layer, then a 2D U-Net per plane; in 10 minutes on 2 CPU
    # cores it denoised 1.5-2.9 dB above plane by plane and above the full 3D network
    # (bench/bench_3d.py, bench/README.md)
    "network": {"depth": 2, "start_filters": 16, "z_context": 5},
}

#: What each number of spatial dims changes from the class defaults (2D: nothing).
MODE_DEFAULTS: dict[int, dict[str, Any]] = {2: {}, 3: DEFAULTS_3D}
