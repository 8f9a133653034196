"""One training run over every channel: the budgeted step loop, validation, checkpoints.

:class:`TrainingRun` steps every channel's :class:`ChannelSession` once per step until the budget
is spent or a stop is asked, validates every ``validation_interval`` steps (and once at the end),
saves the best networks whenever validation improves and the last ones when the run ends.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from napari_deconoising.config.training import TrainingConfig
from napari_deconoising.data.noise import NoiseReport
from napari_deconoising.io.axes import AxesImage
from napari_deconoising.job_control import CancelToken
from napari_deconoising.model.bundle import AnyModel, ChannelModels, timestamp
from napari_deconoising.model.devices import mixed_precision, resolve_device
from napari_deconoising.model.unet import count_parameters
from napari_deconoising.training.budget import BudgetedSteps
from napari_deconoising.training.channel_session import ChannelSession
from napari_deconoising.training.events import (
    CheckpointSaved,
    TrainingEvent,
    TrainingFinished,
    TrainingStarted,
    TrainingStep,
    ValidationResult,
)
from napari_deconoising.training.inputs import last_checkpoint_path, steps_done

#: The learning rate warms up linearly over this many steps.
WARMUP_STEPS = 20

#: Per spatial dims, what DecoNoising on a CPU should know. On volumes it learns to denoise far
#: more slowly than plane by plane (measured on the widefield sample, 10 minutes on 2 cores:
#: 35.4 against 37.2 dB denoised, 32.8 against 32.1 dB deconvolved; 3D N2V 38.5 dB).
CPU_DECONOISING_NOTES: dict[int, tuple[str, ...]] = {
    2: (),
    3: (
        "the joint 3D design learns a widefield PSF slowly on a CPU: the two-stage design "
        "(the 3D default: a denoiser, then Richardson-Lucy) denoises and deconvolves better "
        "in the same minutes",
    ),
}


#: Said when a CPU without native bfloat16 (AVX2 and older: most laptops) trains in float32.
FLOAT32_CPU_NOTE = (
    "this CPU has no native bfloat16, so the network computes in float32: a CPU with "
    "AVX512-BF16 or AMX takes about twice the steps per minute; a longer budget makes up for it"
)


class RunInputs(Protocol):
    """What a :class:`TrainingRun` reads of its :class:`~napari_deconoising.training.Trainer`."""

    config: TrainingConfig
    init: AnyModel | None
    images: list[AxesImage]
    channel_frames: list[list[Any]]
    psfs: list[np.ndarray | None]
    pooling: list[tuple[int, ...]]
    notes: list[str]
    noise: list[NoiseReport]
    noise_notes: list[str]
    mode: str
    spatial_dims: int
    model_path: Path | None
    n_channels: int
    pixel_size_um: float | None
    voxel_metadata: dict[str, Any]


class TrainingRun:
    """One training run of ``trainer``'s channels; ``stop`` ends it at the next batch boundary."""

    def __init__(self, trainer: RunInputs, stop: CancelToken):
        self.trainer, self.stop = trainer, stop
        config = self.config = trainer.config
        self.device = resolve_device(config.device)
        inits = [None] * trainer.n_channels if trainer.init is None else trainer.init.channels
        # Every channel draws from a generator seeded alike: a channel's model is exactly the one
        # a training on that channel alone would give (and does not depend on its index).
        seed = config.seed if config.seed is not None else time.time_ns() % 2**31
        channels = zip(trainer.channel_frames, trainer.psfs, inits, trainer.noise, strict=True)
        self.sessions = [
            ChannelSession(frames, psf, config, self.device, seed, init, trainer.pooling, noise)
            for frames, psf, init, noise in channels
        ]
        #: Steps the continued model had already trained: the step count goes on from there.
        self.first_step = 0 if trainer.init is None else steps_done(trainer.init)
        self.steps = 0

    def budget(self) -> BudgetedSteps:
        """The loop's clock: ``minutes`` of wall time when set, else ``steps`` steps."""
        config = self.config
        if config.minutes is not None:
            return BudgetedSteps(config.learning_rate, WARMUP_STEPS, seconds=config.minutes * 60)
        return BudgetedSteps(config.learning_rate, WARMUP_STEPS, steps=config.steps)

    def started(self) -> TrainingStarted:
        """The event that opens the run."""
        first, config = self.sessions[0], self.config
        return TrainingStarted(
            None if config.minutes is not None else self.first_step + config.steps,
            config.minutes,
            str(self.device),
            sum(count_parameters(s.network) for s in self.sessions),
            len(first.train_frames),
            len(first.validation_frames),
            first.validation,
            not first.validation_frames,
            len(self.sessions),
            self.first_step,
            self.trainer.mode,
            tuple(self.trainer.notes) + self._precision_note() + self._cpu_note(),
        )

    def _cpu_note(self) -> tuple[str, ...]:
        """A hint when DecoNoising trains on a CPU where another mode would serve better (see
        :data:`CPU_DECONOISING_NOTES`)."""
        if self.device.type != "cpu" or self.config.n2v or self.config.design != "joint":
            return ()
        return CPU_DECONOISING_NOTES[self.trainer.spatial_dims]

    def _precision_note(self) -> tuple[str, ...]:
        """A note on the CPU's arithmetic: bfloat16 (it changes the speed and, slightly, the
        numbers; on GPUs mixed precision is the norm), or float32 where ``auto`` found no native
        bfloat16 (such a CPU takes about half the steps per minute)."""
        if self.device.type != "cpu":
            return ()
        dtype = mixed_precision(self.device, self.config.precision)
        if dtype is not None:
            return (
                f"the network computes in {dtype} (mixed precision): this CPU does it natively, "
                "about twice as fast as float32; precision float32 turns it off",
            )
        if self.config.precision == "auto":
            return (FLOAT32_CPU_NOTE,)
        return ()

    def events(self) -> Iterator[TrainingEvent]:
        """Train, yielding events; the last one is :class:`TrainingFinished`."""
        config, first = self.config, self.sessions[0]
        started = self.started()
        yield started
        clock = self.budget()
        train_loss, validation_loss = math.nan, None
        while clock.running() and not self.stop.requested:
            lr = clock.learning_rate()
            train_loss = float(np.mean([s.train_step(lr) for s in self.sessions]))
            clock.advance()
            step = self.steps = clock.step
            epoch = step * config.batch_size * first.patch_pixels // first.pixels
            shown = self.first_step + step
            yield TrainingStep(
                shown,
                started.total_steps,
                epoch,
                train_loss,
                lr,
                clock.elapsed,
                clock.eta,
                clock.shown_progress,
            )
            if step % config.validation_interval == 0:
                validation_loss = yield from self._validate(shown)
        step = clock.step
        if step % config.validation_interval != 0 and step > 0:
            validation_loss = yield from self._validate(self.first_step + step)
        yield from self._save_last(step)
        yield TrainingFinished(
            self.first_step + step,
            time.perf_counter() - clock.start,
            train_loss,
            validation_loss,
            self._best_loss(),
            self.stop.requested,
            str(self.trainer.model_path) if self.trainer.model_path else None,
        )

    def _best_loss(self) -> float | None:
        losses = [s.best_loss for s in self.sessions]
        return None if any(math.isinf(x) for x in losses) else float(np.mean(losses))

    def _validate(self, step: int) -> Iterator[TrainingEvent]:
        results = [s.validate() for s in self.sessions]
        loss = float(np.mean([r[0] for r in results]))
        improved = any(r[1] for r in results)
        best = self._best_loss()
        yield ValidationResult(step, loss, loss if best is None else best, improved)
        path = self.trainer.model_path
        if improved and path is not None:
            yield CheckpointSaved(step, str(self.best_model().save(path, overwrite=True)), "best")
        return loss

    def _save_last(self, step: int) -> Iterator[TrainingEvent]:
        path = self.trainer.model_path
        if path is None or step == 0:
            return
        last = self.current_model()
        shown = self.first_step + step
        yield CheckpointSaved(
            shown, str(last.save(last_checkpoint_path(path), overwrite=True)), "last"
        )
        if any(s.best_state is None for s in self.sessions):
            yield CheckpointSaved(shown, str(self.best_model().save(path, overwrite=True)), "best")

    def _model(self, states: list[dict[str, torch.Tensor]]) -> AnyModel:
        trainer = self.trainer
        metadata = {
            "created": timestamp(),
            "steps": self.first_step + self.steps,
            "axes": trainer.images[0].axes,
            "pixel_size_um": trainer.pixel_size_um,
            **trainer.voxel_metadata,
            "noise_notes": list(trainer.noise_notes),
        }
        models = [
            session.model(state, {**metadata, "channel": index} if len(states) > 1 else metadata)
            for index, (session, state) in enumerate(zip(self.sessions, states, strict=True))
        ]
        return models[0] if len(models) == 1 else ChannelModels(models)

    def current_model(self) -> AnyModel:
        """Every channel's current weights (copied)."""
        return self._model([s.network.state_dict() for s in self.sessions])

    def best_model(self) -> AnyModel:
        """Every channel's best weights (or current ones where no validation ran yet)."""
        return self._model([s.best_or_current_state() for s in self.sessions])
