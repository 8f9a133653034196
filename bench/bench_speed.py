"""Training throughput, masking cost and prediction time on this machine.

Prints patches per second for our default network and for the 2020 network size (3 levels,
64 filters: 1.7 M parameters) with 100x100 patches as the 2020 code used (float32 steps), the
share of a step spent in blind-spot masking, the time per step of a real training run with the
default settings (the precision the Trainer picks on this CPU included), the time to predict
one 512x512 frame of the walls data (and of a 2048x2048 one), and (``--parts 3d``) the time per
step of a training run with the 3D defaults on bench_3d.py's water stack (32x256x256, its voxel
size and PSF, patches that hold the PSF as there) and the time to predict that stack.

    python bench/bench_speed.py                 # this machine's CPU class
    python bench/bench_speed.py --emulate-avx2  # the same CPU restricted to AVX2 kernels (most
                                                # laptops and lab desktops: no AVX-512, no bfloat16)
    python bench/bench_speed.py --parts prediction  # only some of the measurements
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

from bench_3d import make_stack, patch_size_for
from common import AVX2_ENVIRONMENT, load_walls, machine, save_results
from napari_deconoising import (
    NetworkConfig,
    PredictionConfig,
    Predictor,
    Trainer,
    TrainingConfig,
    TrainingStep,
    train,
)
from napari_deconoising.io import AxesImage
from napari_deconoising.model.convolution import psf_tensor
from napari_deconoising.model.devices import (
    compute_dtype,
    network_input,
    place_network,
    resolve_device,
)
from napari_deconoising.model.unet import UNet, count_parameters
from napari_deconoising.training.losses import deconoising_loss
from napari_deconoising.training.masking import blind_spot_mask


def time_steps(network_config: NetworkConfig, patch: int, batch: int, psf, device, repeats=10):
    """Seconds per training step and per masking call."""
    network = place_network(UNet(network_config), device)
    optimiser = torch.optim.Adam(network.parameters(), 1e-3)
    kernel = psf_tensor(psf, device)
    patches = torch.randn(batch, 1, patch, patch, device=device)
    generator = torch.Generator().manual_seed(0)

    def step():
        manipulated, mask = blind_spot_mask(patches, 1 / 32, 5, generator)
        loss = deconoising_loss(network(network_input(manipulated)) * 10, patches, mask, kernel, -1)
        optimiser.zero_grad()
        loss.total.backward()
        optimiser.step()

    for _ in range(3):
        step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    _sync(device)
    per_step = (time.perf_counter() - start) / repeats
    start = time.perf_counter()
    for _ in range(repeats * 5):
        blind_spot_mask(patches, 1 / 32, 5, generator)
    _sync(device)
    per_mask = (time.perf_counter() - start) / (repeats * 5)
    return per_step, per_mask, count_parameters(network)


PARTS = ("steps", "trainer", "prediction", "3d")


def emulate_avx2() -> None:
    """Run this script again with torch's and oneDNN's kernels limited to AVX2 (the variables
    must be set before torch starts)."""
    argv = [a for a in sys.argv if a != "--emulate-avx2"]
    os.execve(sys.executable, [sys.executable, *argv], {**os.environ, **AVX2_ENVIRONMENT})


def median_seconds(call, repeats: int) -> float:
    """Median wall seconds of ``repeats`` calls of ``call`` (after one warm-up call)."""
    call()
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        timings.append(time.perf_counter() - start)
    return float(np.median(timings))


def median_step_seconds(trainer: Trainer) -> float:
    """Median seconds between training steps of a whole run, the first five left out."""
    stamps = [time.perf_counter() for event in trainer.run() if isinstance(event, TrainingStep)]
    return float(np.median(np.diff(stamps[5:])))


def trainer_step_seconds(data: dict, device, steps: int = 40) -> tuple[float, str]:
    """Median seconds per step of a real training run with the default settings, and the
    precision the Trainer used."""
    config = TrainingConfig(steps=steps, seed=0, device=device.type)
    per_step = median_step_seconds(Trainer(data["noisy"], data["psf"], config, axes="SYX"))
    return per_step, compute_dtype(device, config.precision)


def volume_figures(device) -> dict:
    """3D: median seconds per step of a 30-step run with the 3D defaults, and median seconds
    to predict the stack."""
    sample = make_stack("water", 32, 256)
    spacing = dict(zip("ZYX", sample.voxel_size_um, strict=True))
    image = AxesImage(sample.noisy, "ZYX", spacing)
    config = TrainingConfig.for_mode("3d", steps=30, seed=0, device=device.type)
    config = config.replace(patch_size=patch_size_for(config, sample.psf))
    trainer = Trainer(image, sample.psf, config)
    per_step = median_step_seconds(trainer)
    predictor = Predictor(trainer.model)
    figures = {
        "seconds_per_step": per_step,
        "precision": compute_dtype(device, config.precision),
        "patch": [config.batch_size, config.patch_size_z, config.patch_size, config.patch_size],
        "seconds_per_stack_median": median_seconds(lambda: predictor.predict(image), 3),
        "prediction_precision": predictor.precision,
    }
    print(
        f"3D training run (3D defaults, {figures['patch']} patches): "
        f"{figures['seconds_per_step'] * 1000:.0f} ms/step in {figures['precision']}; "
        f"prediction {figures['seconds_per_stack_median']:.2f} s per 32x256x256 stack in "
        f"{figures['prediction_precision']}",
        flush=True,
    )
    return figures


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--emulate-avx2", action="store_true", help="limit torch's CPU kernels to AVX2"
    )
    parser.add_argument(
        "--parts", nargs="+", default=list(PARTS), choices=PARTS, help="what to measure"
    )
    args = parser.parse_args()
    if args.emulate_avx2:
        emulate_avx2()
    device = resolve_device(args.device)
    data = load_walls()
    psf = data["psf"]
    defaults = TrainingConfig()
    cpu_class = torch.backends.cpu.get_cpu_capability()
    results = {
        "machine": machine(),
        "device": str(device),
        "cpu_class": cpu_class,
        "training": [],
        "prediction": {},
    }
    print(f"CPU kernels: {cpu_class}; device {device}", flush=True)
    cases = [
        ("default", defaults.network, defaults.patch_size, defaults.batch_size),
        ("2020 size, 100x100-like", NetworkConfig(depth=2, start_filters=64), 96, 20),
    ]
    for name, network_config, patch, batch in cases if "steps" in args.parts else []:
        per_step, per_mask, params = time_steps(network_config, patch, batch, psf, device)
        figures = {
            "case": name,
            "parameters": params,
            "patch": patch,
            "batch": batch,
            "seconds_per_step": per_step,
            "patches_per_second": batch / per_step,
            "megapixels_per_second": batch * patch**2 / per_step / 1e6,
            "masking_share_of_step": per_mask / per_step,
        }
        results["training"].append(figures)
        print(
            f"training [{name}] {params:,} params, {batch} patches of {patch}x{patch}: "
            f"{per_step * 1000:.0f} ms/step, {figures['patches_per_second']:.1f} patches/s, "
            f"masking {100 * figures['masking_share_of_step']:.2f}% of a step",
            flush=True,
        )
    if "trainer" in args.parts:
        per_step, precision = trainer_step_seconds(data, device)
        results["trainer"] = {"seconds_per_step": per_step, "precision": precision}
        print(f"training run (defaults): {per_step * 1000:.0f} ms/step in {precision}", flush=True)
    if "prediction" in args.parts:
        results["prediction"] = prediction_seconds(data, psf, defaults, args.device)
    if "3d" in args.parts:
        results["3d"] = volume_figures(device)
    print("2020 code on the same data: 1.8-3.0 s per step of 20 100x100 patches, 1.8 s per frame")
    only = "" if set(args.parts) == set(PARTS) else "_" + "_".join(args.parts)
    save_results(f"speed_{device.type}_{cpu_class.lower()}{only}", results)


def prediction_seconds(data: dict, psf: np.ndarray, defaults: TrainingConfig, device: str) -> dict:
    """Median seconds to predict one 512x512 frame (and one 2048x2048 frame, the walls frame
    repeated) with the default network and prediction settings."""
    model = train(data["noisy"][:1], psf, defaults.replace(steps=1))  # weights do not matter here
    predictor = Predictor(model, PredictionConfig(device=device))
    small = data["noisy"][0].astype(np.float32)
    figures = {
        "tile": predictor.config.tile,
        "overlap": predictor.config.overlap,
        "precision": predictor.precision,
    }
    for repeats, frame in ((5, small), (3, np.tile(small, (4, 4)))):
        seconds = median_seconds(lambda frame=frame: predictor.predict(frame), repeats)
        size = "x".join(map(str, frame.shape))
        figures[f"seconds_per_{size}_frame_median"] = seconds
        print(
            f"prediction: {seconds:.3f} s per {size} frame (median, {predictor.precision})",
            flush=True,
        )
    return figures


if __name__ == "__main__":
    main()
