"""One-click model compression: channel pruning plus distillation, with a measured report.

A trained network is made smaller in three stages:

1. **Teacher outputs.** The original model predicts the user's images once (with the ordinary
   :class:`~napari_deconoising.prediction.Predictor`); its deconvolved images are the targets.
   No ground truth is needed.
2. **Structured pruning.** The U-Net's channel groups (found by torch-pruning's dependency graph,
   which couples the convolutions whose outputs the skip connections add) keep their channels of
   largest group L1 norm. Level ``i`` keeps ``keep * taper**i`` of its channels, rounded to a
   multiple of ``round_to``: deep levels hold most of the parameters but little of the compute.
   The result is an ordinary, narrower :class:`~napari_deconoising.unet.UNet`.
3. **Fine-tuning by distillation.** The pruned network learns to reproduce the original's
   deconvolved image and its PSF convolution (the denoised image) on random patches of the user's
   images, away from the patch borders where the original saw more context.

The weights are stored as float16 (the file halves; loading turns them back into float32) unless
that would change the outputs measurably. Compute stays float32 on the CPU; on a GPU the Predictor
already runs in half precision. The report is measured at the end of every run: parameters, file
sizes, time per 512x512 frame of both models in the same run, and the PSNR of the compressed
model's outputs against the original's on held-out frames of the user's images.
"""

from __future__ import annotations

import copy
import hashlib
import math
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .bundle import DecoNoisingModel, timestamp
from .config import DEVICES, NetworkConfig, PredictionConfig, _check, _Config
from .convolution import convolve, psf_tensor
from .devices import autocast, resolve_device
from .errors import Cancelled, ConfigError, DeconoisingError, ImageError, ModelFileError
from .images import as_frames
from .metrics import psnr
from .prediction import PredictionResult, Predictor
from .unet import UNet, count_parameters

METHOD = "structured L1 channel pruning (torch-pruning) + distillation from the original"
#: Weights are kept in float16 only if rounding them changes the outputs by at most this root mean
#: square share of the output's range (1e-3: a PSNR of 60 dB against the float32 outputs).
FLOAT16_MAX_ERROR = 1e-3
#: Smallest size of the square patches used for fine-tuning.
MIN_PATCH = 32
#: Images whose median lies this many training standard deviations away from the training mean,
#: or whose spread differs by this factor, are refused as not matching the model.
MAX_INTENSITY_SHIFT = 20.0
MAX_SPREAD_RATIO = 50.0

Storage = Literal["float32", "float16"]


# -- configuration -------------------------------------------------------------------------------
@dataclass(frozen=True)
class CompressionConfig(_Config):
    """Everything that defines a compression run.

    ``keep`` is the share of channels kept at full resolution and ``taper`` the factor applied per
    level below it; widths are rounded to multiples of ``round_to`` (fast on SIMD CPUs).
    Fine-tuning runs ``steps`` optimiser steps or until the whole run nears ``minutes`` of wall
    time (teacher outputs, fine-tuning and the report's measurements together), whichever comes
    first. At most ``max_pixels`` of the images are used (frames evenly spread over the stack),
    and ``eval_fraction`` of the frames (at most ``max_eval_frames``) are held out to measure
    fidelity when there are at least three.
    """

    keep: float = 0.5
    taper: float = 0.9
    round_to: int = 8
    min_width: int = 4
    steps: int = 800
    minutes: float | None = 2.5
    patch_size: int = 128
    batch_size: int = 8
    learning_rate: float = 1e-3
    max_pixels: int = 4 * 1024 * 1024
    eval_fraction: float = 0.2
    max_eval_frames: int = 2
    storage: Storage = "float16"
    timing_size: int = 512
    timing_repeats: int = 3
    augment: bool = True
    seed: int | None = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"

    def __post_init__(self) -> None:
        _check(0 < self.keep <= 1, f"keep must be in (0, 1], got {self.keep}")
        _check(0.25 <= self.taper <= 1, f"taper must be in [0.25, 1], got {self.taper}")
        _check(1 <= self.round_to <= 64, f"round_to must be 1..64, got {self.round_to}")
        _check(4 <= self.min_width <= 256, f"min_width must be 4..256, got {self.min_width}")
        _check(self.steps >= 1, f"steps must be >= 1, got {self.steps}")
        _check(
            self.minutes is None or (math.isfinite(self.minutes) and self.minutes > 0),
            f"minutes must be > 0, got {self.minutes}",
        )
        _check(
            MIN_PATCH <= self.patch_size <= 1024,
            f"patch_size must be {MIN_PATCH}..1024, got {self.patch_size}",
        )
        _check(1 <= self.batch_size <= 256, f"batch_size must be 1..256, got {self.batch_size}")
        _check(0 < self.learning_rate <= 1, "learning_rate must be in (0, 1]")
        _check(self.max_pixels >= 4096, "max_pixels must be >= 4096")
        _check(0 <= self.eval_fraction < 1, "eval_fraction must be in [0, 1)")
        _check(self.max_eval_frames >= 1, "max_eval_frames must be >= 1")
        _check(self.storage in ("float32", "float16"), "storage must be float32 or float16")
        _check(64 <= self.timing_size <= 4096, "timing_size must be 64..4096")
        _check(1 <= self.timing_repeats <= 50, "timing_repeats must be 1..50")
        _check(self.device in DEVICES, f"device must be one of {DEVICES}, got {self.device!r}")


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


