"""3D DecoNoising against plane-by-plane DecoNoising, the best 3D Gaussian filter and 3D
Richardson-Lucy, on synthetic widefield z-stacks made by ``make_zstack_sample``.

Two stacks by default, with different structures, optics and noise (never tune to one):

* ``water``: the issue's stack, 32 x 256 x 256, 0.1 µm pixels, 0.25 µm z-step, NA 1.1 (water),
  520 nm, vectorial widefield PSF, filaments + membranes + vesicles, 30 photons at the peak;
* ``oil``: NA 1.4 (oil), 600 nm, 0.2 µm z-step, membranes + vesicles only, denser, 60 photons,
  read noise 2, another seed.

For each stack: the input's PSNR; the best 3D Gaussian filter (lateral and axial sigma swept
against the blurred truth); 3D Richardson-Lucy with the true PSF at its best iteration count
against the sharp truth (and its result blurred again, against the blurred truth); plane-by-plane
DecoNoising (``mode="2d"``: a 2D network, the PSF's in-focus plane, see :func:`in_focus_psf`)
and 3D DecoNoising (``mode="3d"``) with the same budget and each mode's default settings (the
patch made larger where the PSF needs it). Denoised outputs are compared with the blurred truth,
deconvolved ones with the sharp truth.

    python bench/bench_3d.py                         # 10 minutes per training, both stacks
    python bench/bench_3d.py --minutes 0.5 --size 64 # smoke run
    python bench/bench_3d.py --device cuda --name 3d_gpu
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
MODES = ("2d", "3d")


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
    }


def deconoising(sample, mode: str, minutes: float, device: str, seed: int) -> dict:
    """Train in ``mode`` for ``minutes`` (the mode's defaults otherwise), predict the stack."""
    spacing = dict(zip("ZYX", sample.voxel_size_um, strict=True))
    image = AxesImage(sample.noisy, "ZYX", spacing)
    config = TrainingConfig.for_mode(mode, minutes=minutes, steps=None, device=device, seed=seed)
    used_psf = sample.psf if mode == "3d" else in_focus_psf(sample)
    patch_size = patch_size_for(config, used_psf)
    if patch_size > min(sample.noisy.shape[1:]):
        reason = f"the PSF ({used_psf.shape[-1]} px) needs patches larger than the stack"
        return {"mode": mode, "skipped": reason}
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
    return {
        "mode": mode,
        "steps": last.steps,
        "training_minutes": last.seconds / 60,
        "prediction_seconds": seconds,
        "denoised_vs_blurred": psnr(sample.blurred, result.denoised),
        "deconvolved_vs_sharp": psnr(sample.sharp, result.deconvolved),
        "notes": list(trainer.notes),
        "config": trainer.config.to_dict(),
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
        for run in stack["deconoising"]:
            label = "plane by plane (2D)" if run["mode"] == "2d" else "3D"
            if "skipped" in run:
                rows.append(f"| {name} | DecoNoising {label}: skipped ({run['skipped']}) | | | | |")
                continue
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
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
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
        for mode in args.modes:
            run = deconoising(sample, mode, args.minutes, args.device, args.seed)
            stack["deconoising"].append(run)
            if "skipped" in run:
                print(f"{name} {mode}: skipped, {run['skipped']}", flush=True)
                continue
            print(
                f"{name} {mode}: {run['steps']} steps, denoised {run['denoised_vs_blurred']:.2f} "
                f"dB, deconvolved {run['deconvolved_vs_sharp']:.2f} dB, predict "
                f"{run['prediction_seconds']:.1f} s",
                flush=True,
            )
        results["load_average_end"] = float(np.round(machine()["load_average_1min"], 2))
    save_results(args.name, results)
    print(table(results))


if __name__ == "__main__":
    main()
