"""What a compression run tells its caller: progress events and the final report."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from napari_deconoising.model.bundle import DecoNoisingModel

METHOD = "structured L1 channel pruning (torch-pruning) + distillation from the original"


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
    cpu_kernels: str | None = None

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
            f"Time per {self.frame_size}x{self.frame_size} frame ({self._machine()}): "
            f"{self.ms_per_frame_before:.0f} ms -> "
            f"{self.ms_per_frame_after:.0f} ms ({self.speedup:.1f}x faster)",
            f"Fidelity vs the original ({self.evaluated_on}): denoised "
            f"{self.psnr_denoised_vs_original:.1f} dB, deconvolved "
            f"{self.psnr_deconvolved_vs_original:.1f} dB PSNR",
            f"Compressed in {self.seconds:.0f} s ({self.fine_tune_steps} fine-tuning steps)",
        ]

    def _machine(self) -> str:
        """``cpu, AVX2 kernels, float32, 2 threads``: what the times were measured on (speed-ups
        differ between CPU classes and precisions)."""
        kernels = f"{self.cpu_kernels} kernels, " if self.cpu_kernels else ""
        arithmetic = self.compute_precision.split(" (")[0]  # without the device
        return f"{self.device}, {kernels}{arithmetic}, {self.threads} threads"


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


def evaluated_on(count: int, held_out: bool) -> str:
    """What the fidelity figures were measured on, for the report."""
    frames = f"{count} frame{'s' if count != 1 else ''}"
    return f"{frames} held out from fine-tuning" if held_out else f"the {frames} fine-tuned on"