# -- events and report ---------------------------------------------------------------------------
@dataclass(frozen=True)
class CompressionStarted:
    """Sent once, before any work."""

    preset: str
    device: str
    params_before: int
    widths_before: list[int]
    widths_after: list[int]
    train_frames: int
    eval_frames: int
    max_steps: int
    budget_s: float | None
    progress: float = 0.0


@dataclass(frozen=True)
class CompressionStage:
    """A stage begins or advances: ``teacher``, ``pruning``, ``fine-tuning``, ``measuring``."""

    stage: str
    message: str
    progress: float


@dataclass(frozen=True)
class CompressionStep:
    """Sent after every fine-tuning step. ``progress`` runs from 0 to 1 over the whole run;
    ``eta_s`` estimates the seconds left in the whole run (fine-tuning and measurements)."""

    step: int
    max_steps: int
    loss: float
    learning_rate: float
    elapsed_s: float
    eta_s: float
    progress: float


@dataclass(frozen=True)
class CompressionReport:
    """What was gained and what was lost, measured on this machine in this run.

    ``psnr_*_vs_original`` compare the compressed model's outputs with the original model's
    (the original's range is the peak), averaged over the evaluation frames.
    """

    preset: str
    params_before: int
    params_after: int
    bytes_before: int
    bytes_after: int
    ms_per_frame_before: float
    ms_per_frame_after: float
    psnr_denoised_vs_original: float
    psnr_deconvolved_vs_original: float
    frame_size: int
    widths_before: list[int]
    widths_after: list[int]
    method: str
    storage: str
    compute_precision: str
    device: str
    threads: int
    fine_tune_steps: int
    final_loss: float
    evaluated_on: str
    seconds: float
    load_average: float | None = None

    @property
    def param_reduction(self) -> float:
        """How many times fewer parameters."""
        return self.params_before / max(self.params_after, 1)

    @property
    def size_reduction(self) -> float:
        """How many times smaller the file."""
        return self.bytes_before / max(self.bytes_after, 1)

    @property
    def speedup(self) -> float:
        """How many times faster per frame."""
        return self.ms_per_frame_before / max(self.ms_per_frame_after, 1e-9)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able figures, the reductions included."""
        return {
            **asdict(self),
            "param_reduction": round(self.param_reduction, 3),
            "size_reduction": round(self.size_reduction, 3),
            "speedup": round(self.speedup, 3),
        }

    def lines(self) -> list[str]:
        """The report as short lines of text (CLI, widget)."""
        return [
            f"Preset {self.preset}: widths {self.widths_before} -> {self.widths_after}",
            f"Parameters: {self.params_before:,} -> {self.params_after:,} "
            f"({self.param_reduction:.1f}x fewer)",
            f"File: {_megabytes(self.bytes_before)} -> {_megabytes(self.bytes_after)} "
            f"({self.size_reduction:.1f}x smaller, {self.storage} weights)",
            f"Time per {self.frame_size}x{self.frame_size} frame ({self.device}, "
            f"{self.threads} threads): {self.ms_per_frame_before:.0f} ms -> "
            f"{self.ms_per_frame_after:.0f} ms ({self.speedup:.1f}x faster)",
            f"Fidelity vs the original ({self.evaluated_on}): denoised "
            f"{self.psnr_denoised_vs_original:.1f} dB, deconvolved "
            f"{self.psnr_deconvolved_vs_original:.1f} dB PSNR",
            f"Compressed in {self.seconds:.0f} s ({self.fine_tune_steps} fine-tuning steps)",
        ]


@dataclass(frozen=True)
class CompressionFinished:
    """Sent last, with the report and where the model was saved (None if it was not)."""

    report: CompressionReport
    path: str | None
    progress: float = 1.0


CompressionEvent = CompressionStarted | CompressionStage | CompressionStep | CompressionFinished


@dataclass
class CompressionResult:
    """The compressed model, its report, and the file it was saved to (if any)."""

    model: DecoNoisingModel
    report: CompressionReport
    path: Path | None = None


def _megabytes(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.2f} MB" if n_bytes >= 1e5 else f"{n_bytes / 1e3:.0f} kB"


# -- widths and pruning --------------------------------------------------------------------------
def plan_widths(widths: Sequence[int], config: CompressionConfig) -> list[int]:
    """Channels kept per level: ``keep * taper**level`` of each, rounded to ``round_to``.

    A width is never raised above the original nor lowered below ``min_width``.
    """
    planned = []
    for level, width in enumerate(widths):
        target = width * config.keep * config.taper**level
        step = config.round_to if target >= config.round_to else 1
        rounded = round(target / step) * step
        planned.append(int(min(width, max(config.min_width, rounded))))
    return planned


def _conv_levels(network: UNet) -> dict[nn.Module, int]:
    """The U-Net level whose width each convolution's output channels belong to."""
    levels: dict[nn.Module, int] = {}
    for level, block in enumerate(network.down):
        levels.update({m: level for m in block if isinstance(m, nn.Conv2d)})
    for level, block in enumerate(network.up):
        levels.update({m: level for m in block if isinstance(m, nn.Conv2d)})
    levels.update({m: level for level, m in enumerate(network.upsample)})
    return levels


