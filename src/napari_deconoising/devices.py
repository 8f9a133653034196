"""Choosing the compute device and its precision."""

from __future__ import annotations

import contextlib

import torch


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else the CPU. Asking for CUDA without it is an error."""
    from .errors import ConfigError

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("CUDA was requested but no CUDA GPU is available; use --device cpu")
    return torch.device(name)


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """Mixed precision (bfloat16, or float16 on older GPUs) on CUDA; nothing on the CPU."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def _channels_last(spatial_dims: int) -> torch.memory_format:
    return torch.channels_last_3d if spatial_dims == 3 else torch.channels_last


def place_network(network: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Move a network to ``device`` in channels-last layout (faster convolutions on CPU and
    on tensor-core GPUs); 3D networks (``spatial_dims == 3``) in its 3D form."""
    memory_format = _channels_last(getattr(network, "spatial_dims", 2))
    return network.to(device=device, memory_format=memory_format)


def network_input(batch: torch.Tensor) -> torch.Tensor:
    """A (B, 1, H, W) or (B, 1, D, H, W) batch in the layout :func:`place_network` expects."""
    return batch.contiguous(memory_format=_channels_last(batch.ndim - 2))
