"""Training DecoNoising (or plain Noise2Void) networks on the noisy images themselves.

:class:`Trainer` takes images, a PSF and a :class:`~napari_deconoising.config.TrainingConfig`,
and :meth:`Trainer.run` yields small event objects while it trains; :meth:`Trainer.stop` ends the
run at the next batch boundary. The CLI and the napari widgets consume the same events.

Images carry axes (``STCZYX``). Each channel gets its own normalisation, camera offset, PSF and
network (:class:`_ChannelSession`); one loop steps every channel's network once per step, so a
time budget, a stop and the checkpoints cover all channels alike.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .bundle import ChannelModels, DecoNoisingModel, Normalisation, timestamp
from .channels import as_axes_image, channel_frames
from .config import TrainingConfig
from .convolution import psf_tensor
from .devices import autocast, network_input, place_network, resolve_device
from .errors import ImageError, PSFError
from .images import estimate_offset
from .io.axes import AxesImage
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
from .training_events import (
    CheckpointSaved,
    TrainingEvent,
    TrainingFinished,
    TrainingStarted,
    TrainingStep,
    ValidationResult,
)
from .unet import count_parameters, empty_unet

__all__ = [
    "CheckpointSaved",
    "Trainer",
    "TrainingEvent",
    "TrainingFinished",
    "TrainingStarted",
    "TrainingStep",
    "ValidationResult",
    "last_checkpoint_path",
    "train",
]

N_VALIDATION_PATCHES = 32

Images = np.ndarray | AxesImage | Sequence[np.ndarray | AxesImage]
PSFs = np.ndarray | Sequence[np.ndarray] | None


def last_checkpoint_path(model_path: str | Path) -> Path:
    """Where the last (not best) network of a run saved at ``model_path`` is written."""
    path = Path(model_path)
    return path.with_name(f"{path.stem}.last{path.suffix or '.pt'}")


class Trainer:
    """Self-supervised DecoNoising training.

    ``images`` is one image or a list of images in camera units (any dtype, any offset): numpy
    arrays (2D ``YX`` or a stack of frames ``SYX``, or any layout named by ``axes``) or
    :class:`~napari_deconoising.io.AxesImage`. All images need the same number of channels.
    ``psf`` is one PSF for every channel or a list with one PSF per channel; it is ignored (and
    may be None) when ``config.n2v``. If ``model_path`` is given, the best networks are saved
    there whenever validation improves and the last ones beside it (see
    :func:`last_checkpoint_path`) when the run ends.

    ``init`` continues the training of a model (or model file): its architecture, normalisation,
    output scale, mode and (unless ``psf`` is given) PSFs are kept, its weights are the starting
    point, and the step count goes on from the model's; ``config`` gives the new budget and
    optimiser settings.
    """

    def __init__(
        self,
        images: Images,
        psf: PSFs = None,
        config: TrainingConfig | None = None,
        model_path: str | Path | None = None,
        axes: str | None = None,
        init: DecoNoisingModel | ChannelModels | str | Path | None = None,
    ):
        self.init = _initial_model(init)
        self.config = _continued_config(config or TrainingConfig(), self.init)
        self.model_path = Path(model_path) if model_path is not None else None
        self.images = _axes_images(images, axes)
        self.channel_frames = _frames_per_channel(self.images)
        if self.init is not None:
            _check_continuation(self.init, len(self.channel_frames))
            psf = psf if psf is not None or self.config.n2v else [m.psf for m in self.init.channels]
        self.psfs = _checked_psfs(psf, len(self.channel_frames), self.config)
        self._check_sizes()
        self._stop_requested = threading.Event()
        self._model: DecoNoisingModel | ChannelModels | None = None
        self._run: _Run | None = None

    @property
    def n_channels(self) -> int:
        """Number of channels (one network each)."""
        return len(self.channel_frames)

    @property
    def frames(self) -> list[np.ndarray]:
        """The first channel's frames (all of them for single-channel data)."""
        return self.channel_frames[0]

    @property
    def psf(self) -> np.ndarray | None:
        """The first channel's prepared PSF."""
        return self.psfs[0]

    @property
    def pixel_size_um(self) -> float | None:
        """The training images' pixel size (µm), when their metadata says it."""
        return self.images[0].pixel_size

    def stop(self) -> None:
        """Ask the run to end at the next batch boundary; checkpoints are kept."""
        self._stop_requested.set()

    @property
    def model(self) -> DecoNoisingModel | ChannelModels:
        """The best networks found (available once :meth:`run` has finished)."""
        if self._model is None:
            raise RuntimeError("the trainer has not run yet")
        return self._model

    def _check_sizes(self) -> None:
        patch = self.config.patch_size
        smallest = min(min(f.shape[-2:]) for frames in self.channel_frames for f in frames)
        if smallest < patch:
            raise ImageError(
                f"the image ({smallest} px on its short side) is smaller than the training patch "
                f"({patch} px); use a smaller patch size"
            )
        for psf in self.psfs:
            if psf is not None and psf.shape[0] > patch:
                raise PSFError(
                    f"the PSF ({psf.shape[0]} px) is larger than the training patch ({patch} px);"
                    " use a larger patch size"
                )

    def run(self) -> Iterator[TrainingEvent]:
        """Train, yielding events; the last one is :class:`TrainingFinished`."""
        run = self._run = _Run(self)
        try:
            yield from run.events()
            self._model = run.best_model()
        finally:
            self._run = None

    def current_model(self) -> DecoNoisingModel | ChannelModels:
        """The networks as they are now, mid-run (for a live preview).

        Call it from the thread that iterates :meth:`run`, between two events: the weights are
        then consistent (no optimiser step is under way).
        """
        if self._run is None:
            raise RuntimeError("the trainer is not running")
        return self._run.current_model()


