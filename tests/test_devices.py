"""The compute device: ``auto`` tries CUDA, then Apple's MPS, then the CPU; asking for an
accelerator that is absent is a clear error; each device has its precision policy. The backends
are mocked: no GPU is needed."""

import os

import numpy as np
import pytest
import tifffile
import torch

from napari_deconoising import PredictionConfig, TrainingConfig
from napari_deconoising.cli import main
from napari_deconoising.errors import ConfigError
from napari_deconoising.model import devices


@pytest.fixture
def backends(monkeypatch):
    """Set which accelerators torch reports: ``backends(cuda=..., mps=...)``."""

    def present(cuda: bool = False, mps: bool = False) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(devices, "mps_available", lambda: mps)

    monkeypatch.delenv("PYTORCH_ENABLE_MPS_FALLBACK", raising=False)
    return present


@pytest.mark.parametrize(
    ("cuda", "mps", "chosen"),
    [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_auto_tries_cuda_then_mps_then_the_cpu(backends, cuda, mps, chosen):
    backends(cuda=cuda, mps=mps)
    assert devices.resolve_device("auto").type == chosen


def test_mps_falls_back_to_the_cpu_for_operations_metal_lacks(backends):
    backends(mps=True)
    assert devices.resolve_device("mps").type == "mps"
    assert os.environ["PYTORCH_ENABLE_MPS_FALLBACK"] == "1"


@pytest.mark.parametrize(("name", "what"), [("mps", "Apple's Metal"), ("cuda", "a CUDA GPU")])
def test_an_absent_accelerator_is_a_clear_error(backends, name, what):
    backends()
    with pytest.raises(ConfigError, match=f"{name} was requested but {what}.*--device cpu"):
        devices.resolve_device(name)


def test_precision_policy_per_device():
    mps = torch.device("mps")
    assert devices.mixed_precision(mps, "auto") is None  # Metal's autocast is young: float32
    assert devices.mixed_precision(mps, "mixed") == "float16"
    assert devices.mixed_precision(mps, "float32") is None


def test_every_task_and_the_command_line_offer_mps(backends, tmp_path, capsys):
    assert TrainingConfig(steps=1, device="mps").device == "mps"
    assert PredictionConfig(device="mps").device == "mps"
    backends()
    image = tmp_path / "noisy.tif"
    tifffile.imwrite(image, np.random.default_rng(0).poisson(20, (2, 64, 64)).astype(np.uint16))
    args = ["train", str(image), "--n2v", "--steps", "1", "--out", str(tmp_path / "m.pt")]
    code = main([*args, "--device", "mps"])
    assert code != 0
    assert "mps was requested but Apple's Metal" in capsys.readouterr().err
    assert not (tmp_path / "m.pt").exists()


@pytest.mark.parametrize(
    ("isa", "capability", "native"),
    [("", "AVX512", True), ("AVX2", "AVX512", False), ("", "AVX2", False), ("ALL", "AVX512", True)],
)
def test_bfloat16_counts_only_where_the_kernels_may_use_it(monkeypatch, isa, capability, native):
    """Kernels limited to AVX2 (how AVX2 machines are emulated) emulate bfloat16 slowly (3.6 s
    instead of 0.43 s per default training step here): training then stays float32."""
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", isa)
    assert devices.cpu_computes_bfloat16() is native
    cpu = torch.device("cpu")
    assert devices.mixed_precision(cpu, "auto") == ("bfloat16" if native else None)


def test_a_cpu_without_bfloat16_trains_in_float32(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert not devices.cpu_computes_bfloat16()
