"""The U-Net of DecoNoising: max-pool down, transposed conv up, skips merged by addition."""

from __future__ import annotations

import torch
from torch import nn

from .config import NetworkConfig


def _conv_block(in_channels: int, out_channels: int, n_convs: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for index in range(n_convs):
        layers += [
            nn.Conv2d(in_channels if index == 0 else out_channels, out_channels, 3, padding=1),
            nn.ReLU(inplace=True),
        ]
    return nn.Sequential(*layers)


class UNet(nn.Module):
    """A 2D U-Net with one input and one output channel.

    Level ``i`` has ``widths[i]`` channels; by default ``start_filters * 2**i``. Input height and
    width must be multiples of ``2**depth``.
    """

    def __init__(self, config: NetworkConfig | None = None, widths: list[int] | None = None):
        super().__init__()
        self.config = config or NetworkConfig()
        depth = self.config.depth
        self.widths = list(widths or [self.config.start_filters * 2**i for i in range(depth + 1)])
        if len(self.widths) != depth + 1:
            raise ValueError(f"need {depth + 1} level widths, got {self.widths}")
        n = self.config.convs_per_level
        self.down = nn.ModuleList()
        for level, width in enumerate(self.widths):
            self.down.append(_conv_block(1 if level == 0 else self.widths[level - 1], width, n))
        self.pool = nn.MaxPool2d(2)
        self.upsample = nn.ModuleList(
            nn.ConvTranspose2d(self.widths[level + 1], self.widths[level], 2, stride=2)
            for level in range(depth)
        )
        self.up = nn.ModuleList(
            _conv_block(self.widths[level], self.widths[level], n) for level in range(depth)
        )
        self.out = nn.Conv2d(self.widths[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for level, block in enumerate(self.down):
            if level > 0:
                x = self.pool(x)
            x = block(x)
            skips.append(x)
        for level in reversed(range(len(self.up))):
            x = self.upsample[level](x) + skips[level]
            x = self.up[level](x)
        return self.out(x)

    @property
    def size_multiple(self) -> int:
        """Input sizes must be multiples of this."""
        return 2**self.config.depth

    def architecture(self) -> dict:
        """JSON description from which :func:`build_unet` rebuilds this network."""
        return {"network": self.config.to_dict(), "widths": list(self.widths)}


def build_unet(architecture: dict) -> UNet:
    """Rebuild a network from :meth:`UNet.architecture` output, with uninitialised weights (to
    be loaded): building it draws nothing from torch's global random state."""
    return empty_unet(NetworkConfig.from_dict(architecture["network"]), architecture.get("widths"))


def empty_unet(config: NetworkConfig, widths: list[int] | None = None) -> UNet:
    """A U-Net on the CPU whose weights are allocated but not initialised (no random draws)."""
    with torch.device("meta"):
        network = UNet(config, widths)
    return network.to_empty(device="cpu")


def count_parameters(module: nn.Module) -> int:
    """Number of parameters (all of them; the U-Net has no frozen ones)."""
    return sum(p.numel() for p in module.parameters())
