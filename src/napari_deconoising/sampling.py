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

import numpy as np
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


def spread(total: int, count: int) -> list[int]:
    """``count`` distinct indices spread evenly over ``range(total)``."""
    return sorted({round(x) for x in np.linspace(0, total - 1, count)})


class PatchSampler:
    """Random square patches from a list of stacks, augmented with rotations and flips.

    Each source is a tensor (K, H, W): K aligned layers (an image, or an image and its teacher
    output) cut and augmented alike. Sources are chosen in proportion to the number of patch
    positions they hold. :meth:`sample` returns (count, K, P, P) on ``device``.
    """

    def __init__(
        self,
        sources: Sequence[torch.Tensor],
        patch: int,
        generator: torch.Generator,
        augment: bool = True,
        device: torch.device | str = "cpu",
    ):
        if not sources:
            raise ValueError("no sources to sample patches from")
        self.sources = [s if s.ndim == 3 else s[None] for s in sources]
        self.patch = patch
        self.generator = generator
        self.augment = augment
        self.device = torch.device(device)
        self.weights = torch.tensor([self.positions(s) for s in self.sources], dtype=torch.float64)

    def positions(self, source: torch.Tensor) -> int:
        """Number of distinct patch positions in ``source``."""
        return (source.shape[-2] - self.patch + 1) * (source.shape[-1] - self.patch + 1)

    def sample(self, count: int) -> torch.Tensor:
        """``count`` augmented patches, (count, K, P, P)."""
        g, p = self.generator, self.patch
        choice = torch.multinomial(self.weights, count, replacement=True, generator=g).tolist()
        pieces = []
        for index in choice:
            source = self.sources[index]
            top = int(torch.randint(0, source.shape[-2] - p + 1, (1,), generator=g))
            left = int(torch.randint(0, source.shape[-1] - p + 1, (1,), generator=g))
            piece = source[:, top : top + p, left : left + p]
            if self.augment:
                turns, flip = torch.randint(0, 4, (2,), generator=g).tolist()
                piece = torch.rot90(piece, turns, (1, 2))
                piece = piece.flip(2) if flip % 2 else piece
            pieces.append(piece)
        return torch.stack(pieces).to(self.device)