def train(
    images: Images,
    psf: PSFs = None,
    config: TrainingConfig | None = None,
    model_path: str | Path | None = None,
    on_event: Callable[[TrainingEvent], None] | None = None,
    axes: str | None = None,
) -> DecoNoisingModel | ChannelModels:
    """Train and return the best model; ``on_event`` receives every progress event."""
    trainer = Trainer(images, psf, config, model_path, axes)
    for event in trainer.run():
        if on_event is not None:
            on_event(event)
    return trainer.model


def _initial_model(
    init: DecoNoisingModel | ChannelModels | str | Path | None,
) -> DecoNoisingModel | ChannelModels | None:
    if init is None or isinstance(init, DecoNoisingModel | ChannelModels):
        return init
    from .bundle import load_model

    return load_model(init)


def _continued_config(
    config: TrainingConfig, init: DecoNoisingModel | ChannelModels | None
) -> TrainingConfig:
    """``config`` with what a continued model fixes: architecture, output scale, mode."""
    if init is None:
        return config
    first = init.channels[0]
    return config.replace(
        network=first.network.config, output_scale=first.output_scale, n2v=first.is_n2v
    )


def _steps_done(model: DecoNoisingModel | ChannelModels) -> int:
    """Optimiser steps a model has been trained for (0 when its file does not say)."""
    return int(model.channels[0].metadata.get("steps") or 0)


def _check_continuation(init: DecoNoisingModel | ChannelModels, n_channels: int) -> None:
    if init.n_channels != n_channels:
        raise ImageError(
            f"the model to continue was trained on {init.n_channels} channel(s), but the images "
            f"have {n_channels}; continue with images of the same channels"
        )


def _axes_images(images: Images, axes: str | None) -> list[AxesImage]:
    single = isinstance(images, AxesImage) or hasattr(images, "shape")
    items = [images] if single else list(images)  # type: ignore[list-item]
    if not items:
        raise ImageError("no training images given")
    names = ["image"] if len(items) == 1 else [f"image {i + 1}" for i in range(len(items))]
    return [as_axes_image(item, axes, name) for item, name in zip(items, names, strict=True)]


def _frames_per_channel(images: list[AxesImage]) -> list[list[np.ndarray]]:
    counts = {image.n_channels for image in images}
    if len(counts) > 1:
        raise ImageError(
            "the training images have different channel counts ("
            + ", ".join(image.describe() for image in images)
            + "); train on images with the same channels"
        )
    per_channel: list[list[np.ndarray]] = [[] for _ in range(counts.pop())]
    for image in images:
        for channel, stack in enumerate(channel_frames(image)):
            per_channel[channel].extend(stack)
    return per_channel


