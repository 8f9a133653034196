"""Training DecoNoising (or plain Noise2Void) networks on the noisy images themselves.

:class:`Trainer` takes images, a PSF and a :class:`~napari_deconoising.config.TrainingConfig`,
and :meth:`Trainer.run` yields small event objects while it trains; :meth:`Trainer.stop` ends the
run at the next batch boundary. The CLI and the napari widgets consume the same events.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .bundle import DecoNoisingModel, Normalisation, timestamp
from .config import TrainingConfig
from .convolution import psf_tensor
from .devices import autocast, network_input, place_network, resolve_device
from .errors import ImageError, PSFError
from .images import collect_frames, estimate_offset
from .losses import deconoising_loss
from .masking import blind_spot_mask
from .psf import prepare_psf
from .sampling import (
    PatchSampler,
    initialise_network,
    run_generator,
    set_learning_rate,
    warmup_cosine,
)
from .unet import count_parameters, empty_unet

N_VALIDATION_PATCHES = 32


@dataclass(frozen=True)
class TrainingStarted:
    """Sent once, before the first step.

    ``validation`` says what the validation loss is measured on; ``validation_shares_data`` is
    True when no data could be held out and validation uses (other) patches of the training data.
    """

    total_steps: int | None
    minutes: float | None
    device: str
    parameters: int
    train_frames: int
    validation_frames: int
    validation: str = ""
    validation_shares_data: bool = False


@dataclass(frozen=True)
class TrainingStep:
    """Sent after every optimiser step. ``progress`` runs from 0 to 1 over the budget."""

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
    """Sent every ``validation_interval`` steps and at the end."""

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


def last_checkpoint_path(model_path: str | Path) -> Path:
    """Where the last (not best) network of a run saved at ``model_path`` is written."""
    path = Path(model_path)
    return path.with_name(f"{path.stem}.last{path.suffix or '.pt'}")


class Trainer:
    """Self-supervised DecoNoising training.

    ``images`` is one array or a list of arrays, each 2D (Y, X) or a stack (N, Y, X), in camera
    units (any dtype, any offset). ``psf`` is ignored (and may be None) when ``config.n2v``.
    If ``model_path`` is given, the best network is saved there whenever validation improves and
    the last one beside it (see :func:`last_checkpoint_path`) when the run ends.
    """

    def __init__(
        self,
        images: np.ndarray | Sequence[np.ndarray],
        psf: np.ndarray | None = None,
        config: TrainingConfig | None = None,
        model_path: str | Path | None = None,
    ):
        self.config = config or TrainingConfig()
        self.model_path = Path(model_path) if model_path is not None else None
        self.frames = collect_frames(images)
        self.psf = None if self.config.n2v else self._checked_psf(psf)
        self._check_sizes()
        self._stop_requested = threading.Event()
        self._model: DecoNoisingModel | None = None

    def stop(self) -> None:
        """Ask the run to end at the next batch boundary; checkpoints are kept."""
        self._stop_requested.set()

    @property
    def model(self) -> DecoNoisingModel:
        """The best network found (available once :meth:`run` has finished)."""
        if self._model is None:
            raise RuntimeError("the trainer has not run yet")
        return self._model

    def _checked_psf(self, psf: np.ndarray | None) -> np.ndarray:
        if psf is None:
            raise PSFError("DecoNoising needs a PSF; give one, or train in N2V mode")
        return prepare_psf(psf)

    def _check_sizes(self) -> None:
        patch = self.config.patch_size
        smallest = min(min(f.shape) for f in self.frames)
        if smallest < patch:
            raise ImageError(
                f"the image ({smallest} px on its short side) is smaller than the training patch "
                f"({patch} px); use a smaller patch size"
            )
        if self.psf is not None and self.psf.shape[0] > patch:
            raise PSFError(
                f"the PSF ({self.psf.shape[0]} px) is larger than the training patch ({patch} px); "
                "use a larger patch size"
            )

    def run(self) -> Iterator[TrainingEvent]:
        """Train, yielding events; the last one is :class:`TrainingFinished`."""
        session = _Session(self)
        yield from session.run()
        self._model = session.best_model()


def train(
    images: np.ndarray | Sequence[np.ndarray],
    psf: np.ndarray | None = None,
    config: TrainingConfig | None = None,
    model_path: str | Path | None = None,
    on_event: Callable[[TrainingEvent], None] | None = None,
) -> DecoNoisingModel:
    """Train and return the best model; ``on_event`` receives every progress event."""
    trainer = Trainer(images, psf, config, model_path)
    for event in trainer.run():
        if on_event is not None:
            on_event(event)
    return trainer.model


def _mean_and_std(frames: list[np.ndarray]) -> tuple[float, float]:
    """Mean and standard deviation over all pixels, without concatenating the frames."""
    count = sum(f.size for f in frames)
    mean = sum(float(f.sum(dtype=np.float64)) for f in frames) / count
    variance = sum(float(((f - mean) ** 2).sum(dtype=np.float64)) for f in frames) / count
    return mean, variance**0.5


class _Session:
    """One training run: data, network, optimiser, loop."""

    def __init__(self, trainer: Trainer):
        self.trainer = trainer
        config = self.config = trainer.config
        self.device = resolve_device(config.device)
        self.generator = run_generator(config.seed)
        frames = trainer.frames
        mean, std = _mean_and_std(frames)
        self.normalisation = Normalisation(mean, max(std, 1e-6), estimate_offset(frames))
        train_frames, validation_frames, self.validation = self._split(frames)
        # Frames stay in host memory; only each batch of patches travels to the device.
        self.train_frames = [self._normalised(f) for f in train_frames]
        self.validation_frames = [self._normalised(f) for f in validation_frames]
        self.sampler = PatchSampler(
            self.train_frames, config.patch_size, self.generator, config.augment, self.device
        )
        self.pixels = sum(f.numel() for f in self.train_frames)
        network = initialise_network(empty_unet(config.network), self.generator)
        self.network = place_network(network, self.device)
        self.kernel = psf_tensor(trainer.psf, self.device)
        self.optimiser = torch.optim.Adam(self.network.parameters(), lr=config.learning_rate)
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_loss = math.inf
        self.steps = 0

    # -- data ---------------------------------------------------------------------------------
    def _normalised(self, frame: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(self.normalisation.normalise(frame).astype(np.float32))

    def _split(self, frames: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray], str]:
        """(training frames, validation frames, what validation uses).

        Whole frames are held out when there are enough, else a strip at the bottom of each
        frame; when neither is possible the validation list is empty and validation samples its
        own patches of the training data.
        """
        fraction, patch = self.config.validation_fraction, self.config.patch_size
        if fraction == 0:
            return frames, [], "training data (validation share 0)"
        n_validation = round(fraction * len(frames))
        if n_validation >= 1 and len(frames) - n_validation >= 1:
            order = torch.randperm(len(frames), generator=self.generator).tolist()
            held = set(order[:n_validation])
            train = [f for i, f in enumerate(frames) if i not in held]
            validation = [f for i, f in enumerate(frames) if i in held]
            return train, validation, f"{len(validation)} held-out frame(s)"
        train, validation = [], []
        for frame in frames:
            strip = max(patch, round(fraction * frame.shape[0]))
            if frame.shape[0] - strip >= patch:
                train.append(frame[:-strip])
                validation.append(frame[-strip:])
            else:
                train.append(frame)
        if not validation:
            return train, [], "training data (too small to hold out a strip of one patch)"
        return train, validation, f"a held-out bottom strip of {len(validation)} frame(s)"

    # -- loss -----------------------------------------------------------------------------------
    def loss(self, patches: torch.Tensor, manipulated: torch.Tensor, mask: torch.Tensor):
        config = self.config
        with autocast(self.device):
            output = self.network(network_input(manipulated))
        deconvolved = output.float() * config.output_scale
        return deconoising_loss(
            deconvolved,
            patches,
            mask,
            self.kernel,
            zero_level=self.normalisation.zero_level,
            positivity_weight=0.0 if config.n2v else config.positivity_weight,
            tv_weight=config.tv_weight,
        )

    def _validation_set(self) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """A fixed set of masked validation patches, drawn with a generator of its own (so the
        training stream never repeats them)."""
        generator = torch.Generator().manual_seed(
            int(torch.randint(0, 2**31 - 1, (1,), generator=self.generator))
        )
        config = self.config
        sampler = PatchSampler(
            self.validation_frames or self.train_frames,
            config.patch_size,
            generator,
            config.augment,
            self.device,
        )
        batches = []
        for start in range(0, N_VALIDATION_PATCHES, config.batch_size):
            patches = sampler.sample(min(config.batch_size, N_VALIDATION_PATCHES - start))
            manipulated, mask = blind_spot_mask(
                patches, config.mask_fraction, config.neighbourhood, generator
            )
            batches.append((patches, manipulated, mask))
        return batches

    @torch.no_grad()
    def validate(self, batches) -> float:
        self.network.eval()
        total = sum(float(self.loss(*batch).total) * len(batch[0]) for batch in batches)
        self.network.train()
        return total / sum(len(batch[0]) for batch in batches)

    # -- loop -----------------------------------------------------------------------------------
    def learning_rate(self, progress: float, step: int) -> float:
        """Warm-up over 20 steps, then cosine decay to 5% over the budget."""
        return warmup_cosine(self.config.learning_rate, progress, step, warmup_steps=20)

    def progress(self, step: int, elapsed: float) -> float:
        config = self.config
        if config.minutes is not None:
            return elapsed / (config.minutes * 60)
        return step / config.steps

    def run(self) -> Iterator[TrainingEvent]:
        config, trainer = self.config, self.trainer
        total_steps = None if config.minutes is not None else config.steps
        yield TrainingStarted(
            total_steps,
            config.minutes,
            str(self.device),
            count_parameters(self.network),
            len(self.train_frames),
            len(self.validation_frames),
            self.validation,
            not self.validation_frames,
        )
        validation_batches = self._validation_set()
        start = time.perf_counter()
        step, train_loss, validation_loss, progress = 0, math.nan, None, 0.0
        self.network.train()
        while progress < 1.0 and not trainer._stop_requested.is_set():
            lr = self.learning_rate(progress, step)
            set_learning_rate(self.optimiser, lr)
            train_loss = self.train_step()
            step = self.steps = step + 1
            elapsed = time.perf_counter() - start
            progress = self.progress(step, elapsed)
            eta = elapsed * (1 - min(progress, 1.0)) / max(progress, 1e-9)
            patches_seen = step * config.batch_size * config.patch_size**2
            yield TrainingStep(
                step,
                total_steps,
                patches_seen // self.pixels,
                train_loss,
                lr,
                elapsed,
                eta,
                min(progress, 1.0),
            )
            if step % config.validation_interval == 0:
                validation_loss = self.validate(validation_batches)
                yield from self._after_validation(step, validation_loss)
        if step % config.validation_interval != 0 and step > 0:
            validation_loss = self.validate(validation_batches)
            yield from self._after_validation(step, validation_loss)
        yield from self._save_last(step)
        yield TrainingFinished(
            step,
            time.perf_counter() - start,
            train_loss,
            validation_loss,
            None if math.isinf(self.best_loss) else self.best_loss,
            trainer._stop_requested.is_set(),
            str(trainer.model_path) if trainer.model_path else None,
        )

    def train_step(self) -> float:
        config = self.config
        patches = self.sampler.sample(config.batch_size)
        manipulated, mask = blind_spot_mask(
            patches, config.mask_fraction, config.neighbourhood, self.generator
        )
        terms = self.loss(patches, manipulated, mask)
        self.optimiser.zero_grad(set_to_none=True)
        terms.total.backward()
        self.optimiser.step()
        return float(terms.total.detach())

    def _after_validation(self, step: int, loss: float) -> Iterator[TrainingEvent]:
        is_best = loss < self.best_loss
        if is_best:
            self.best_loss = loss
            self.best_state = copy.deepcopy(self.network.state_dict())
        yield ValidationResult(step, loss, self.best_loss, is_best)
        if is_best and self.trainer.model_path is not None:
            path = self.make_model(self.best_state, step).save(self.trainer.model_path)
            yield CheckpointSaved(step, str(path), "best")

    def _save_last(self, step: int) -> Iterator[TrainingEvent]:
        if self.trainer.model_path is None or step == 0:
            return
        state = self.network.state_dict()
        path = self.make_model(state, step).save(last_checkpoint_path(self.trainer.model_path))
        yield CheckpointSaved(step, str(path), "last")
        if self.best_state is None:
            self.best_state = copy.deepcopy(state)
            path = self.make_model(state, step).save(self.trainer.model_path)
            yield CheckpointSaved(step, str(path), "best")

    def make_model(self, state: dict[str, torch.Tensor], step: int) -> DecoNoisingModel:
        network = empty_unet(self.config.network)
        network.load_state_dict({k: v.detach().cpu() for k, v in state.items()})
        return DecoNoisingModel(
            network=network.eval(),
            psf=self.trainer.psf,
            normalisation=self.normalisation,
            output_scale=self.config.output_scale,
            training_config=self.config.to_dict(),
            metadata={
                "created": timestamp(),
                "steps": step,
                "best_validation_loss": None if math.isinf(self.best_loss) else self.best_loss,
            },
        )

    def best_model(self) -> DecoNoisingModel:
        state = self.best_state if self.best_state is not None else self.network.state_dict()
        return self.make_model(state, self.steps)
