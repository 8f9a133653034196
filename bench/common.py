"""Shared helpers of the benchmark scripts: the walls data and where results go."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import numpy as np
import tifffile
import torch

from napari_deconoising.model.devices import cpu_computes_bfloat16, cpu_kernels

#: What the project provides beside the checkout (../shared), or where DECONOISING_SHARED says
#: (a machine that gets the checkout alone, such as a lent GPU machine).
SHARED = Path(
    os.environ.get("DECONOISING_SHARED", Path(__file__).resolve().parents[1].parent / "shared")
)
WALLS = SHARED / "data" / "walls"
RESULTS = Path(__file__).resolve().parent / "results"
#: torch's and oneDNN's kernels limited to AVX2 (most laptops and lab desktops: no AVX-512, no
#: bfloat16); set before torch starts.
AVX2_ENVIRONMENT = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def load_walls(folder: Path = WALLS) -> dict[str, np.ndarray]:
    """The benchmark stack: noisy (10, 512, 512), blurred and sharp truth, psf."""
    if not folder.is_dir():
        raise SystemExit(f"benchmark data not found at {folder} (expected ../shared/data/walls)")
    return {
        name: tifffile.imread(folder / f"{name}.tif")
        for name in ("noisy", "blurred", "sharp", "psf")
    }


def machine() -> dict[str, object]:
    """What the numbers were measured on."""
    return {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "cpu_kernels": cpu_kernels(),
        "cpu_bfloat16": cpu_computes_bfloat16(),
        "platform": platform.platform(),
        "load_average_1min": os.getloadavg()[0],
    }


def save_results(name: str, results: dict) -> Path:
    """Write results as JSON under bench/results/."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(results, indent=2, default=float))
    print(f"results saved to {path}")
    return path