def _checked_psfs(psf: PSFs, n_channels: int, config: TrainingConfig) -> list[np.ndarray | None]:
    if config.n2v:
        return [None] * n_channels
    if psf is None:
        raise PSFError("DecoNoising needs a PSF; give one, or train in N2V mode")
    if isinstance(psf, np.ndarray) or hasattr(psf, "shape"):
        return [prepare_psf(psf)] * n_channels
    psfs = list(psf)
    if len(psfs) != n_channels:
        raise PSFError(
            f"got {len(psfs)} PSFs for {n_channels} channel(s); give one PSF per channel "
            "(or one for all)"
        )
    return [prepare_psf(p) for p in psfs]


def _mean_and_std(frames: list[np.ndarray]) -> tuple[float, float]:
    """Mean and standard deviation over all pixels, without concatenating the frames."""
    count = sum(f.size for f in frames)
    mean = sum(float(f.sum(dtype=np.float64)) for f in frames) / count
    variance = sum(float(((f - mean) ** 2).sum(dtype=np.float64)) for f in frames) / count
    return mean, variance**0.5


class _ChannelSession:
    """The training state of one channel: data, network, optimiser, best weights."""

    def __init__(
        self,
        frames: list[np.ndarray],
        psf: np.ndarray | None,
        config: TrainingConfig,
        device: torch.device,
        seed: int | None,
        init: DecoNoisingModel | None = None,
    ):
        self.config, self.device, self.psf = config, device, psf
        self.generator = run_generator(seed)
        if init is not None:
            self.normalisation = init.normalisation
        else:
            mean, std = _mean_and_std(frames)
            self.normalisation = Normalisation(mean, max(std, 1e-6), estimate_offset(frames))
        train_frames, validation_frames, self.validation = self._split(frames)
        # Frames stay in host memory; only each batch of patches travels to the device.
        self.train_frames = [self._normalised(f) for f in train_frames]
        self.validation_frames = [self._normalised(f) for f in validation_frames]
        self.sampler = PatchSampler(
            self.train_frames, config.patch_size, self.generator, config.augment, device
        )
        self.pixels = sum(f.numel() for f in self.train_frames)
        self.widths = None if init is None else list(init.network.widths)
        network = initialise_network(empty_unet(config.network, self.widths), self.generator)
        if init is not None:
            network.load_state_dict(init.network.state_dict())
        self.network = place_network(network, device)
        self.kernel = psf_tensor(psf, device)
        self.optimiser = torch.optim.Adam(self.network.parameters(), lr=config.learning_rate)
        self.validation_batches = self._validation_set()
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_loss = math.inf

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

    def loss(self, patches: torch.Tensor, manipulated: torch.Tensor, mask: torch.Tensor):
        """The DecoNoising loss terms of one batch."""
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

    def train_step(self, learning_rate: float) -> float:
        """One optimiser step on a fresh batch; returns its loss."""
        config = self.config
        set_learning_rate(self.optimiser, learning_rate)
        patches = self.sampler.sample(config.batch_size)
        manipulated, mask = blind_spot_mask(
            patches, config.mask_fraction, config.neighbourhood, self.generator
        )
        terms = self.loss(patches, manipulated, mask)
        self.optimiser.zero_grad(set_to_none=True)
        terms.total.backward()
        self.optimiser.step()
        return float(terms.total.detach())

    @torch.no_grad()
    def validate(self) -> tuple[float, bool]:
        """The validation loss, and whether it is this channel's best so far (kept if so)."""
        self.network.eval()
        batches = self.validation_batches
        total = sum(float(self.loss(*batch).total) * len(batch[0]) for batch in batches)
        self.network.train()
        loss = total / sum(len(batch[0]) for batch in batches)
        is_best = loss < self.best_loss
        if is_best:
            self.best_loss = loss
            self.best_state = copy.deepcopy(self.network.state_dict())
        return loss, is_best

    def model(self, state: dict[str, torch.Tensor], metadata: dict[str, Any]) -> DecoNoisingModel:
        """A model of this channel with the given weights."""
        network = empty_unet(self.config.network, self.widths)
        network.load_state_dict({k: v.detach().cpu() for k, v in state.items()})
        best = None if math.isinf(self.best_loss) else self.best_loss
        return DecoNoisingModel(
            network=network.eval(),
            psf=self.psf,
            normalisation=self.normalisation,
            output_scale=self.config.output_scale,
            training_config=self.config.to_dict(),
            metadata={**metadata, "best_validation_loss": best},
        )

    def best_or_current_state(self) -> dict[str, torch.Tensor]:
        """The best weights, or the current ones when no validation has run yet."""
        return self.best_state if self.best_state is not None else self.network.state_dict()