def prune_unet(network: UNet, widths: Sequence[int]) -> UNet:
    """A narrower copy of ``network`` keeping, per channel group, the channels of largest L1 norm.

    Channel groups come from torch-pruning's dependency graph, so the convolutions whose outputs
    the skip connections add stay consistent. ``network`` itself is not changed.
    """
    tp = _torch_pruning()
    if len(widths) != len(network.widths):
        raise ValueError(f"need {len(network.widths)} widths, got {list(widths)}")
    work = copy.deepcopy(network).cpu().float().eval()
    for module in work.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False  # in-place ops hide the convolutions from the tracer
    size = 4 * work.size_multiple
    example = torch.zeros(1, 1, size, size)
    graph = tp.DependencyGraph().build_dependency(work, example_inputs=example)
    importance = tp.importance.GroupMagnitudeImportance(p=1, normalizer=None)
    levels = _conv_levels(work)
    roots = [
        group[0].dep.target.module
        for group in graph.get_all_groups(
            ignored_layers=[work.out], root_module_types=[nn.Conv2d, nn.ConvTranspose2d]
        )
    ]
    for root in roots:
        _prune_group(graph, importance, root, widths[levels[root]])
    return _rebuild(work, network.config, widths)


def _prune_group(graph: Any, importance: Any, root: nn.Module, keep: int) -> None:
    """Remove the lowest-importance output channels of ``root`` (and everything coupled to it)."""
    prune_out = graph.get_pruner_of_module(root).prune_out_channels
    channels = graph.get_out_channels(root)
    if keep >= channels:
        return
    scores = importance(graph.get_pruning_group(root, prune_out, list(range(channels))))
    drop = torch.argsort(scores)[: channels - keep].tolist()
    graph.get_pruning_group(root, prune_out, sorted(drop)).prune()


def _rebuild(pruned: UNet, config: NetworkConfig, widths: Sequence[int]) -> UNet:
    """The pruned weights in a fresh U-Net built from the new widths (a plain, savable model)."""
    student_config = NetworkConfig(
        depth=config.depth,
        start_filters=int(min(256, max(4, widths[0]))),
        convs_per_level=config.convs_per_level,
    )
    student = UNet(student_config, list(widths))
    try:
        student.load_state_dict(pruned.state_dict())
    except RuntimeError as err:  # pragma: no cover - would be a torch-pruning regression
        raise DeconoisingError(f"channel pruning gave an unexpected network: {err}") from err
    return student.eval()


def _torch_pruning() -> Any:
    try:
        import torch_pruning
    except ImportError as err:
        raise DeconoisingError(
            "model compression needs the torch-pruning package: pip install torch-pruning"
        ) from err
    return torch_pruning


# -- measurements --------------------------------------------------------------------------------
def model_file_size(model: DecoNoisingModel, storage: Storage = "float32") -> int:
    """Size in bytes of the model file that :func:`save_model` writes for ``model``."""
    with tempfile.TemporaryDirectory(prefix="deconoising-size-") as folder:
        path = save_model(model, Path(folder) / "model.pt", storage)
        return path.stat().st_size


def save_model(model: DecoNoisingModel, path: str | Path, storage: Storage = "float32") -> Path:
    """Save atomically, with float16 weights if ``storage`` says so (loading makes them float32)."""
    if storage == "float32":
        return model.save(path)
    half = copy.copy(model)
    half.network = copy.deepcopy(model.network).cpu().half()
    return half.save(path)


