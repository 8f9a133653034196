"""How fast the compressed networks' widths run on each CPU class, side by side in one run.

Times the bare U-Net forward pass (float32, channels-last, inference mode, as prediction runs it)
on one 576x576 tile (a 512x512 frame with its 32-pixel context) for the default network and for
the widths each compression preset plans with widths rounded to multiples of 1, 8 and 16. Each
CPU class runs in its own process: the CPU as it is, and limited to AVX2 kernels
(``ATEN_CPU_CAPABILITY=avx2``, ``ONEDNN_MAX_CPU_ISA=AVX2``: most laptops and lab desktops).
Weights are random: the time does not depend on them.

    python bench/bench_widths.py
    python bench/bench_widths.py --repeats 15 --side 1024
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch

from common import AVX2_ENVIRONMENT, machine, save_results
from napari_deconoising import NetworkConfig
from napari_deconoising.compression.pruning import plan_widths
from napari_deconoising.config.compression import PRESETS
from napari_deconoising.model.devices import cpu_kernels, network_input, place_network
from napari_deconoising.model.unet import UNet, count_parameters

CLASSES = {"native": {}, "avx2": AVX2_ENVIRONMENT}
ROUNDINGS = (1, 8, 16)


def plans() -> dict[str, list[int]]:
    """The default network's widths and each preset's plan per rounding."""
    original = UNet(NetworkConfig()).widths
    found = {"default network": list(original)}
    for preset, config in PRESETS.items():
        for step in ROUNDINGS:
            found[f"{preset}, multiples of {step}"] = plan_widths(
                original, config.replace(round_to=step)
            )
    return found


def forward_ms(widths: list[int], side: int, repeats: int) -> tuple[float, int]:
    """Median milliseconds of one forward pass on a ``side`` x ``side`` tile, and parameters."""
    torch.manual_seed(0)
    network = place_network(UNet(NetworkConfig(), widths), torch.device("cpu")).eval()
    tile = network_input(torch.rand(1, 1, side, side))
    timings = []
    with torch.inference_mode():
        network(tile)
        for _ in range(repeats):
            start = time.perf_counter()
            network(tile)
            timings.append(1000 * (time.perf_counter() - start))
    return float(np.median(timings)), count_parameters(network)


def measure_here(side: int, repeats: int) -> dict:
    """Every plan timed in this process (one CPU class)."""
    rows = {}
    for name, widths in plans().items():
        ms, params = forward_ms(widths, side, repeats)
        rows[name] = {"widths": widths, "ms": ms, "parameters": params}
    return {"cpu_class": cpu_kernels(), "rows": rows}


def measure_class(name: str, side: int, repeats: int) -> dict:
    """Run this script for one CPU class in a fresh process (the kernel limits must be set
    before torch starts) and return its figures."""
    command = [sys.executable, __file__, "--here", "--side", str(side), "--repeats", str(repeats)]
    done = subprocess.run(
        command, env={**os.environ, **CLASSES[name]}, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(results: dict[str, dict], side: int) -> str:
    """Milliseconds and speed-up over the default network, per plan and class."""
    names = list(results)
    header = "| plan | widths | " + " | ".join(
        f"{n} ({results[n]['cpu_class']}) ms, speed-up" for n in names
    )
    lines = [header + " |", "| --- | --- |" + " --- |" * len(names)]
    first = results[names[0]]["rows"]
    for plan, row in first.items():
        cells = []
        for n in names:
            ms = results[n]["rows"][plan]["ms"]
            base = results[n]["rows"]["default network"]["ms"]
            cells.append(f"{ms:.0f} ms, {base / ms:.2f}x")
        lines.append(f"| {plan} | {row['widths']} | " + " | ".join(cells) + " |")
    lines.append(f"\nOne forward pass on a {side}x{side} tile, float32, median.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=576, help="tile side (px)")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--here", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.here:
        print(json.dumps(measure_here(args.side, args.repeats)))
        return
    results = {name: measure_class(name, args.side, args.repeats) for name in CLASSES}
    print(table(results, args.side))
    save_results("widths", {"machine": machine(), "side": args.side, "classes": results})


if __name__ == "__main__":
    main()