class _Run:
    """One training run over every channel: the loop, the events and the checkpoints."""

    def __init__(self, trainer: Trainer):
        self.trainer = trainer
        config = self.config = trainer.config
        self.device = resolve_device(config.device)
        inits = [None] * trainer.n_channels if trainer.init is None else trainer.init.channels
        self.sessions = [
            _ChannelSession(
                frames,
                psf,
                config,
                self.device,
                None if config.seed is None else config.seed + channel,
                init,
            )
            for channel, (frames, psf, init) in enumerate(
                zip(trainer.channel_frames, trainer.psfs, inits, strict=True)
            )
        ]
        #: Steps the continued model had already trained: the step count goes on from there.
        self.first_step = 0 if trainer.init is None else _steps_done(trainer.init)
        self.steps = 0

    def progress(self, step: int, elapsed: float) -> float:
        """Share of the budget used, 0..1 (and beyond when the budget is spent)."""
        config = self.config
        if config.minutes is not None:
            return elapsed / (config.minutes * 60)
        return step / config.steps

    def started(self) -> TrainingStarted:
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
        )

    def events(self) -> Iterator[TrainingEvent]:
        config, stop = self.config, self.trainer._stop_requested
        started = self.started()
        yield started
        start = time.perf_counter()
        step, train_loss, validation_loss, progress = 0, math.nan, None, 0.0
        while progress < 1.0 and not stop.is_set():
            lr = warmup_cosine(config.learning_rate, progress, step, warmup_steps=20)
            train_loss = float(np.mean([s.train_step(lr) for s in self.sessions]))
            step = self.steps = step + 1
            elapsed = time.perf_counter() - start
            progress = self.progress(step, elapsed)
            eta = elapsed * (1 - min(progress, 1.0)) / max(progress, 1e-9)
            epoch = step * config.batch_size * config.patch_size**2 // self.sessions[0].pixels
            shown = self.first_step + step
            yield TrainingStep(
                shown, started.total_steps, epoch, train_loss, lr, elapsed, eta, min(progress, 1)
            )
            if step % config.validation_interval == 0:
                validation_loss = yield from self._validate(shown)
        if step % config.validation_interval != 0 and step > 0:
            validation_loss = yield from self._validate(self.first_step + step)
        yield from self._save_last(step)
        yield TrainingFinished(
            self.first_step + step,
            time.perf_counter() - start,
            train_loss,
            validation_loss,
            self._best_loss(),
            stop.is_set(),
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
            yield CheckpointSaved(step, str(self.best_model().save(path)), "best")
        return loss

    def _save_last(self, step: int) -> Iterator[TrainingEvent]:
        path = self.trainer.model_path
        if path is None or step == 0:
            return
        last = self.current_model()
        shown = self.first_step + step
        yield CheckpointSaved(shown, str(last.save(last_checkpoint_path(path))), "last")
        if any(s.best_state is None for s in self.sessions):
            yield CheckpointSaved(shown, str(self.best_model().save(path)), "best")

    def _model(self, states: list[dict[str, torch.Tensor]]) -> DecoNoisingModel | ChannelModels:
        trainer = self.trainer
        image = trainer.images[0]
        metadata = {
            "created": timestamp(),
            "steps": self.first_step + self.steps,
            "axes": image.axes,
            "pixel_size_um": trainer.pixel_size_um,
        }
        models = [
            session.model(state, {**metadata, "channel": index} if len(states) > 1 else metadata)
            for index, (session, state) in enumerate(zip(self.sessions, states, strict=True))
        ]
        return models[0] if len(models) == 1 else ChannelModels(models)

    def current_model(self) -> DecoNoisingModel | ChannelModels:
        """Every channel's current weights (copied)."""
        return self._model([s.network.state_dict() for s in self.sessions])

    def best_model(self) -> DecoNoisingModel | ChannelModels:
        """Every channel's best weights (or current ones where no validation ran yet)."""
        return self._model([s.best_or_current_state() for s in self.sessions])
