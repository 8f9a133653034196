"""The training state of one channel: its data, network, optimiser, loss and best weights.

:class:`~napari_deconoising.training.Trainer` runs one :class:`ChannelSession` per channel of
the images and steps them together.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch

from napari_deconoising.config.training import TrainingConfig
from napari_deconoising.data.images import estimate_offset
from napari_deconoising.data.noise import NoiseReport, without_hot_pixels
from napari_deconoising.model.bundle import DecoNoisingModel, Normalisation
from napari_deconoising.model.convolution import psf_coverage, psf_tensor
from napari_deconoising.model.devices import autocast, network_input, place_network
from napari_deconoising.model.unet import UNet, empty_unet
from napari_deconoising.training.blind_spot import keeps_axes, mask_span
from napari_deconoising.training.losses import deconoising_loss
from napari_deconoising.training.masking import blind_spot_mask
from napari_deconoising.training.plan import patch_shape, plan_pooling
from napari_deconoising.training.sampling import (
    PatchSampler,
    initialise_network,
    run_generator,
    sampler_patch,
    set_learning_rate,
)
from napari_deconoising.training.streaming import (
    BlockCacheSampler,
    LazyFrame,
    block_statistics,
    is_lazy,
    validation_blocks,
)

#: Patches in the fixed validation set of each channel, by spatial dims (a 3D patch holds many
#: planes).
VALIDATION_PATCHES: dict[int, int] = {2: 32, 3: 8}

#: Pixels this close below the saturation value (in network units) count as saturated.
SATURATION_TOLERANCE = 1e-5

#: What one frame (2D) or volume (3D) is called in the validation description, by spatial dims.
STACK_NAMES: dict[int, str] = {2: "frame", 3: "volume"}


def _mean_and_std(frames: list[np.ndarray]) -> tuple[float, float]:
    """Mean and standard deviation over all pixels, without concatenating the frames."""
    count = sum(f.size for f in frames)
    mean = sum(float(f.sum(dtype=np.float64)) for f in frames) / count
    variance = sum(float(((f - mean) ** 2).sum(dtype=np.float64)) for f in frames) / count
    return mean, variance**0.5


def _rows(frame: Any, start: int, stop: int) -> Any:
    """Rows ``start`` to ``stop`` (along Y) of a frame or volume, in memory or streamed."""
    if isinstance(frame, LazyFrame):
        return frame.region(frame.ndim - 2, start, stop)
    return frame[..., start:stop, :]


class ChannelSession:
    """The training state of one channel: data, network, optimiser, best weights.

    ``frames`` are 2D images (Y, X), or volumes (Z, Y, X); ``pooling``, the network's per-level
    pooling factors (one per spatial axis, see :func:`.plan.plan_pooling`), tells which; without
    it, 2D. ``noise``, the channel's measured noise, has its hot pixels replaced in the training
    input and its saturated pixels kept out of the loss.
    """

    def __init__(
        self,
        frames: list[np.ndarray],
        psf: np.ndarray | None,
        config: TrainingConfig,
        device: torch.device,
        seed: int | None,
        init: DecoNoisingModel | None = None,
        pooling: list[tuple[int, ...]] | None = None,
        noise: NoiseReport | None = None,
    ):
        self.config, self.device, self.psf, self.noise = config, device, psf, noise
        self.pooling = pooling or plan_pooling(config.network.depth, ())
        self.spatial_dims = len(self.pooling[0])
        #: The shape of a training patch, and how the samplers take it (see :class:`PatchSampler`).
        self.patch_shape = patch_shape(config, self.spatial_dims)
        self.patch = sampler_patch(self.patch_shape)
        self.patch_pixels = math.prod(self.patch_shape)
        self.generator = run_generator(seed)
        #: The blind spot's half-width per spatial axis (None: one pixel), see :func:`mask_span`.
        self.span = mask_span(config, self.spatial_dims)
        #: Whether the frames are read from disk through a bounded cache (large images).
        self.streamed = is_lazy(frames)
        if not self.streamed:
            frames = [self._cleaned(f) for f in frames]
        self.normalisation = self._normalisation(frames, init)
        self.saturation = self._saturation_level()
        train_frames, validation_frames, self.validation = self._split(frames)
        if self.streamed:
            self._stream(train_frames, validation_frames)
        else:
            # Frames stay in host memory; only each batch of patches travels to the device.
            self.train_frames = [self._normalised(f) for f in train_frames]
            self.validation_frames = [self._normalised(f) for f in validation_frames]
            self.sampler = PatchSampler(
                self.train_frames,
                self.patch,
                self.generator,
                config.augment,
                device,
                keeps_axes(self.span),
            )
            self.pixels = sum(f.numel() for f in self.train_frames)
        self.widths = None if init is None else list(init.network.widths)
        network = initialise_network(self._empty_network(), self.generator)
        if init is not None:
            network.load_state_dict(init.network.state_dict())
        self.network = place_network(network, device)
        # The PSF enters the loss only where the network's output is the deconvolved image.
        self.kernel = psf_tensor(psf if config.design == "joint" else None, device)
        self._weights: dict[tuple[int, ...], torch.Tensor] = {}
        self.optimiser = torch.optim.Adam(self.network.parameters(), lr=config.learning_rate)
        self.validation_batches = self._validation_set()
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_loss = math.inf

    def _normalisation(self, frames: list[Any], init: DecoNoisingModel | None) -> Normalisation:
        """The model's (when continuing), else from all pixels, or from sampled blocks of
        streamed frames."""
        if init is not None:
            return init.normalisation
        if self.streamed:
            mean, std, offset = block_statistics(frames, self.patch_shape, self.generator)
        else:
            (mean, std), offset = _mean_and_std(frames), estimate_offset(frames)
        return Normalisation(mean, max(std, 1e-6), offset)

    def _stream(self, train_frames: list[LazyFrame], validation_frames: list[LazyFrame]) -> None:
        """Sample training patches through a bounded cache of blocks; validate on a fixed set
        of blocks read once from the held-out frames (or strips)."""
        config, shape = self.config, self.patch_shape
        self.sampler = BlockCacheSampler(
            train_frames,
            self.patch,
            self.generator,
            lambda block: self.normalisation.normalise(self._cleaned(block)),
            config.cache_mb * 2**20,
            config.augment,
            self.device,
            keeps_axes(self.span),
        )
        held = validation_frames or train_frames
        blocks = validation_blocks(held, shape, self.generator)
        self.validation_frames = [self._normalised(b) for b in blocks] if validation_frames else []
        self.train_frames = train_frames
        self._validation_fallback = [self._normalised(b) for b in blocks]
        self.pixels = sum(f.size for f in train_frames)

    def _empty_network(self) -> UNet:
        return empty_unet(self.config.network, self.widths, self.spatial_dims, self.pooling)

    def _normalised(self, frame: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(self.normalisation.normalise(frame).astype(np.float32))

    def _cleaned(self, frame: np.ndarray) -> np.ndarray:
        """``frame`` with its hot pixels replaced, when the channel's noise has any."""
        if self.noise is None or self.noise.hot_pixels == 0:
            return frame
        return without_hot_pixels(frame, self.noise.noise_sigma)[0]

    def _saturation_level(self) -> float | None:
        """The saturation value in network units (None: nothing saturated)."""
        value = None if self.noise is None else self.noise.saturation_value
        if value is None:
            return None
        return float(self.normalisation.normalise(np.float32(value)))

    def _masked(self, patches: torch.Tensor, generator: torch.Generator):
        """Blind-spot ``(manipulated, mask)`` of ``patches``; saturated pixels leave the mask."""
        config = self.config
        manipulated, mask = blind_spot_mask(
            patches,
            config.mask_fraction,
            config.neighbourhood,
            generator,
            config.replacement,
            self.span,
            box=config.blind_spot == "box",
        )
        if self.saturation is not None:
            mask = mask * (patches < self.saturation - SATURATION_TOLERANCE)
        return manipulated, mask

    def _split(self, frames: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray], str]:
        """(training frames, validation frames, what validation uses).

        Whole frames (or volumes) are held out when there are enough, else a strip at the bottom
        (along Y) of each; when neither is possible the validation list is empty and validation
        samples its own patches of the training data.
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
            return train, validation, f"{len(validation)} held-out {self._what}(s)"
        train, validation = [], []
        for frame in frames:
            strip = max(patch, round(fraction * frame.shape[-2]))
            if frame.shape[-2] - strip >= patch:
                train.append(_rows(frame, 0, frame.shape[-2] - strip))
                validation.append(_rows(frame, frame.shape[-2] - strip, frame.shape[-2]))
            else:
                train.append(frame)
        if not validation:
            return train, [], "training data (too small to hold out a strip of one patch)"
        return train, validation, f"a held-out bottom strip of {len(validation)} {self._what}(s)"

    @property
    def _what(self) -> str:
        return STACK_NAMES[self.spatial_dims]

    def _validation_set(self) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """A fixed set of masked validation patches, drawn with a generator of its own (so the
        training stream never repeats them)."""
        generator = torch.Generator().manual_seed(
            int(torch.randint(0, 2**31 - 1, (1,), generator=self.generator))
        )
        config = self.config
        fallback = self._validation_fallback if self.streamed else self.train_frames
        sampler = PatchSampler(
            self.validation_frames or fallback,
            self.patch,
            generator,
            config.augment,
            self.device,
            keeps_axes(self.span),
        )
        batches = []
        total = VALIDATION_PATCHES[self.spatial_dims]
        for start in range(0, total, config.batch_size):
            patches = sampler.sample(min(config.batch_size, total - start))
            manipulated, mask = self._masked(patches, generator)
            batches.append((patches, manipulated, mask))
        return batches

    def loss(self, patches: torch.Tensor, manipulated: torch.Tensor, mask: torch.Tensor):
        """The DecoNoising loss terms of one batch."""
        config = self.config
        with autocast(self.device, config.precision):
            output = self.network(network_input(manipulated))
        deconvolved = output.float() * config.output_scale
        return deconoising_loss(
            deconvolved,
            patches,
            mask,
            self.kernel,
            zero_level=self.normalisation.zero_level,
            positivity_weight=config.positivity_weight if self.kernel is not None else 0.0,
            tv_weight=config.tv_weight,
            weights=self._loss_weights(tuple(patches.shape[2:])),
        )

    def _loss_weights(self, shape: tuple[int, ...]) -> torch.Tensor | None:
        """1 where a blind spot counts in the loss, 0 where too little of the PSF falls inside
        the patch (:attr:`TrainingConfig.min_psf_coverage`, lowered to the largest coverage
        when the PSF is nearly as large as the patch); None when all count."""
        threshold = self.config.min_psf_coverage
        if threshold == 0 or self.kernel is None:
            return None
        if shape not in self._weights:
            coverage = psf_coverage(shape, self.kernel.float())
            threshold = min(threshold, float(coverage.max()))
            self._weights[shape] = (coverage >= threshold - 1e-6).float()
        return self._weights[shape]

    def train_step(self, learning_rate: float) -> float:
        """One optimiser step on a fresh batch; returns its loss."""
        config = self.config
        set_learning_rate(self.optimiser, learning_rate)
        patches = self.sampler.sample(config.batch_size)
        manipulated, mask = self._masked(patches, self.generator)
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
        network = self._empty_network()
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
