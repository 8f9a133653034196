"""3D DecoNoising against plane-by-plane DecoNoising, the best 3D Gaussian filter and 3D
Richardson-Lucy, on synthetic widefield z-stacks made by ``make_zstack_sample``.

Two stacks by default, with different structures, optics and noise (never tune to one):

* ``water``: the issue's stack, 32 x 256 x 256, 0.1 µm pixels, 0.25 µm z-step, NA 1.1 (water),
  520 nm, vectorial widefield PSF, filaments + membranes + vesicles, 30 photons at the peak;
* ``oil``: NA 1.4 (oil), 600 nm, 0.2 µm z-step, membranes + vesicles only, denser, 60 photons,
  read noise 2, another seed.

For each stack: the input's PSNR; the best 3D Gaussian filter (lateral and axial sigma swept
against the blurred truth); 3D Richardson-Lucy with the true PSF at its best iteration count
against the sharp truth (an oracle stop; the better of plain RL with reflected edges and the
engine's accelerated RL with Bertero-Boccacci edges), and its result blurred again, against the
blurred truth; then DecoNoising with the same budget and each mode's default settings (the patch
made larger where the PSF needs it), by design:

* ``2d``: plane by plane (a 2D network, the PSF's in-focus plane, see :func:`in_focus_psf`);
* ``3d-joint``: one 3D network whose output is the deconvolved stack, fitted through the 3D PSF
  (the 2020 method in 3D);
* ``3d-two-stage``: a 3D network trained as a denoiser (blind-spot loss without the PSF), then
  the engine's Richardson-Lucy on its output, stopped by the rule that needs no truth
  (``PredictionConfig.rl_tolerance``); the row also gives what an oracle stop would reach.

Denoised outputs are compared with the blurred truth, deconvolved ones with the sharp truth.

    python bench/bench_3d.py                         # 10 minutes per training, both stacks
    python bench/bench_3d.py --minutes 0.5 --size 64 # smoke run
    python bench/bench_3d.py --device cuda --name 3d_gpu
    python bench/bench_3d.py --designs 2d 3d-two-stage  # a subset
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from common import machine, save_results
from napari_deconoising import Predictor, Trainer, TrainingConfig, psnr
from napari_deconoising.data.synthetic import make_zstack_sample
from napari_deconoising.evaluation.baselines import best_gaussian_filter, best_richardson_lucy
from napari_deconoising.io import AxesImage
from napari_deconoising.model.deconvolution import RichardsonLucy, flat_background
from napari_deconoising.psf.models import gaussian_psf_from_optics, widefield_psf

STACKS = {
    "water": {},
    "oil": {
        "na": 1.4,
        "wavelength_nm": 600.0,
        "z_step_um": 0.2,
        "structures": ("membranes", "vesicles"),
        "density": 1.5,
        "photons": 60.0,
        "read_noise": 2.0,
        "seed": 1,
    },
}
#: Each design: (training mode, TrainingConfig.design, 2.5D: planes the first layer mixes).
DESIGNS = {
    "2d": ("2d", "joint", 0),
    "3d-joint": ("3d", "joint", 0),
    "3d-two-stage": ("3d", "two-stage", 0),
    "2.5d-two-stage": ("3d", "two-stage", 5),
}
#: How far the oracle trace of a two-stage result's Richardson-Lucy goes.
ORACLE_ITERATIONS = 80


def make_stack(name: str, planes: int, size: int):
    """The named benchmark stack at ``planes`` x ``size`` x ``size``."""
    return make_zstack_sample(shape=(planes, size, size), **STACKS[name])


def baselines(sample, rl_max: int) -> dict:
    """Input, best 3D Gaussian filter and best 3D Richardson-Lucy figures."""
    start = time.perf_counter()
    gaussian = best_gaussian_filter(sample.noisy, sample.blurred)
    gaussian_seconds = time.perf_counter() - start
    start = time.perf_counter()
    rl = best_richardson_lucy(
        sample.noisy, sample.psf, sample.sharp, max_iterations=rl_max, offset=sample.offset
    )
    rl_seconds = time.perf_counter() - start
    accelerated = oracle_richardson_lucy(sample, sample.noisy, rl_max)
    return {
        "input_vs_blurred": psnr(sample.blurred, sample.noisy),
        "input_vs_sharp": psnr(sample.sharp, sample.noisy),
        "blurred_truth_vs_sharp": psnr(sample.sharp, sample.blurred),
        "gaussian_vs_blurred": gaussian.psnr,
        "gaussian_sigma_zyx": list(gaussian.sigma),
        "gaussian_seconds": gaussian_seconds,
        "rl_vs_sharp": rl.psnr_sharp,
        "rl_reblurred_vs_blurred": psnr(sample.blurred, rl.reblurred),
        "rl_iterations": rl.iterations,
        "rl_seconds": rl_seconds,
        "accelerated_rl_vs_sharp": accelerated["best_vs_sharp"],
        "accelerated_rl_iterations": accelerated["best_iteration"],
        "rl_best_vs_sharp": max(rl.psnr_sharp, accelerated["best_vs_sharp"]),
    }


def oracle_richardson_lucy(sample, image: np.ndarray, iterations: int) -> dict:
    """The engine's accelerated Richardson-Lucy of ``image`` with the true PSF: PSNR vs the
    sharp truth at every iteration, and the best (an oracle stop)."""
    deconvolver = RichardsonLucy(sample.psf, image.shape)
    trace: list[float] = []
    deconvolver.run(
        image,
        flat_background(image),
        iterations,
        0.0,
        lambda _i, estimate: trace.append(psnr(sample.sharp, estimate.numpy())),
    )
    best = int(np.argmax(trace))
    return {"best_iteration": best + 1, "best_vs_sharp": trace[best], "trace": trace}


def deconoising(sample, design: str, minutes: float, device: str, seed: int) -> dict:
    """Train ``design`` for ``minutes`` (its mode's defaults otherwise), predict the stack."""
    spacing = dict(zip("ZYX", sample.voxel_size_um, strict=True))
    image = AxesImage(sample.noisy, "ZYX", spacing)
    mode, how, z_context = DESIGNS[design]
    config = TrainingConfig.for_mode(
        mode, minutes=minutes, steps=None, device=device, seed=seed, design=how
    )
    if z_context:
        config = config.replace(network=config.network.replace(z_context=z_context))
    used_psf = sample.psf if mode == "3d" else in_focus_psf(sample)
    patch_size = patch_size_for(config, used_psf)
    if patch_size > min(sample.noisy.shape[1:]):
        reason = f"the PSF ({used_psf.shape[-1]} px) needs patches larger than the stack"
        return {"mode": mode, "design": design, "skipped": reason}
    config = config.replace(patch_size=patch_size)
    trainer = Trainer(image, used_psf, config)
    last = None
    for event in trainer.run():
        last = event
    predictor = Predictor(trainer.model)
    predictor.predict(AxesImage(sample.noisy[:, :64, :64], "ZYX", spacing))
    start = time.perf_counter()  # timed after a warm-up call (torch's first-call set-up)
    result = predictor.predict(image)
    seconds = time.perf_counter() - start
    oracle = {}
    if how == "two-stage":
        trace = oracle_richardson_lucy(sample, result.denoised, ORACLE_ITERATIONS)
        oracle = {"oracle_rl_iteration": trace["best_iteration"]}
        oracle["oracle_deconvolved_vs_sharp"] = trace["best_vs_sharp"]
    return {
        "mode": mode,
        "design": design,
        **oracle,
        "steps": last.steps,
        "training_minutes": last.seconds / 60,
        "prediction_seconds": seconds,
        "denoised_vs_blurred": psnr(sample.blurred, result.denoised),
        "deconvolved_vs_sharp": psnr(sample.sharp, result.deconvolved),
        "notes": list(trainer.notes),
        "config": trainer.config.to_dict(),
    }


LABELS = {
    "2d": "plane by plane (2D)",
    "3d-joint": "3D joint (2020 loss)",
    "3d-two-stage": "3D two-stage (denoiser + RL, automatic stop)",
    "2.5d-two-stage": "2.5D two-stage (5 planes into a 2D U-Net; denoiser + RL, automatic stop)",
}


def in_focus_psf(sample) -> np.ndarray:
    """The 2D PSF of plane-by-plane mode: the stack's PSF model for the same optics in 2D, i.e.
    the in-focus plane of the 3D PSF, on the 2D model's window (the 3D PSF's in-focus plane,
    cropped to 99.9% of its energy, spans the whole window made wide for defocused planes:
    identical within the 2D window, 2-3x wider, and slower to convolve)."""
    optics = (sample.na, sample.wavelength_nm, sample.voxel_size_um[2] * 1000)
    if sample.psf_model == "widefield":
        return widefield_psf(*optics)
    return gaussian_psf_from_optics(*optics)


def patch_size_for(config: TrainingConfig, psf: np.ndarray) -> int:
    """The mode's default patch size, or the next size the network takes that holds the PSF
    (a high-NA widefield PSF spreads wider than 64 pixels in its defocused planes)."""
    multiple = config.network.size_multiple
    needed = -(-(psf.shape[-1] + 1) // multiple) * multiple
    return max(config.patch_size, needed)


def table(results: dict) -> str:
    """A markdown table of every stack: denoised vs blurred and deconvolved vs sharp (dB)."""
    rows = [
        "| stack | method | denoised vs blurred (dB) | deconvolved vs sharp (dB) | train (min) | "
        "predict (s) |",
        "|---|---|---|---|---|---|",
    ]
    for name, stack in results["stacks"].items():
        b = stack["baselines"]
        rows.append(
            f"| {name} | input (noisy) | {b['input_vs_blurred']:.2f} | "
            f"{b['input_vs_sharp']:.2f} | | |"
        )
        rows.append(f"| {name} | blurred truth | | {b['blurred_truth_vs_sharp']:.2f} | | |")
        sigma = "/".join(f"{s:g}" for s in b["gaussian_sigma_zyx"])
        rows.append(
            f"| {name} | best 3D Gaussian (sigma z/y/x {sigma}) | "
            f"{b['gaussian_vs_blurred']:.2f} | | | |"
        )
        rows.append(
            f"| {name} | 3D Richardson-Lucy, best of {b['rl_iterations']} it. (re-blurred) | "
            f"{b['rl_reblurred_vs_blurred']:.2f} | {b['rl_vs_sharp']:.2f} | | "
            f"{b['rl_seconds']:.1f} |"
        )
        rows.append(
            f"| {name} | accelerated 3D Richardson-Lucy (Bertero edges), best of "
            f"{b['accelerated_rl_iterations']} it. | | {b['accelerated_rl_vs_sharp']:.2f} | | |"
        )
        for run in stack["deconoising"]:
            label = LABELS[run["design"]]
            if "skipped" in run:
                rows.append(f"| {name} | DecoNoising {label}: skipped ({run['skipped']}) | | | | |")
                continue
            if "oracle_deconvolved_vs_sharp" in run:
                label += (
                    f" (RL at an oracle stop, {run['oracle_rl_iteration']} it.: "
                    f"{run['oracle_deconvolved_vs_sharp']:.2f} dB)"
                )
            rows.append(
                f"| {name} | DecoNoising {label}, {run['steps']} steps | "
                f"{run['denoised_vs_blurred']:.2f} | {run['deconvolved_vs_sharp']:.2f} | "
                f"{run['training_minutes']:.1f} | {run['prediction_seconds']:.1f} |"
            )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget per mode")
    parser.add_argument("--size", type=int, default=256, help="Y and X size of the stacks")
    parser.add_argument("--planes", type=int, default=32, help="Z size of the stacks")
    parser.add_argument("--stacks", nargs="+", choices=sorted(STACKS), default=list(STACKS))
    parser.add_argument("--designs", nargs="+", choices=DESIGNS, default=list(DESIGNS))
    parser.add_argument("--rl-max", type=int, default=200, help="most Richardson-Lucy iterations")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--name", default="3d", help="results file name (bench/results/NAME.json)")
    args = parser.parse_args()
    results: dict = {"machine": machine(), "settings": vars(args), "stacks": {}}
    for name in args.stacks:
        start = time.perf_counter()
        sample = make_stack(name, args.planes, args.size)
        stack = {
            "shape": list(sample.noisy.shape),
            "voxel_size_um": list(sample.voxel_size_um),
            "psf_shape": list(sample.psf.shape),
            "psf_model": sample.psf_model,
            "generation_seconds": time.perf_counter() - start,
            "baselines": baselines(sample, args.rl_max),
            "deconoising": [],
        }
        results["stacks"][name] = stack
        print(f"{name}: baselines {stack['baselines']}", flush=True)
        for design in args.designs:
            run = deconoising(sample, design, args.minutes, args.device, args.seed)
            stack["deconoising"].append(run)
            if "skipped" in run:
                print(f"{name} {design}: skipped, {run['skipped']}", flush=True)
                continue
            print(
                f"{name} {design}: {run['steps']} steps, denoised {run['denoised_vs_blurred']:.2f} "
                f"dB, deconvolved {run['deconvolved_vs_sharp']:.2f} dB, predict "
                f"{run['prediction_seconds']:.1f} s",
                flush=True,
            )
        results["load_average_end"] = float(np.round(machine()["load_average_1min"], 2))
    save_results(args.name, results)
    print(table(results))


if __name__ == "__main__":
    main()
