"""What training and distillation share: per-run random generators, network initialisation,
augmented patch sampling and the warm-up + cosine learning-rate schedule.

Every run draws its random numbers from its own :class:`torch.Generator`, never from torch's
global state, so two runs in two threads (a training and a compression) do not disturb each
other and a seeded run is reproducible.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import torch
from torch import nn


def run_generator(seed: int | None) -> torch.Generator:
    """A CPU generator for one run: seeded, or from the clock when ``seed`` is None."""
    return torch.Generator().manual_seed(seed if seed is not None else time.time_ns() % 2**31)


def initialise_network(network: nn.Module, generator: torch.Generator) -> nn.Module:
    """Draw every convolution's weights and biases from ``generator``.

    Same distribution as PyTorch's default initialisation (uniform within ``1/sqrt(fan_in)``),
    but reproducible without touching torch's global random state.
    """
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, nn.modules.conv._ConvNd):
                fan_in, _ = nn.init._calculate_fan_in_and_fan_out(module.weight)
                bound = 1 / math.sqrt(max(fan_in, 1))
                module.weight.uniform_(-bound, bound, generator=generator)
                if module.bias is not None:
                    module.bias.uniform_(-bound, bound, generator=generator)
    return network


def warmup_cosine(base: float, progress: float, step: int, warmup_steps: int) -> float:
    """Learning rate: linear warm-up over ``warmup_steps``, then cosine decay to 5% of ``base``
    as ``progress`` (share of the budget, steps or time) goes from 0 to 1."""
    warmup = min(1.0, (step + 1) / warmup_steps)
    return base * warmup * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def set_learning_rate(optimiser: torch.optim.Optimizer, value: float) -> None:
    """Set the learning rate of every parameter group."""
    for group in optimiser.param_groups:
        group["lr"] = value


def sampler_patch(shape: Sequence[int]) -> tuple[int, ...]:
    """The samplers' ``patch`` argument for a patch of ``shape`` (square in Y and X):
    ``(*depth, side)``, the inverse of :func:`full_patch_shape`."""
    return (*shape[:-2], shape[-1])


def full_patch_shape(patch: int | Sequence[int]) -> tuple[int, ...]:
    """The spatial shape of a sampler's ``patch``: ``(side, side)`` for a side,
    ``(*depth, side, side)`` for ``(*depth, side)``."""
    sizes = (patch,) if isinstance(patch, int) else tuple(patch)
    return (*sizes, sizes[-1])


class PatchSampler:
    """Random patches from a list of stacks, augmented with rotations and flips.

    Each source is a tensor (K, H, W), or (K, D, H, W) for volumes: K aligned layers (an image,
    or an image and its teacher output) cut and augmented alike. ``patch`` is the side of a
    square 2D patch, or ``(*depth, side)``: ``(planes, side)`` for 3D patches of ``planes`` x
    ``side`` x ``side`` (see :func:`sampler_patch`). Augmentation turns and flips in XY and
    flips each depth axis (Z); without ``quarter_turns`` it turns by half turns only, which keep
    Y and X apart (for noise correlated along one of them). Sources are chosen in proportion to
    the number of patch positions they hold. :meth:`sample` returns (count, K, P, P) or
    (count, K, planes, P, P) on ``device``.
    """

    def __init__(
        self,
        sources: Sequence[torch.Tensor],
        patch: int | tuple[int, ...],
        generator: torch.Generator,
        augment: bool = True,
        device: torch.device | str = "cpu",
        quarter_turns: bool = True,
    ):
        if not sources:
            raise ValueError("no sources to sample patches from")
        self.shape = full_patch_shape(patch)
        dims = len(self.shape)
        self.sources = [s if s.ndim == dims + 1 else s[None] for s in sources]
        self.patch = patch
        self.generator = generator
        self.augment, self.quarter_turns = augment, quarter_turns
        self.device = torch.device(device)
        self.weights = torch.tensor([self.positions(s) for s in self.sources], dtype=torch.float64)

    def positions(self, source: torch.Tensor) -> int:
        """Number of distinct patch positions in ``source``."""
        sizes = source.shape[-len(self.shape) :]
        return math.prod(n - p + 1 for n, p in zip(sizes, self.shape, strict=True))

    def sample(self, count: int) -> torch.Tensor:
        """``count`` augmented patches, (count, K, *patch shape)."""
        g, shape = self.generator, self.shape
        choice = torch.multinomial(self.weights, count, replacement=True, generator=g).tolist()
        pieces = []
        for index in choice:
            source = self.sources[index]
            sizes = source.shape[-len(shape) :]
            starts = [
                int(torch.randint(0, n - p + 1, (1,), generator=g))
                for n, p in zip(sizes, shape, strict=True)
            ]
            window = tuple(slice(s, s + p) for s, p in zip(starts, shape, strict=True))
            piece = source[(slice(None), *window)]
            if self.augment:
                piece = self._augmented(piece)
            pieces.append(piece)
        return torch.stack(pieces).to(self.device)

    def _augmented(self, piece: torch.Tensor) -> torch.Tensor:
        """A random XY rotation and X flip, and a random flip of each depth axis (Z)."""
        g = self.generator
        turns, flip = torch.randint(0, 4, (2,), generator=g).tolist()
        if not self.quarter_turns:
            turns = turns // 2 * 2
        piece = torch.rot90(piece, turns, (-2, -1))
        piece = piece.flip(-1) if flip % 2 else piece
        for axis in range(3, len(self.shape) + 1):
            if int(torch.randint(0, 2, (1,), generator=g)):
                piece = piece.flip(-axis)
        return piece