def timing_frame(frames: Sequence[np.ndarray], size: int) -> np.ndarray:
    """A ``size`` x ``size`` frame cut from (or tiled out of) the first frame."""
    frame = np.asarray(frames[0], dtype=np.float32)
    reps = (math.ceil(size / frame.shape[0]), math.ceil(size / frame.shape[1]))
    return np.ascontiguousarray(np.tile(frame, reps)[:size, :size])


def ms_per_frame(
    models: Sequence[DecoNoisingModel],
    frame: np.ndarray,
    repeats: int = 3,
    config: PredictionConfig | None = None,
    check: Callable[[], None] | None = None,
) -> list[tuple[float, float]]:
    """Best and median milliseconds per ``frame`` for each model, measured interleaved.

    Each model predicts once to warm up, then the models take turns ``repeats`` times, so that
    load from other processes disturbs them alike; the best time is the least disturbed one.
    ``check`` is called between runs (to cancel).
    """
    predictors = [Predictor(model, config) for model in models]
    for predictor in predictors:
        predictor.predict(frame)
    times: list[list[float]] = [[] for _ in predictors]
    for _ in range(repeats):
        for predictor, record in zip(predictors, times, strict=True):
            if check is not None:
                check()
            start = time.perf_counter()
            predictor.predict(frame)
            record.append(1000 * (time.perf_counter() - start))
    return [(min(record), float(np.median(record))) for record in times]


def weights_fingerprint(network: nn.Module) -> str:
    """SHA-256 of the network's weights (names, shapes and float32 values)."""
    digest = hashlib.sha256()
    for name, tensor in network.state_dict().items():
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().float().contiguous().numpy().tobytes())
    return digest.hexdigest()


# -- inputs --------------------------------------------------------------------------------------
def _collect_frames(images: Any, max_pixels: int) -> list[np.ndarray]:
    """The frames of every image as float32 arrays, at most about ``max_pixels`` per image.

    Long stacks are thinned (frames spread evenly) *before* conversion, so a long time-lapse
    never gets copied whole.
    """
    arrays = [images] if hasattr(images, "shape") else list(images)
    if len(arrays) == 0:
        raise ImageError("no images given to fine-tune on")
    frames: list[np.ndarray] = []
    for index, image in enumerate(arrays):
        name = f"image {index + 1}" if len(arrays) > 1 else "image"
        frames.extend(as_frames(_thinned(image, max_pixels), name=name))
    return frames


