"""Correlated noise: one-pixel blind spot vs the automatic structured (or box) blind spot.

A synthetic recording made by the package (cell walls, ``make_sample``: 256x256, 4 frames, PSF
sigma 1.5 px, 30 photons, read noise 3, offset 100) whose noise (Poisson + Gaussian, as drawn) is
filtered along X with the kernel ``[w, 1, w] / sqrt(1 + 2 w^2)`` (neighbour weight ``w``, noise
variance kept): what a camera whose read-out smears along rows records. With ``--axes xy`` the
noise is filtered along Y too and the frames are rounded to 8 bits: what a resampled, exported
image holds (``auto`` then chooses a box). The truth is known.

For each weight, with the same steps and seed:

- ``pixel``: the one-pixel blind spot (``blind_spot="pixel"``, what training did before);
- ``auto``: the default, which measures the noise first and spans the correlated axis;
- the best Gaussian filter of each frame (``best_gaussian_filter``).

Prints the measured noise correlation and the blind spot ``auto`` chose, and the denoised PSNR
(vs the blurred truth) and deconvolved PSNR (vs the sharp truth) of each; saves them under
``bench/results/correlated_noise.json``. With weight 0 (white noise) ``auto`` must choose one
pixel, and then trains exactly the ``pixel`` run (not repeated).

    python bench/bench_correlated_noise.py --steps 600
    python bench/bench_correlated_noise.py --steps 600 --weights 0.7 0.3 0
    python bench/bench_correlated_noise.py --steps 300 --batch-size 8 --start-filters 16  # 2 cores
    python bench/bench_correlated_noise.py --steps 400 --weights 0.7 --axes xy --name box_noise
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import ndimage

from common import machine, save_results
from napari_deconoising import (
    NetworkConfig,
    Trainer,
    TrainingConfig,
    make_sample,
    predict,
    psnr,
)
from napari_deconoising.data.noise import measure_noise
from napari_deconoising.evaluation.baselines import best_gaussian_filter


def correlated_sample(weight: float, seed: int = 0, axes: str = "x"):
    """The sample with its noise filtered along X (and Y for ``axes="xy"``, then rounded to
    8 bits) by ``[w, 1, w]`` (variance kept)."""
    sample = make_sample((256, 256), n_frames=4, psf_sigma=1.5, photons=30.0, seed=seed)
    kernel = np.array([weight, 1.0, weight]) / np.sqrt(1 + 2 * weight**2)
    noise = ndimage.correlate1d(sample.noisy - sample.blurred, kernel, axis=-1, mode="reflect")
    if axes == "xy":
        noise = ndimage.correlate1d(noise, kernel, axis=-2, mode="reflect")
        sample.noisy = np.clip(np.round(sample.blurred + noise), 0, 255).astype(np.uint8)
    else:
        sample.noisy = (sample.blurred + noise).astype(np.float32)
    return sample


def train_and_score(sample, blind_spot: str, config: TrainingConfig) -> dict:
    """Train with ``blind_spot`` (otherwise ``config``), predict the frames, and measure."""
    config = config.replace(blind_spot=blind_spot)
    start = time.perf_counter()
    trainer = Trainer(sample.noisy, sample.psf, config)
    for _ in trainer.run():
        pass
    seconds = time.perf_counter() - start
    result = predict(trainer.model, sample.noisy)
    return {
        "blind_spot": trainer.config.blind_spot,
        "blind_spot_span": trainer.config.blind_spot_span,
        "notes": trainer.noise_notes,
        "psnr_denoised": psnr(sample.blurred, result.denoised),
        "psnr_deconvolved_vs_sharp": psnr(sample.sharp, result.deconvolved),
        "seconds": seconds,
    }


def gaussian_score(sample) -> dict:
    """The best Gaussian filter of each frame (sigma swept per frame)."""
    filtered = [best_gaussian_filter(frame, sample.blurred) for frame in sample.noisy]
    return {
        "psnr_denoised": float(np.mean([f.psnr for f in filtered])),
        "sigma": [f.sigma[0] for f in filtered],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weights", type=float, nargs="+", default=[0.7, 0.0])
    parser.add_argument("--batch-size", type=int, default=TrainingConfig().batch_size)
    parser.add_argument("--start-filters", type=int, default=NetworkConfig().start_filters)
    parser.add_argument("--axes", choices=("x", "xy"), default="x", help="noise filtered along")
    parser.add_argument("--name", default="correlated_noise")
    args = parser.parse_args()
    config = TrainingConfig(
        steps=args.steps,
        seed=args.seed,
        batch_size=args.batch_size,
        network=NetworkConfig(start_filters=args.start_filters),
    )
    results: dict = {
        "machine": machine(),
        "steps": args.steps,
        "seed": args.seed,
        "batch_size": args.batch_size,
        "start_filters": args.start_filters,
        "axes": args.axes,
        "runs": [],
    }
    for weight in args.weights:
        sample = correlated_sample(weight, axes=args.axes)
        report = measure_noise(sample.noisy)
        row = {
            "weight": weight,
            "correlation_x": report.correlation_x,
            "correlation_y": report.correlation_y,
            "psnr_noisy": psnr(sample.blurred, sample.noisy),
            "gaussian": gaussian_score(sample),
            "pixel": train_and_score(sample, "pixel", config),
        }
        if report.structured_span() or report.box_chosen():
            row["auto"] = train_and_score(sample, "auto", config)
        else:  # auto chooses one pixel: the same run as "pixel"
            row["auto"] = {**row["pixel"], "same_as": "pixel"}
        results["runs"].append(row)
        print(_lines(row), flush=True)
        save_results(args.name, results)


def _lines(row: dict) -> str:
    auto, pixel, gauss = row["auto"], row["pixel"], row["gaussian"]
    chosen = auto["blind_spot"] + (
        f" ±{auto['blind_spot_span']}" if auto["blind_spot_span"] else ""
    )
    return "\n".join(
        [
            f"weight {row['weight']}: noise correlation X {row['correlation_x']}, "
            f"Y {row['correlation_y']}; auto chose {chosen}",
            f"  noisy              {row['psnr_noisy']:.2f} dB",
            f"  best Gaussian      {gauss['psnr_denoised']:.2f} dB (sigma {gauss['sigma']})",
            f"  pixel blind spot   {pixel['psnr_denoised']:.2f} dB denoised, "
            f"{pixel['psnr_deconvolved_vs_sharp']:.2f} dB deconvolved ({pixel['seconds']:.0f} s)",
            f"  auto blind spot    {auto['psnr_denoised']:.2f} dB denoised, "
            f"{auto['psnr_deconvolved_vs_sharp']:.2f} dB deconvolved ({auto['seconds']:.0f} s)",
            f"  auto - pixel       {auto['psnr_denoised'] - pixel['psnr_denoised']:+.2f} dB",
        ]
    )


if __name__ == "__main__":
    main()
