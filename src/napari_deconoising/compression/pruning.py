"""Structured channel pruning of the U-Net: how many channels each level keeps, and which.

Channel groups come from torch-pruning's dependency graph, which couples the convolutions whose
outputs the skip connections add; each group keeps its channels of largest L1 norm. Level ``i``
keeps ``keep * taper**i`` of its channels: deep levels hold most of the parameters but little of
the compute. The result is an ordinary, narrower :class:`~napari_deconoising.model.unet.UNet`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from napari_deconoising.config.compression import CompressionConfig
from napari_deconoising.errors import DeconoisingError
from napari_deconoising.model.unet import UNet, empty_unet

#: The convolutions whose output channels are pruned (a 2.5D network holds 2D and 3D ones).
CONVS = (nn.Conv2d, nn.Conv3d)
TRANSPOSED = (nn.ConvTranspose2d, nn.ConvTranspose3d)
#: The down-sampling whose channels can be pruned, by spatial dims: torch-pruning's dependency
#: tracing does not finish on a 3D U-Net with blur pooling.
PRUNABLE_DOWNSAMPLING = {2: ("max", "blur"), 3: ("max",)}


def plan_widths(widths: Sequence[int], config: CompressionConfig) -> list[int]:
    """Channels kept per level: ``keep * taper**level`` of each, rounded to ``round_to``.

    A width is never raised above the original nor lowered below ``min_width``.
    """
    planned = []
    for level, width in enumerate(widths):
        target = width * config.keep * config.taper**level
        step = config.round_to if target >= config.round_to else 1
        rounded = round(target / step) * step
        planned.append(int(min(width, max(config.min_width, rounded))))
    return planned


def _conv_levels(network: UNet) -> dict[nn.Module, int]:
    """The U-Net level whose width each convolution's output channels belong to."""
    levels: dict[nn.Module, int] = {}
    for level, block in enumerate(network.down):
        levels.update({m: level for m in block if isinstance(m, CONVS)})
    for level, block in enumerate(network.up):
        levels.update({m: level for m in block if isinstance(m, CONVS)})
    levels.update({m: level for level, m in enumerate(network.upsample)})
    return levels


def check_prunable(network: UNet) -> None:
    """Refuse, before any work, a network whose channels cannot be pruned yet: a 3D U-Net with
    blur-pool down-sampling (torch-pruning's dependency tracing does not finish on it)."""
    dims, downsampling = network.spatial_dims, network.config.downsampling
    if downsampling not in PRUNABLE_DOWNSAMPLING[dims]:
        raise DeconoisingError(
            f"compression of {dims}D models with {downsampling}-pool down-sampling is not "
            "available yet; use the model as it is, or train it with max-pool down-sampling to "
            "compress it"
        )


def prune_unet(network: UNet, widths: Sequence[int]) -> UNet:
    """A narrower copy of ``network`` keeping, per channel group, the channels of largest L1 norm.

    Channel groups come from torch-pruning's dependency graph, so the convolutions whose outputs
    the skip connections add stay consistent. ``network`` itself is not changed.
    """
    tp = _torch_pruning()
    if len(widths) != len(network.widths):
        raise ValueError(f"need {len(network.widths)} widths, got {list(widths)}")
    work = copy.deepcopy(network).cpu().float().eval()
    for module in work.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False  # in-place ops hide the convolutions from the tracer
    example = torch.zeros(1, 1, *(4 * m for m in work.size_multiples))
    graph = tp.DependencyGraph().build_dependency(work, example_inputs=example)
    importance = tp.importance.GroupMagnitudeImportance(p=1, normalizer=None)
    levels = _conv_levels(work)
    roots = [
        group[0].dep.target.module
        for group in graph.get_all_groups(
            ignored_layers=[work.out], root_module_types=[*CONVS, *TRANSPOSED]
        )
    ]
    for root in roots:
        _prune_group(graph, importance, root, widths[levels[root]])
    return _rebuild(work, network, widths)


def _prune_group(graph: Any, importance: Any, root: nn.Module, keep: int) -> None:
    """Remove the lowest-importance output channels of ``root`` (and everything coupled to it)."""
    prune_out = graph.get_pruner_of_module(root).prune_out_channels
    channels = graph.get_out_channels(root)
    if keep >= channels:
        return
    scores = importance(graph.get_pruning_group(root, prune_out, list(range(channels))))
    drop = torch.argsort(scores)[: channels - keep].tolist()
    graph.get_pruning_group(root, prune_out, sorted(drop)).prune()


def _rebuild(pruned: UNet, original: UNet, widths: Sequence[int]) -> UNet:
    """The pruned weights in a fresh U-Net built from the new widths (a plain, savable model)."""
    # same layout options (depth, pooling kind, skips); only the widths change
    student_config = original.config.replace(start_filters=int(min(256, max(4, widths[0]))))
    # no random draws: weights come next
    student = empty_unet(student_config, list(widths), original.spatial_dims, original.pooling)
    try:
        student.load_state_dict(pruned.state_dict())
    except RuntimeError as err:  # pragma: no cover - would be a torch-pruning regression
        raise DeconoisingError(f"channel pruning gave an unexpected network: {err}") from err
    return student.eval()


def _torch_pruning() -> Any:
    try:
        import torch_pruning
    except ImportError as err:
        raise DeconoisingError(
            "model compression needs the torch-pruning package: pip install torch-pruning"
        ) from err
    return torch_pruning
