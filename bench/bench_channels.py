"""Two channels, 20-fold apart in brightness, with different PSFs: per-channel models vs one shared.

A synthetic recording (T, C, Y, X) whose channel 0 is a dim structure seen through a narrow PSF
and channel 1 another structure 20x brighter through a wider PSF (made by the package, so the
truth is known). Ways to train, each with the same number of optimiser steps per network:

- ``multi``: one model of the recording with axes TCYX: each channel gets its own normalisation,
  camera offset, PSF and network (what the product does now);
- ``alone``: a model trained on that channel only, with its own PSF (the reference), with the same
  seed and with another seed (``alone_seed1``: how much a seed alone moves the figures);
- ``shared``: what the product did before axes: the channels read as frames of one stack (SYX)
  with one normalisation; for a fair comparison each channel is scored with a shared model that
  was given that channel's own PSF (so only the shared normalisation differs).

Prints each channel's denoised PSNR (vs the blurred truth) and deconvolved PSNR (vs the sharp
truth) for the three and saves them under ``bench/results/channels.json``.

    python bench/bench_channels.py --steps 600
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from common import machine, save_results
from napari_deconoising import Trainer, TrainingConfig, make_sample, predict, psnr
from napari_deconoising.io import AxesImage

CHANNELS = [
    {"psf_sigma": 1.2, "photons": 15.0, "cell_size": 30.0, "offset": 100.0, "seed": 21},
    {"psf_sigma": 2.4, "photons": 300.0, "cell_size": 55.0, "offset": 100.0, "seed": 22},
]


def trained(images, psf, steps: int, axes: str, seed: int = 0, validation_fraction: float = 0.1):
    """A model trained for ``steps`` steps with the default settings, and the seconds it took."""
    start = time.perf_counter()
    config = TrainingConfig(steps=steps, seed=seed, validation_fraction=validation_fraction)
    trainer = Trainer(images, psf, config, axes=axes)
    for _ in trainer.run():
        pass
    return trainer.model, time.perf_counter() - start


def scores(samples, denoised: np.ndarray, deconvolved: np.ndarray) -> list[dict[str, float]]:
    """Per channel: denoised vs blurred truth, deconvolved vs sharp truth (means over frames)."""
    return [
        {
            "denoised": round(psnr(sample.blurred, denoised[:, c]), 2),
            "deconvolved": round(psnr(sample.sharp, deconvolved[:, c]), 2),
        }
        for c, sample in enumerate(samples)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument(
        "--validation-fraction",
        type=float,
        default=0.1,
        help="share of frames held out (0: every model trains on every frame, so that only the "
        "normalisation differs; with 0.1 a 6-frame channel loses one frame, and the shared "
        "model's 12 frames lose one frame of one channel only)",
    )
    args = parser.parse_args()
    fraction = args.validation_fraction
    samples = [make_sample((args.size, args.size), n_frames=args.frames, **c) for c in CHANNELS]
    recording = np.stack([s.noisy for s in samples], axis=1)  # (T, C, Y, X)
    psfs = [s.psf for s in samples]
    results: dict = {"machine": machine(), "steps": args.steps, "shape": list(recording.shape)}
    results["validation_fraction"] = fraction
    results["brightness_ratio"] = round(
        float((recording[:, 1].mean() - 100) / (recording[:, 0].mean() - 100)), 1
    )

    model, seconds = trained(AxesImage(recording, "TCYX"), psfs, args.steps, "TCYX", 0, fraction)
    result = predict(model, recording, axes="TCYX")
    results["multi"] = {"seconds": round(seconds), "channels": scores(samples, *_pair(result))}

    for key, seed in (("alone", 0), ("alone_seed1", 1)):
        channels = []
        for sample in samples:
            model, _ = trained(sample.noisy, sample.psf, args.steps, "SYX", seed, fraction)
            result = predict(model, sample.noisy)
            denoised, deconvolved = result.denoised[:, None], result.deconvolved[:, None]
            channels.append(scores([sample], denoised, deconvolved)[0])
        results[key] = {"seed": seed, "channels": channels}

    frames = recording.reshape(-1, args.size, args.size)  # the channels as frames of one stack
    shared = []
    for c, sample in enumerate(samples):
        model, _ = trained(frames, sample.psf, args.steps, "SYX", 0, fraction)
        result = predict(model, frames)
        denoised = result.denoised.reshape(recording.shape)[:, c : c + 1]
        deconvolved = result.deconvolved.reshape(recording.shape)[:, c : c + 1]
        shared.append(scores([sample], denoised, deconvolved)[0])
    results["shared"] = {"channels": shared}
    results["input"] = [round(psnr(s.blurred, s.noisy), 2) for s in samples]
    _print(results)
    save_results("channels" if fraction == 0.1 else f"channels-validation{fraction:g}", results)


def _pair(result) -> tuple[np.ndarray, np.ndarray]:
    return result.denoised, result.deconvolved


def _print(results: dict) -> None:
    print(f"recording {results['shape']}, brightness ratio {results['brightness_ratio']}x")
    print("channel | input | multi | alone | alone, seed 1 | shared (denoised / deconvolved, dB)")
    for c in range(len(CHANNELS)):
        row = [results[k]["channels"][c] for k in ("multi", "alone", "alone_seed1", "shared")]
        cells = " | ".join(f"{r['denoised']:.2f} / {r['deconvolved']:.2f}" for r in row)
        print(f"{c} | {results['input'][c]:.2f} | {cells}")


if __name__ == "__main__":
    main()
