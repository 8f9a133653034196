"""Defaults on recordings unlike the walls data: other PSF sizes, photon counts and offsets.

For each synthetic condition (made by the package, so the truth is known) trains with the default
settings for a short budget and prints PSNR of the input, of a Gaussian filter of the PSF's
width (a simple denoiser), of the denoised output and of the deconvolved output (vs the sharp
object, beside what the blurred truth itself scores).

    python bench/bench_generalisation.py --minutes 1.5
"""

from __future__ import annotations

import argparse

from scipy import ndimage

from common import machine, save_results
from napari_deconoising import Predictor, Trainer, TrainingConfig, make_sample, psnr

CONDITIONS = [
    {"psf_sigma": 1.0, "photons": 60.0, "offset": 100.0, "read_noise": 2.0, "cell_size": 30.0},
    {"psf_sigma": 2.5, "photons": 10.0, "offset": 1000.0, "read_noise": 3.0, "cell_size": 60.0},
    {"psf_sigma": 4.0, "photons": 200.0, "offset": 0.0, "read_noise": 5.0, "cell_size": 80.0},
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=1.5)
    args = parser.parse_args()
    results = {"machine": machine(), "minutes": args.minutes, "runs": []}
    for index, condition in enumerate(CONDITIONS):
        sample = make_sample((384, 384), n_frames=4, seed=10 + index, **condition)
        config = TrainingConfig(steps=None, minutes=args.minutes)
        trainer = Trainer(sample.noisy, sample.psf, config)
        for _ in trainer.run():
            pass
        result = Predictor(trainer.model).predict(sample.noisy)
        smoothed = ndimage.gaussian_filter(sample.noisy, (0, *(2 * [condition["psf_sigma"]])))
        figures = {
            **condition,
            "estimated_offset": trainer.model.normalisation.offset,
            "psnr_input": psnr(sample.blurred, sample.noisy),
            "psnr_gaussian_filter": psnr(sample.blurred, smoothed),
            "psnr_denoised": psnr(sample.blurred, result.denoised),
            "psnr_deconvolved_vs_sharp": psnr(sample.sharp, result.deconvolved),
            "psnr_blurred_vs_sharp": psnr(sample.sharp, sample.blurred),
        }
        results["runs"].append(figures)
        print(
            f"sigma {condition['psf_sigma']}, {condition['photons']:.0f} photons, offset "
            f"{condition['offset']:.0f} (estimated {figures['estimated_offset']:.1f}): input "
            f"{figures['psnr_input']:.2f}, Gaussian filter {figures['psnr_gaussian_filter']:.2f}, "
            f"denoised {figures['psnr_denoised']:.2f} dB | deconvolved vs sharp "
            f"{figures['psnr_deconvolved_vs_sharp']:.2f} (blurred truth "
            f"{figures['psnr_blurred_vs_sharp']:.2f}) dB",
            flush=True,
        )
    save_results("generalisation", results)


if __name__ == "__main__":
    main()