def _thinned(image: Any, max_pixels: int) -> np.ndarray:
    """``image`` as a numpy array, keeping only evenly spread frames of a long (N, Y, X) stack."""
    shape = tuple(getattr(image, "shape", np.shape(image)))
    looks_rgb = len(shape) == 3 and shape[-1] in (3, 4) and min(shape[:2]) > 4
    if len(shape) == 3 and not looks_rgb:
        keep = max(1, max_pixels // max(shape[1] * shape[2], 1))
        if shape[0] > keep:
            chosen = _spread(shape[0], keep)
            try:  # numpy and dask index lazily, other array types may not
                image = image[chosen]
            except (TypeError, IndexError, ValueError):
                image = np.asarray(image)[chosen]
    return np.asarray(image)


def check_images_match(model: DecoNoisingModel, frames: Sequence[np.ndarray]) -> None:
    """Raise :class:`ImageError` when the images cannot be what ``model`` was trained for.

    Checks the size (big enough for the network's poolings and for fine-tuning patches) and the
    intensities (median and spread against the training data's mean and standard deviation).
    """
    multiple = model.network.size_multiple
    smallest = min(min(f.shape) for f in frames)
    needed = max(MIN_PATCH, 2 * multiple)
    if smallest < needed:
        raise ImageError(
            f"the image is too small ({smallest} px on its short side) for this model: "
            f"compression needs at least {needed} x {needed} px"
        )
    norm = model.normalisation
    sample = np.concatenate([np.asarray(f, np.float32).ravel()[::7] for f in frames[:16]])
    median, spread = float(np.median(sample)), float(np.std(sample))
    shift = abs(median - norm.mean) / norm.std
    ratio = max(spread, 1e-12) / norm.std
    if shift > MAX_INTENSITY_SHIFT or not (1 / MAX_SPREAD_RATIO <= ratio <= MAX_SPREAD_RATIO):
        raise ImageError(
            f"the image does not match the model: its intensities (median {median:.4g}, spread "
            f"{spread:.4g}) are far from those the model was trained on (mean {norm.mean:.4g}, "
            f"std {norm.std:.4g}); fine-tune on images like the training images"
        )


def _select_frames(
    frames: list[np.ndarray], config: CompressionConfig
) -> tuple[list[np.ndarray], list[np.ndarray], bool]:
    """(fine-tuning frames, evaluation frames, held_out): frames spread evenly over the input."""
    mean_pixels = float(np.mean([f.size for f in frames]))
    count = int(min(len(frames), max(1, config.max_pixels // mean_pixels)))
    chosen = [frames[i] for i in _spread(len(frames), count)]
    n_eval = min(config.max_eval_frames, max(1, round(config.eval_fraction * len(chosen))))
    if len(chosen) < 3 or config.eval_fraction == 0:
        return chosen, chosen, False
    held = set(_spread(len(chosen), n_eval + 2)[1:-1])
    train = [f for i, f in enumerate(chosen) if i not in held]
    evaluation = [f for i, f in enumerate(chosen) if i in held]
    return train, evaluation, True


def _spread(total: int, count: int) -> list[int]:
    """``count`` distinct indices spread evenly over ``range(total)``."""
    return sorted({round(x) for x in np.linspace(0, total - 1, count)})


def _source_name(model: DecoNoisingModel, source_path: Path | None, fingerprint: str) -> str:
    if source_path is not None:
        return source_path.name
    return f"unsaved model (weights sha256 {fingerprint[:12]})"


# -- the compressor ------------------------------------------------------------------------------
class Compressor:
    """Compresses a model on the user's images.

    ``model`` is a :class:`DecoNoisingModel` or the path of a model file; it is never changed.
    ``images`` are arrays in camera units, each 2D or a stack of frames. :meth:`run` yields
    events and ends with :class:`CompressionFinished`; :meth:`cancel` makes it raise
    :class:`~napari_deconoising.errors.Cancelled` at the next batch, writing nothing. If
    ``out_path`` is given, the compressed model is saved there (atomically) at the very end.
    """

    def __init__(
        self,
        model: DecoNoisingModel | str | Path,
        images: np.ndarray | Sequence[np.ndarray],
        preset: str = "balanced",
        config: CompressionConfig | None = None,
        out_path: str | Path | None = None,
        source_path: str | Path | None = None,
    ):
        self.preset = preset
        self.config = config or preset_config(preset)
        original, source = _load_original(model, source_path)
        self.source_path = source
        self.out_path = _checked_out_path(out_path, source)
        self.teacher = copy.deepcopy(original)  # the caller's model stays untouched
        self.teacher.network.eval()
        frames = _collect_frames(images, self.config.max_pixels)
        check_images_match(self.teacher, frames)
        self.train_frames, self.eval_frames, self.held_out = _select_frames(frames, self.config)
        self.widths_before = list(self.teacher.network.widths)
        self.widths_after = plan_widths(self.widths_before, self.config)
        if self.widths_after == self.widths_before:
            raise ConfigError(
                f"this model (widths {self.widths_before}) is already as small as preset "
                f"{preset!r} makes it; choose a smaller preset"
            )
        self._cancel = threading.Event()
        self._predictor: Predictor | None = None
        self._result: CompressionResult | None = None

    def cancel(self) -> None:
        """Stop at the next batch; :meth:`run` then raises ``Cancelled`` and writes nothing."""
        self._cancel.set()
        predictor = self._predictor
        if predictor is not None:
            predictor.cancel()

    @property
    def result(self) -> CompressionResult:
        """The compressed model and its report (once :meth:`run` has finished)."""
        if self._result is None:
            raise RuntimeError("the compressor has not finished")
        return self._result

    def run(self) -> Iterator[CompressionEvent]:
        """Compress, yielding events; the last one is :class:`CompressionFinished`."""
        self._cancel.clear()
        session = _Session(self)
        yield from session.run()
        self._result = session.result

    def _check(self) -> None:
        if self._cancel.is_set():
            raise Cancelled("compression cancelled")


def _load_original(
    model: DecoNoisingModel | str | Path, source_path: str | Path | None
) -> tuple[DecoNoisingModel, Path | None]:
    if isinstance(model, (str, Path)):
        return DecoNoisingModel.load(model), Path(model)
    if not isinstance(model, DecoNoisingModel):
        raise ModelFileError(
            f"expected a napari-deconoising model or a model file, got {type(model).__name__}"
        )
    if not isinstance(model.network, UNet):
        raise ModelFileError("this model's network is not a napari-deconoising U-Net")
    return model, None if source_path is None else Path(source_path)


def _checked_out_path(out_path: str | Path | None, source: Path | None) -> Path | None:
    if out_path is None:
        return None
    out = Path(out_path)
    if out.is_dir():
        raise ConfigError(f"the output {out} is a folder; give a model file name")
    if source is not None and out.resolve() == source.resolve():
        raise ConfigError(
            f"the output {out} is the input model; the original is never overwritten, "
            "choose another file name"
        )
    return out


class _Session:
    """One compression run: teacher outputs, pruning, fine-tuning, measuring, saving."""

    TEACHER_SHARE, TUNE_SHARE = 0.1, 0.8

    def __init__(self, compressor: Compressor):
        self.c = compressor
        self.config = compressor.config
        self.device = resolve_device(self.config.device)
        self.prediction_config = PredictionConfig(device=self.config.device)
        self.generator = torch.Generator().manual_seed(
            self.config.seed if self.config.seed is not None else int(time.time_ns() % 2**31)
        )
        if self.config.seed is not None:
            torch.manual_seed(self.config.seed)
        self.kernel = psf_tensor(compressor.teacher.psf, self.device)
        self.start = time.perf_counter()
        self.result: CompressionResult | None = None

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def run(self) -> Iterator[CompressionEvent]:
        c, config = self.c, self.config
        yield CompressionStarted(
            c.preset,
            str(self.device),
            count_parameters(c.teacher.network),
            c.widths_before,
            c.widths_after,
            len(c.train_frames),
            len(c.eval_frames) if c.held_out else 0,
            config.steps,
            None if config.minutes is None else 60 * config.minutes,
        )
        targets = yield from self._teacher_outputs()
        yield CompressionStage("pruning", f"pruning to widths {c.widths_after}", self.TEACHER_SHARE)
        student = prune_unet(c.teacher.network, c.widths_after).to(self.device)
        steps, loss = yield from self._fine_tune(student, targets)
        yield from self._finish(student.cpu().eval(), targets, steps, loss)

    # -- stage 1: what the original makes of the images -----------------------------------------
    def _predict(self, model: DecoNoisingModel, frame: np.ndarray) -> PredictionResult:
        self.c._check()
        predictor = self.c._predictor = Predictor(model, self.prediction_config)
        try:
            return predictor.predict(frame)
        finally:
            self.c._predictor = None

    def _teacher_outputs(self) -> Iterator[CompressionEvent]:
        """Predict every frame once; returns dict id(frame) -> PredictionResult."""
        c = self.c
        frames = _unique(c.train_frames + c.eval_frames)
        targets: dict[int, PredictionResult] = {}
        started = time.perf_counter()
        for index, frame in enumerate(frames):
            yield CompressionStage(
                "teacher",
                f"original model on frame {index + 1}/{len(frames)}",
                self.TEACHER_SHARE * index / len(frames),
            )
            targets[id(frame)] = self._predict(c.teacher, frame)
        pixels = sum(f.size for f in frames)
        self.teacher_s_per_pixel = (time.perf_counter() - started) / pixels
        return targets

    # -- stage 3: distillation ------------------------------------------------------------------
    def _reserve(self) -> float:
        """Estimated seconds for the report's measurements after fine-tuning, with a margin.

        The evaluation runs the student on the evaluation frames and the timing runs both models
        ``1 + timing_repeats`` times on one frame; the student is taken to cost at most as much as
        the teacher, whose speed was measured on the teacher stage.
        """
        config = self.config
        teacher_frame = self.teacher_s_per_pixel * config.timing_size**2
        evaluation = self.teacher_s_per_pixel * sum(f.size for f in self.c.eval_frames)
        return 1.25 * (evaluation + 2 * teacher_frame * (1 + config.timing_repeats) + 3.0)

    def _tune_deadline(self) -> float:
        """Seconds since start by which fine-tuning must end to keep the whole run in budget."""
        if self.config.minutes is None:
            return math.inf
        return 60 * self.config.minutes - self._reserve()

    def _fine_tune(self, student: UNet, targets) -> Iterator[CompressionEvent]:
        """Distil the teacher's outputs into ``student``; returns (steps, last loss)."""
        config = self.config
        data = _PatchSampler(self, targets)
        optimiser = torch.optim.Adam(student.parameters(), lr=config.learning_rate)
        deadline, tune_start, reserve = self._tune_deadline(), self.elapsed(), self._reserve()
        budget = max(deadline - tune_start, 1e-3)
        student.train()
        step, loss, progress = 0, math.nan, 0.0
        while step < config.steps and (progress < 1.0 or step < 10):
            self.c._check()
            lr = _learning_rate(config.learning_rate, progress, step)
            for group in optimiser.param_groups:
                group["lr"] = lr
            loss = self._step(student, optimiser, *data.sample(config.batch_size))
            step += 1
            spent = self.elapsed() - tune_start
            progress = min(1.0, max(step / config.steps, spent / budget))
            eta = spent * (1 - progress) / max(progress, 1e-9) + reserve
            share = self.TEACHER_SHARE + self.TUNE_SHARE * progress
            yield CompressionStep(step, config.steps, loss, lr, self.elapsed(), eta, share)
        return step, loss

    def _step(self, student: UNet, optimiser, inputs: torch.Tensor, target: torch.Tensor) -> float:
        margin = inputs.shape[-1] // 8
        inner = (..., slice(margin, -margin), slice(margin, -margin))
        with autocast(self.device):
            output = student(inputs)
        deconvolved = output.float() * self.c.teacher.output_scale
        loss = F.mse_loss(deconvolved[inner], target[inner])
        if self.kernel is not None:
            denoised = convolve(deconvolved, self.kernel)
            target_denoised = convolve(target, self.kernel)
            loss = loss + F.mse_loss(denoised[inner], target_denoised[inner])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        return float(loss.detach())

    # -- stage 4: report and file ---------------------------------------------------------------
    def _finish(
        self, network: UNet, targets, steps: int, loss: float
    ) -> Iterator[CompressionEvent]:
        c, config = self.c, self.config
        share = self.TEACHER_SHARE + self.TUNE_SHARE
        yield CompressionStage("measuring", "measuring fidelity", share)
        storage = self._round_weights(network)
        fingerprint = weights_fingerprint(c.teacher.network)
        model = DecoNoisingModel(
            network=network,
            psf=c.teacher.psf,
            normalisation=c.teacher.normalisation,
            output_scale=c.teacher.output_scale,
            training_config=copy.deepcopy(c.teacher.training_config),
            metadata={},
        )
        fidelity = self._fidelity(model, targets)
        yield CompressionStage("measuring", "timing both models", share + 0.05)
        timing = ms_per_frame(
            [c.teacher, model],
            timing_frame(c.eval_frames, config.timing_size),
            config.timing_repeats,
            self.prediction_config,
            c._check,
        )
        report = CompressionReport(
            preset=c.preset,
            params_before=count_parameters(c.teacher.network),
            params_after=count_parameters(network),
            bytes_before=model_file_size(c.teacher),
            bytes_after=0,
            ms_per_frame_before=round(timing[0][0], 1),
            ms_per_frame_after=round(timing[1][0], 1),
            psnr_denoised_vs_original=round(fidelity[0], 2),
            psnr_deconvolved_vs_original=round(fidelity[1], 2),
            frame_size=config.timing_size,
            widths_before=c.widths_before,
            widths_after=list(network.widths),
            method=METHOD,
            storage=storage,
            compute_precision=_compute_precision(self.device),
            device=str(self.device),
            threads=torch.get_num_threads(),
            fine_tune_steps=steps,
            final_loss=float(loss),
            evaluated_on=_evaluated_on(len(c.eval_frames), c.held_out),
            seconds=0.0,
            load_average=_load_average(),
        )
        report = self._with_metadata(model, report, fingerprint, timing)
        c._check()
        path = save_model(model, c.out_path, storage) if c.out_path is not None else None
        self.result = CompressionResult(model, report, path)
        yield CompressionFinished(report, None if path is None else str(path))

    def _round_weights(self, network: UNet) -> str:
        """Round the weights through float16 if that keeps the outputs; returns the storage."""
        if self.config.storage == "float32":
            return "float32"
        probe = torch.from_numpy(
            self.c.teacher.normalisation.normalise(timing_frame(self.c.eval_frames, 128))
        )[None, None].float()
        with torch.inference_mode():
            before = network(probe)
        state = copy.deepcopy(network.state_dict())
        with torch.no_grad():
            for parameter in network.parameters():
                parameter.copy_(parameter.half().float())
            after = network(probe)
        spread = max(float(before.max() - before.min()), 1e-6)
        close = float((after - before).pow(2).mean().sqrt()) / spread <= FLOAT16_MAX_ERROR
        if close and all(bool(torch.isfinite(p).all()) for p in network.parameters()):
            return "float16"
        network.load_state_dict(state)
        return "float32"

    def _fidelity(self, model: DecoNoisingModel, targets) -> tuple[float, float]:
        """Mean PSNR of (denoised, deconvolved) against the original's, over evaluation frames."""
        denoised, deconvolved = [], []
        for frame in self.c.eval_frames:
            reference, result = targets[id(frame)], self._predict(model, frame)
            with np.errstate(divide="ignore", invalid="ignore"):  # a flat reference gives -inf
                denoised.append(psnr(reference.denoised, result.denoised))
                deconvolved.append(psnr(reference.deconvolved, result.deconvolved))
        return float(np.mean(denoised)), float(np.mean(deconvolved))

    def _with_metadata(
        self, model: DecoNoisingModel, report: CompressionReport, fingerprint: str, timing
    ) -> CompressionReport:
        """Fill in provenance and the final file size (which depends on the metadata itself)."""
        c = self.c
        skip = ("compression", "package_version")
        base = {k: v for k, v in c.teacher.metadata.items() if k not in skip}
        for _ in range(3):
            report = replace(report, seconds=round(self.elapsed(), 1))
            model.metadata = {
                **base,
                "created": timestamp(),
                "compressed_from": _source_name(c.teacher, c.source_path, fingerprint),
                "compression": {
                    "preset": c.preset,
                    "method": METHOD,
                    "storage": report.storage,
                    "original_sha256": fingerprint,
                    "original_widths": c.widths_before,
                    "config": self.config.to_dict(),
                    "report": report.to_dict(),
                    "ms_per_frame_median": [round(t[1], 1) for t in timing],
                },
            }
            size = model_file_size(model, report.storage)
            if size == report.bytes_after:
                break
            report = replace(report, bytes_after=size)
        return report


class _PatchSampler:
    """Random (input, teacher deconvolved) patch pairs in network units, on the device."""

    def __init__(self, session: _Session, targets: dict[int, PredictionResult]):
        config, teacher = session.config, session.c.teacher
        norm = teacher.normalisation
        multiple = teacher.network.size_multiple
        frames = session.c.train_frames
        smallest = min(min(f.shape) for f in frames)
        self.patch = min(config.patch_size, smallest) // multiple * multiple
        self.generator = session.generator
        self.augment = config.augment
        self.pairs = [
            torch.stack(
                [
                    torch.from_numpy(norm.normalise(f).astype(np.float32)),
                    torch.from_numpy(norm.normalise(targets[id(f)].deconvolved).astype(np.float32)),
                ]
            ).to(session.device)
            for f in frames
        ]
        positions = [(f.shape[0] - self.patch + 1) * (f.shape[1] - self.patch + 1) for f in frames]
        self.weights = torch.tensor(positions, dtype=torch.float64)

    def sample(self, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets), each (count, 1, P, P), with the same rotations and flips."""
        g, p = self.generator, self.patch
        choice = torch.multinomial(self.weights, count, replacement=True, generator=g).tolist()
        pieces = []
        for index in choice:
            pair = self.pairs[index]
            top = int(torch.randint(0, pair.shape[1] - p + 1, (1,), generator=g))
            left = int(torch.randint(0, pair.shape[2] - p + 1, (1,), generator=g))
            piece = pair[:, top : top + p, left : left + p]
            if self.augment:
                turns, flip = torch.randint(0, 4, (2,), generator=g).tolist()
                piece = torch.rot90(piece, turns, (1, 2))
                piece = piece.flip(2) if flip % 2 else piece
            pieces.append(piece)
        batch = torch.stack(pieces)
        return batch[:, :1].contiguous(), batch[:, 1:].contiguous()


def _learning_rate(base: float, progress: float, step: int) -> float:
    """Short linear warm-up, then cosine decay to 5% over the fine-tuning budget."""
    warmup = min(1.0, (step + 1) / 10)
    return base * warmup * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def _unique(frames: list[np.ndarray]) -> list[np.ndarray]:
    seen: dict[int, np.ndarray] = {}
    for frame in frames:
        seen.setdefault(id(frame), frame)
    return list(seen.values())


def _compute_precision(device: torch.device) -> str:
    if device.type == "cuda":
        return "bfloat16/float16 autocast (GPU)"
    return "float32 (CPU)"


def _evaluated_on(count: int, held_out: bool) -> str:
    frames = f"{count} frame{'s' if count != 1 else ''}"
    return f"{frames} held out from fine-tuning" if held_out else f"the {frames} fine-tuned on"


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


# -- convenience ---------------------------------------------------------------------------------
def compress(
    model: DecoNoisingModel | str | Path,
    images: np.ndarray | Sequence[np.ndarray],
    preset: str = "balanced",
    config: CompressionConfig | None = None,
    out_path: str | Path | None = None,
    on_event: Callable[[CompressionEvent], None] | None = None,
) -> CompressionResult:
    """Compress ``model`` by fine-tuning on ``images``; save to ``out_path`` if given.

    ``config`` overrides the preset's settings entirely (start from :func:`preset_config` and
    :meth:`CompressionConfig.replace` to change a few). ``on_event`` receives every progress event.
    """
    compressor = Compressor(model, images, preset, config, out_path)
    for event in compressor.run():
        if on_event is not None:
            on_event(event)
    return compressor.result


__all__ = [
    "PRESETS",
    "PRESET_DESCRIPTIONS",
    "CompressionConfig",
    "CompressionEvent",
    "CompressionFinished",
    "CompressionReport",
    "CompressionResult",
    "CompressionStage",
    "CompressionStarted",
    "CompressionStep",
    "Compressor",
    "compress",
    "model_file_size",
    "ms_per_frame",
    "plan_widths",
    "preset_config",
    "prune_unet",
    "save_model",
]
