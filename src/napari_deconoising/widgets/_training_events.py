"""What the Train widget says about a training run: its start, its steps and its end."""

from __future__ import annotations

from pathlib import Path

from napari_deconoising.training.events import TrainingFinished, TrainingStarted, TrainingStep
from napari_deconoising.widgets._qt import clock


def step_text(event: TrainingStep) -> str:
    """The progress bar's text for a step, e.g. ``"step 12/500 · loss 0.0123"``."""
    total = f"/{event.total_steps}" if event.total_steps else ""
    return f"step {event.step}{total} · loss {event.train_loss:.3g}"


def started_text(event: TrainingStarted) -> str:
    """What is trained on what, e.g. ``"Training on cpu: 12,345 parameters, 90 training and 10
    validation frames"`` (networks per channel, the step a continued training goes on from,
    and the engine's notes added)."""
    several = event.channels > 1
    networks = f"{event.channels} networks (one per channel), " if several else ""
    per_channel = " per channel" if several else ""
    going_on = f", continuing from step {event.first_step}" if event.first_step else ""
    return (
        f"Training on {event.device}: {networks}{event.parameters:,} parameters, "
        f"{event.train_frames} training and {event.validation_frames} validation "
        f"frames{per_channel}{going_on}" + "".join(f"; {note}" for note in event.notes)
    )


def notes_text(notes: tuple[str, ...]) -> str:
    """The run's notes, one per line (what the noise measurement found, the blind spot...)."""
    return "\n".join(f"• {note}" for note in notes)


def finished_text(finished: TrainingFinished | None, model_name: str) -> str:
    """The status line once training has ended: how it ended, where the model was saved and
    under which name the Denoise & Deconvolve widget offers it."""
    how = "stopped" if finished and finished.stopped else "done"
    summary = f"Training {how}"
    if finished is not None:
        summary += f": {finished.steps} steps in {clock(finished.seconds)}"
        if finished.best_validation_loss is not None:
            summary += f", best validation loss {finished.best_validation_loss:.4g}"
    path = finished.model_path if finished else None
    where = f"; saved to {path}" if path else ""
    return f"{summary}{where}. Ready in Denoise & Deconvolve as '{model_name}'."


def registry_name(finished: TrainingFinished | None, fallback: str) -> str:
    """The name of the trained model in the shared registry: ``"trained: <file stem>"``, or
    ``"trained: <fallback>"`` (the layer's name) for a model kept in memory only."""
    path = finished.model_path if finished else None
    return f"trained: {Path(path).stem if path else fallback}"
