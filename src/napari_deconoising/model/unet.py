"""The U-Net of DecoNoising: max-pool down, transposed conv up, skips merged by addition.

One network for 2D images and 3D volumes: ``spatial_dims`` picks 2D or 3D convolutions, pooling
and upsampling; nothing else differs. A 3D network pools each level with its own factors (the
*pooling plan*, see :func:`pooling_plan`), so an anisotropic stack is pooled along Z only while
that makes sense.

A 3D network with ``z_context = k`` (2.5D) mixes planes only in its first convolution, whose
kernel spans ``k`` planes; it then folds the planes into the batch and runs the 2D U-Net on each
plane (its pooling plan never pools Z). It sees the neighbouring planes at about the cost of a
2D network, and stays a 3D model for everything around it (volumes in and out, 3D tiles, files).

Two options of :class:`~napari_deconoising.config.NetworkConfig` follow N2V2 (Höck et al. 2022),
whose authors trace blind-spot checkerboard artefacts to aliasing and to the full-resolution
skip: ``downsampling="blur"`` replaces each max-pooling by :class:`BlurPool` (a stride-1 max,
then a [1, 2, 1] binomial low-pass before subsampling) and ``top_skip=False`` drops the skip
connection of the full-resolution level. Neither adds weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from napari_deconoising.config.training import NetworkConfig

#: A 3D level pools Z only while its patch still has at least this many planes.
MIN_PLANES_TO_POOL_Z = 8
#: ... and while its voxel is at most this much longer in Z than in XY.
MAX_ELONGATION_TO_POOL_Z = 2.0

_CONV = {2: nn.Conv2d, 3: nn.Conv3d}
_POOL = {2: nn.MaxPool2d, 3: nn.MaxPool3d}
_UP = {2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
#: The layout entries that :meth:`UNet.architecture` writes, by spatial dims: none for a 2D
#: network, whose description stays as it was before 3D existed (older versions read it).
_LAYOUT_ENTRIES = {2: (), 3: ("spatial_dims", "pooling")}

Pooling = list[tuple[int, ...]]


def pooling_plan(
    depth: int, planes: int, voxel_size: Sequence[float] | None = None
) -> list[tuple[int, int, int]]:
    """Per-level pooling factors ``(z, y, x)`` of a 3D U-Net for patches of ``planes`` planes.

    XY is pooled by 2 at every level. Z is pooled by 2 at a level only while the patch still has
    at least :data:`MIN_PLANES_TO_POOL_Z` planes there (an even number) and the voxel is at most
    :data:`MAX_ELONGATION_TO_POOL_Z` times longer in Z than in XY; each XY pooling makes the
    voxel less elongated. ``voxel_size`` is ``(z, y, x)`` in any unit (None: isotropic).
    """
    z_step, pixel = (1.0, 1.0) if voxel_size is None else (voxel_size[0], voxel_size[-1])
    plan = []
    for _ in range(depth):
        elongation = z_step / pixel
        pool_z = planes >= MIN_PLANES_TO_POOL_Z and planes % 2 == 0
        pool_z = pool_z and elongation <= MAX_ELONGATION_TO_POOL_Z
        factor = 2 if pool_z else 1
        plan.append((factor, 2, 2))
        planes, z_step, pixel = planes // factor, z_step * factor, pixel * 2
    return plan


class BlurPool(nn.Module):
    """Anti-aliased pooling by ``factors`` (1 or 2 per spatial axis): along each pooled axis a
    max over 2 neighbours at stride 1, then a [1, 2, 1] / 4 low-pass, then every other sample.

    Pooled sizes must be even (as the U-Net's size multiples make them). No weights and no
    buffers (a network built on the meta device needs no initialisation), and only slicing and
    arithmetic, so that it exports to ONNX.
    """

    def __init__(self, factors: Sequence[int]):
        super().__init__()
        self.factors = tuple(int(f) for f in factors)
        if any(f not in (1, 2) for f in self.factors):
            raise ValueError(f"blur pooling supports factors 1 and 2, got {self.factors}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for axis, factor in enumerate(self.factors):
            if factor == 2:
                x = _blur_pool_axis(x, 2 + axis)
        return x

    def extra_repr(self) -> str:
        return f"factors={self.factors}"


def _along(x: torch.Tensor, dim: int, start: int | None, stop: int | None, step: int = 1):
    """``x[start:stop:step]`` along tensor dimension ``dim``."""
    return x[(slice(None),) * dim + (slice(start, stop, step),)]


def _blur_pool_axis(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Max over (i, i + 1), [1, 2, 1] / 4 low-pass with reflected edges, and stride 2, along
    tensor dimension ``dim``. Slices only (no convolution): exports to ONNX with any sizes."""
    x = torch.maximum(x, torch.cat([_along(x, dim, 1, None), _along(x, dim, -1, None)], dim))
    even, odd = _along(x, dim, 0, None, 2), _along(x, dim, 1, None, 2)
    # sample 2k's neighbours are odd[k - 1] (reflected: odd[0] for k = 0) and odd[k]
    before = torch.cat([_along(odd, dim, 0, 1), _along(odd, dim, 0, -1)], dim)
    return 0.5 * even + 0.25 * (before + odd)


def _conv_block(in_channels: int, out_channels: int, n_convs: int, dims: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for index in range(n_convs):
        layers += [
            _CONV[dims](in_channels if index == 0 else out_channels, out_channels, 3, padding=1),
            nn.ReLU(inplace=True),
        ]
    return nn.Sequential(*layers)


class FoldPlanes(nn.Module):
    """(B, C, D, H, W) -> (B * D, C, H, W): each plane becomes an image of the batch."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2).flatten(0, 1)


def _planar_first_block(width: int, n_convs: int, z_context: int) -> nn.Sequential:
    """The first block of a 2.5D network: one 3D convolution over ``z_context`` planes (3 x 3 in
    Y and X), the fold of the planes into the batch, then the block's other convolutions in 2D."""
    mix = nn.Conv3d(1, width, (z_context, 3, 3), padding=(z_context // 2, 1, 1))
    rest = _conv_block(width, width, n_convs - 1, 2)  # empty for one convolution per level
    return nn.Sequential(mix, nn.ReLU(inplace=True), FoldPlanes(), *rest)


class UNet(nn.Module):
    """A 2D or 3D U-Net with one input and one output channel.

    Level ``i`` has ``widths[i]`` channels; by default ``start_filters * 2**i``. ``spatial_dims``
    is 2 (input (B, 1, H, W)) or 3 (input (B, 1, D, H, W)); ``pooling`` gives a 3D network's
    per-level ``(z, y, x)`` factors (default: 2 along every axis). Each spatial size must be a
    multiple of the matching entry of :attr:`size_multiples`.
    """

    def __init__(
        self,
        config: NetworkConfig | None = None,
        widths: list[int] | None = None,
        spatial_dims: int = 2,
        pooling: Sequence[Sequence[int]] | None = None,
    ):
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        self.config = config or NetworkConfig()
        self.spatial_dims = spatial_dims
        depth = self.config.depth
        self.widths = list(widths or [self.config.start_filters * 2**i for i in range(depth + 1)])
        if len(self.widths) != depth + 1:
            raise ValueError(f"need {depth + 1} level widths, got {self.widths}")
        self.pooling: Pooling = [
            tuple(int(f) for f in level) for level in (pooling or [(2,) * spatial_dims] * depth)
        ]
        if len(self.pooling) != depth or any(len(p) != spatial_dims for p in self.pooling):
            raise ValueError(f"need {depth} pooling factors of {spatial_dims} axes, got {pooling}")
        self.z_context = self.config.z_context
        if self.z_context and (spatial_dims != 3 or any(p[0] != 1 for p in self.pooling)):
            raise ValueError(
                "z_context needs a 3D network that never pools Z, got "
                f"{spatial_dims}D with pooling {self.pooling}"
            )
        # the dims of the convolutions after the first: a 2.5D network works plane by plane
        body_dims = 2 if self.z_context else spatial_dims
        body_pooling = [p[1:] for p in self.pooling] if self.z_context else self.pooling
        n = self.config.convs_per_level
        self.down = nn.ModuleList()
        for level, width in enumerate(self.widths):
            if level == 0 and self.z_context:
                self.down.append(_planar_first_block(width, n, self.z_context))
                continue
            in_channels = 1 if level == 0 else self.widths[level - 1]
            self.down.append(_conv_block(in_channels, width, n, body_dims))
        uniform = all(p == (2,) * body_dims for p in body_pooling)
        self.top_skip = bool(self.config.top_skip)
        if self.config.downsampling == "blur":
            self.pool = None
            self.pools = nn.ModuleList(BlurPool(p) for p in body_pooling)
        else:
            # One shared pooling module when every level pools by 2 (the 2D layout, unchanged).
            self.pool = _POOL[body_dims](2) if uniform else None
            self.pools = (
                None if uniform else nn.ModuleList(_POOL[body_dims](p) for p in body_pooling)
            )
        self.upsample = nn.ModuleList(
            _UP[body_dims](
                self.widths[level + 1],
                self.widths[level],
                body_pooling[level],
                stride=body_pooling[level],
            )
            for level in range(depth)
        )
        self.up = nn.ModuleList(
            _conv_block(self.widths[level], self.widths[level], n, body_dims)
            for level in range(depth)
        )
        self.out = _CONV[body_dims](self.widths[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.z_context:  # the planes come back out of the batch at the end
            batch, planes = x.shape[0], x.shape[2]
            return self._forward(x).unflatten(0, (batch, planes)).transpose(1, 2)
        return self._forward(x)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for level, block in enumerate(self.down):
            if level > 0:
                x = self.pool(x) if self.pools is None else self.pools[level - 1](x)
            x = block(x)
            skips.append(x)
        for level in reversed(range(len(self.up))):
            x = self.upsample[level](x)
            if level > 0 or self.top_skip:
                x = x + skips[level]
            x = self.up[level](x)
        return self.out(x)

    @property
    def size_multiples(self) -> tuple[int, ...]:
        """Per spatial axis (``(y, x)`` or ``(z, y, x)``), what input sizes must be multiples of."""
        return tuple(
            math.prod(level[axis] for level in self.pooling) for axis in range(self.spatial_dims)
        )

    @property
    def context(self) -> tuple[int, ...]:
        """Per spatial axis, an upper bound on how far (pixels) the receptive field reaches from
        an output pixel: tiles with this much overlap stitch without seams."""
        n = self.config.convs_per_level
        blur = 1 if self.config.downsampling == "blur" else 0
        reach = []
        for axis in range(self.spatial_dims):
            if axis == 0 and self.z_context:  # only the first convolution spans planes
                reach.append(self.z_context // 2)
                continue
            scale, total = 1, 0
            for level in range(self.config.depth + 1):
                convs = n if level == self.config.depth else 2 * n  # down, and up on the way back
                total += convs * scale
                if level < self.config.depth:
                    factor = self.pooling[level][axis]
                    total += 2 * (factor - 1) * scale  # pooling and transposed-conv windows
                    total += blur * (factor - 1) * scale  # the blur-pool's low-pass
                    scale *= factor
            reach.append(total)
        return tuple(reach)

    @property
    def size_multiple(self) -> int:
        """What the Y and X sizes must be multiples of (``2**depth``)."""
        return self.size_multiples[-1]

    def architecture(self) -> dict:
        """JSON description from which :func:`build_unet` rebuilds this network (a 2D network's
        is the same as before 3D existed)."""
        layout = {
            "spatial_dims": self.spatial_dims,
            "pooling": [list(level) for level in self.pooling],
        }
        description = {"network": self.config.to_dict(), "widths": list(self.widths)}
        description.update({key: layout[key] for key in _LAYOUT_ENTRIES[self.spatial_dims]})
        return description


def build_unet(architecture: dict) -> UNet:
    """Rebuild a network from :meth:`UNet.architecture` output, with uninitialised weights (to
    be loaded): building it draws nothing from torch's global random state."""
    return empty_unet(
        NetworkConfig.from_dict(architecture["network"]),
        architecture.get("widths"),
        int(architecture.get("spatial_dims", 2)),
        architecture.get("pooling"),
    )


def empty_unet(
    config: NetworkConfig,
    widths: list[int] | None = None,
    spatial_dims: int = 2,
    pooling: Sequence[Sequence[int]] | None = None,
) -> UNet:
    """A U-Net on the CPU whose weights are allocated but not initialised (no random draws)."""
    with torch.device("meta"):
        network = UNet(config, widths, spatial_dims, pooling)
    return network.to_empty(device="cpu")


def count_parameters(module: nn.Module) -> int:
    """Number of parameters (all of them; the U-Net has no frozen ones)."""
    return sum(p.numel() for p in module.parameters())
