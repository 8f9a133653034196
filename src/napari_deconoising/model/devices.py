"""Choosing the compute device and its precision."""

from __future__ import annotations

import contextlib
import os

import torch

from napari_deconoising.errors import ConfigError

#: Accelerators in the order ``auto`` tries them, each with how torch says it is present.
ACCELERATORS = {
    "cuda": lambda: torch.cuda.is_available(),
    "mps": lambda: mps_available(),
}
ACCELERATOR_NAMES = {"cuda": "a CUDA GPU", "mps": "Apple's Metal (MPS, Apple Silicon)"}


def mps_available() -> bool:
    """Whether Apple's Metal backend (Apple Silicon GPUs) can run here."""
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple's MPS, then the CPU. Asking for an accelerator that is
    not there is an error. On MPS, operations Metal lacks run on the CPU instead
    (``PYTORCH_ENABLE_MPS_FALLBACK``) rather than failing."""
    if name == "auto":
        name = next((a for a, present in ACCELERATORS.items() if present()), "cpu")
    elif name in ACCELERATORS and not ACCELERATORS[name]():
        raise ConfigError(
            f"{name} was requested but {ACCELERATOR_NAMES[name]} is not available here; "
            "use --device cpu (or auto)"
        )
    if name == "mps":
        os.environ.setdefault("PYTORCH_ENABLE_MPS_FALLBACK", "1")
    return torch.device(name)


#: oneDNN instruction sets (``ONEDNN_MAX_CPU_ISA``) below native bfloat16 arithmetic.
ISAS_WITHOUT_BFLOAT16 = frozenset(
    ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI")
)


def cpu_computes_bfloat16() -> bool:
    """Whether this CPU has native bfloat16 arithmetic (AVX512-BF16 or AMX), with which
    torch's bfloat16 convolutions run about twice as fast as float32 ones, and torch may use it:
    limiting the kernels to AVX2 (``ATEN_CPU_CAPABILITY=avx2``, ``ONEDNN_MAX_CPU_ISA=AVX2``, as on
    most laptops) turns bfloat16 into a slow emulation, so it counts as absent then."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    if not any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks):
        return False
    if os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper() in ISAS_WITHOUT_BFLOAT16:
        return False
    return cpu_kernels() not in ("DEFAULT", "AVX2")


def cpu_kernels() -> str:
    """The vector instructions torch's CPU kernels use here (``AVX512``, ``AVX2``, ``DEFAULT``
    elsewhere, such as Apple Silicon): what a CPU speed figure depends on."""
    return torch.backends.cpu.get_cpu_capability()


def mixed_precision(device: torch.device, precision: str = "auto") -> str | None:
    """The reduced precision a network computes in on ``device``, or None (float32); one policy
    for training and prediction.

    ``"float32"`` turns it off everywhere. On CUDA: bfloat16 (float16 on older GPUs). On Apple's
    MPS float16 only when asked (``"mixed"``): Metal's autocast is young, so ``"auto"`` stays
    float32 there. On the CPU bfloat16 when asked, or with ``"auto"`` on a CPU with native
    bfloat16 (:func:`cpu_computes_bfloat16`; elsewhere bfloat16 is emulated, and slower than
    float32).
    """
    if precision == "float32":
        return None
    if device.type == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    if device.type == "mps":
        return "float16" if precision == "mixed" else None
    if precision == "mixed" or cpu_computes_bfloat16():
        return "bfloat16"
    return None


def compute_dtype(device: torch.device, precision: str = "auto") -> str:
    """What a network computes in on ``device``: :func:`mixed_precision`'s choice, else
    ``"float32"``."""
    return mixed_precision(device, precision) or "float32"


def autocast(device: torch.device, precision: str = "auto") -> contextlib.AbstractContextManager:
    """Mixed precision as :func:`mixed_precision` decides, or nothing."""
    dtype = mixed_precision(device, precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=getattr(torch, dtype))


#: The channels-last memory format of a network input, by spatial dims.
CHANNELS_LAST = {2: torch.channels_last, 3: torch.channels_last_3d}


def place_network(network: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Move a network to ``device`` with its convolution weights in channels-last layout
    (faster convolutions on CPU and on tensor-core GPUs), each in the form of its own
    dimensionality (a 2.5D network holds 2D and 3D convolutions)."""
    network = network.to(device=device)
    for parameter in network.parameters():
        if parameter.dim() in (4, 5):
            parameter.data = parameter.data.contiguous(
                memory_format=CHANNELS_LAST[parameter.dim() - 2]
            )
    return network


def network_input(batch: torch.Tensor) -> torch.Tensor:
    """A (B, 1, H, W) or (B, 1, D, H, W) batch in the layout :func:`place_network` expects."""
    return batch.contiguous(memory_format=CHANNELS_LAST[batch.ndim - 2])
