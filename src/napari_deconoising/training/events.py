"""The events a training run yields: what the CLI and the widgets show while it trains."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrainingStarted:
    """Sent once, before the first step. Frame counts are per channel; ``parameters`` counts
    the networks of all channels. ``first_step`` is the step count a continued model had
    reached: steps are numbered on from it, and ``total_steps`` includes it.

    ``validation`` says what the validation loss is measured on; ``validation_shares_data`` is
    True when no data could be held out and validation uses (other) patches of the training data.
    ``mode`` is ``"2d"`` (plane by plane) or ``"3d"``; ``notes`` are facts worth showing (e.g. a
    Z patch clipped to the stacks' planes). In 3D, frame counts count volumes.
    """

    total_steps: int | None
    minutes: float | None
    device: str
    parameters: int
    train_frames: int
    validation_frames: int
    validation: str = ""
    validation_shares_data: bool = False
    channels: int = 1
    first_step: int = 0
    mode: str = "2d"
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrainingStep:
    """Sent after every optimiser step (of every channel). ``progress`` runs from 0 to 1 over
    the budget; ``train_loss`` is the mean over channels."""

    step: int
    total_steps: int | None
    epoch: int
    train_loss: float
    learning_rate: float
    elapsed_s: float
    eta_s: float
    progress: float


@dataclass(frozen=True)
class ValidationResult:
    """Sent every ``validation_interval`` steps and at the end. With several channels, the losses
    are means over channels and ``is_best`` says that at least one channel improved."""

    step: int
    validation_loss: float
    best_validation_loss: float
    is_best: bool


@dataclass(frozen=True)
class CheckpointSaved:
    """A model file was written: ``kind`` is ``best`` or ``last``."""

    step: int
    path: str
    kind: str


@dataclass(frozen=True)
class TrainingFinished:
    """Sent last. ``stopped`` is True when :meth:`Trainer.stop` ended the run early."""

    steps: int
    seconds: float
    train_loss: float
    validation_loss: float | None
    best_validation_loss: float | None
    stopped: bool
    model_path: str | None


TrainingEvent = (
    TrainingStarted | TrainingStep | ValidationResult | CheckpointSaved | TrainingFinished
)
