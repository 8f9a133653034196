"""3D training options, measured on the synthetic widefield z-stacks of ``bench_3d.py``.

Trains 3D DecoNoising with each variant of the training settings for the same number of steps
(reproducible, independent of machine load) or the same minutes, predicts the stack and reports
the denoised PSNR against the blurred truth, the deconvolved PSNR against the sharp truth and
the seconds per step. It is how the 3D defaults (:data:`napari_deconoising.config.DEFAULTS_3D`)
are chosen; ``bench_3d.py`` then compares the result with plane-by-plane mode and the classical
baselines.

Variants: ``default``; ``coverage50``/``coverage90`` (blind spots count in the loss only where
50% / 90% of the PSF falls inside the patch); ``z16_coverage90`` (the same with 16-plane patches,
no Z enlargement; ``_tv`` adds a total-variation weight of 0.02); ``lr2x`` (twice the learning
rate); ``batch2`` / ``batch1`` (2 or 1 patches per step); ``patch128_batch1`` (one 128 px patch
per step: as many voxels as 4 of 64 px, and far fewer blind spots near a border the PSF crosses);
``depth3`` (one more pooling); ``output_scale3`` / ``output_scale40`` (the network output's
scale); ``no_positivity``; ``n2v`` (3D Noise2Void: no PSF, so the network outputs the denoised
stack itself; its 16-plane patches are not enlarged) -- how fast a 3D network learns to denoise
when its output is not tied to the PSF.

    python bench/bench_3d_options.py --steps 200 --variants default coverage90
    python bench/bench_3d_options.py --minutes 3 --stack oil
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bench_3d import STACKS, make_stack
from common import machine, save_results
from napari_deconoising import Predictor, Trainer, TrainingConfig, psnr, training
from napari_deconoising.io import AxesImage

#: Training settings of each variant, on top of the 3D defaults; ``z_per_psf_plane`` replaces
#: the trainer's Z-patch enlargement factor (:data:`training.PATCH_Z_PER_PSF_PLANE`).
VARIANTS: dict[str, dict] = {
    "default": {"min_psf_coverage": 0.0},
    "coverage50": {"min_psf_coverage": 0.5},
    "coverage90": {"min_psf_coverage": 0.9},
    "z16_coverage90": {"min_psf_coverage": 0.9, "patch_size_z": 16, "z_per_psf_plane": 1},
    "z16_coverage50": {"min_psf_coverage": 0.5, "patch_size_z": 16, "z_per_psf_plane": 1},
    "z16_coverage90_tv": {
        "min_psf_coverage": 0.9,
        "patch_size_z": 16,
        "z_per_psf_plane": 1,
        "tv_weight": 0.02,
    },
    "lr2x": {"learning_rate": 2e-3},
    "batch2": {"batch_size": 2},
    "batch1": {"batch_size": 1},
    "patch128_batch1": {"patch_size": 128, "batch_size": 1},
    "depth3": {"network": {"depth": 3, "start_filters": 16}},
    "output_scale3": {"output_scale": 3.0},
    "output_scale40": {"output_scale": 40.0},
    "no_positivity": {"positivity_weight": 0.0},
    "n2v": {"n2v": True},
}


def run_variant(
    sample, variant: str, steps: int | None, minutes: float | None, seed: int, save: Path | None
):
    """Train one variant on the stack and score its prediction (outputs saved to ``save``)."""
    values = dict(VARIANTS[variant])
    z_factor = values.pop("z_per_psf_plane", None)
    saved_factor = training.PATCH_Z_PER_PSF_PLANE
    if z_factor is not None:
        training.PATCH_Z_PER_PSF_PLANE = z_factor
    try:
        spacing = dict(zip("ZYX", sample.voxel_size_um, strict=True))
        image = AxesImage(sample.noisy, "ZYX", spacing)
        config = TrainingConfig.for_mode(
            "3d", steps=steps, minutes=minutes, device="cpu", seed=seed, **values
        )
        trainer = Trainer(image, None if config.n2v else sample.psf, config)
        start = time.perf_counter()
        last = None
        for event in trainer.run():
            last = event
        seconds = time.perf_counter() - start
    finally:
        training.PATCH_Z_PER_PSF_PLANE = saved_factor
    result = Predictor(trainer.model).predict(image)
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
        np.save(save / f"{variant}_denoised.npy", result.denoised)
        np.save(save / f"{variant}_deconvolved.npy", result.deconvolved)
    return {
        "variant": variant,
        "steps": last.steps,
        "seconds_per_step": seconds / max(last.steps, 1),
        "denoised_vs_blurred": psnr(sample.blurred, result.denoised),
        "deconvolved_vs_sharp": psnr(sample.sharp, result.deconvolved),
        "patch": [trainer.config.patch_size_z, trainer.config.patch_size],
        "notes": list(trainer.notes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=["default"])
    parser.add_argument("--steps", type=int, default=None, help="optimiser steps per variant")
    parser.add_argument("--minutes", type=float, default=None, help="or minutes per variant")
    parser.add_argument("--stack", choices=sorted(STACKS), default="water")
    parser.add_argument("--planes", type=int, default=32)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="3d_options")
    parser.add_argument("--save", type=Path, default=None, help="folder for the outputs (.npy)")
    args = parser.parse_args()
    if (args.steps is None) == (args.minutes is None):
        parser.error("give --steps or --minutes")
    sample = make_stack(args.stack, args.planes, args.size)
    settings = {**vars(args), "save": str(args.save)}
    results: dict = {"machine": machine(), "settings": settings, "runs": []}
    print(
        f"input {psnr(sample.blurred, sample.noisy):.2f} dB vs blurred, blurred truth "
        f"{psnr(sample.sharp, sample.blurred):.2f} dB vs sharp",
        flush=True,
    )
    for variant in args.variants:
        run = run_variant(sample, variant, args.steps, args.minutes, args.seed, args.save)
        results["runs"].append(run)
        print(
            f"{variant}: {run['steps']} steps ({run['seconds_per_step']:.2f} s/step), "
            f"denoised {run['denoised_vs_blurred']:.2f} dB, "
            f"deconvolved {run['deconvolved_vs_sharp']:.2f} dB",
            flush=True,
        )
    results["load_average_end"] = machine()["load_average_1min"]
    save_results(args.name, results)


if __name__ == "__main__":
    main()
