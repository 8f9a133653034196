"""Prediction in float32 against the CPU's precision policy (``auto``: bfloat16 where the CPU
computes it natively), on models trained with the defaults for ``--minutes``.

For the walls stack (all 10 frames; denoised vs blurred truth, deconvolved vs sharp truth), three
real pairs of ``bench_real.py`` (a 16-bit and two 8-bit recordings, one frame each; scale-invariant
PSNR of the denoised output vs the truth) and bench_3d.py's water stack (3D defaults): the PSNR
of each precision, how far apart the two outputs are, and the time to predict.

    python bench/bench_precision.py                 # 1 minute of training per model
    python bench/bench_precision.py --minutes 0.2   # smoke run
"""

from __future__ import annotations

import argparse
import time

from bench_3d import make_stack, patch_size_for
from bench_real import PAIRS, guessed_psf_sigma, scores
from common import load_walls, machine, save_results
from napari_deconoising import (
    PredictionConfig,
    Predictor,
    TrainingConfig,
    gaussian_psf,
    psnr,
    train,
)
from napari_deconoising.io import AxesImage

PRECISIONS = ("float32", "auto")
REAL_PAIRS = ("ND_bacteria_16bit", "W2S_020_1", "GigaDB_actin60x")


def both_precisions(model, image) -> dict:
    """The model's result and seconds in each precision (a warm-up run first)."""
    outputs = {}
    for precision in PRECISIONS:
        predictor = Predictor(model, PredictionConfig(precision=precision))
        predictor.predict(image)
        start = time.perf_counter()
        outputs[precision] = (predictor.predict(image), time.perf_counter() - start)
        outputs[f"{precision}_computes"] = predictor.precision
    return outputs


def row(name: str, outputs: dict, score) -> dict:
    """PSNR per precision (``score(result)`` gives denoised and deconvolved, or None), the
    outputs' distance, and seconds."""
    exact, mixed = outputs["float32"][0], outputs["auto"][0]
    figures = {"case": name, "auto_computes": outputs["auto_computes"]}
    for precision in PRECISIONS:
        result, seconds = outputs[precision]
        figures[precision] = {"scores": score(result), "seconds": seconds}
    figures["denoised_outputs_apart_db"] = psnr(exact.denoised, mixed.denoised)
    print(
        f"{name}: float32 {figures['float32']['scores']} in {figures['float32']['seconds']:.2f} s"
        f" | {outputs['auto_computes']} {figures['auto']['scores']} in "
        f"{figures['auto']['seconds']:.2f} s | outputs {figures['denoised_outputs_apart_db']:.1f} "
        "dB apart",
        flush=True,
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=1.0, help="training budget per model")
    parser.add_argument("--name", default="precision", help="results file name")
    args = parser.parse_args()
    budget = {"minutes": args.minutes, "steps": None}
    rows = []
    walls = load_walls()
    model = train(walls["noisy"], walls["psf"], TrainingConfig(**budget))
    rows.append(
        row(
            "walls",
            both_precisions(model, walls["noisy"]),
            lambda r: [
                round(psnr(walls["blurred"], r.denoised), 3),
                round(psnr(walls["sharp"], r.deconvolved), 3),
            ],
        )
    )
    for name in REAL_PAIRS:
        noisy, truth = PAIRS[name].load()
        sigma = guessed_psf_sigma(noisy, None, None)["psf_sigma"]
        model = train(noisy[None], gaussian_psf(sigma), TrainingConfig(**budget))
        outputs = both_precisions(model, noisy[None])
        rows.append(
            row(name, outputs, lambda r, t=truth: [round(scores(r.denoised[0], t)["si_psnr"], 3)])
        )
    stack = make_stack("water", 32, 256)
    image = AxesImage(stack.noisy, "ZYX", dict(zip("ZYX", stack.voxel_size_um, strict=True)))
    config = TrainingConfig.for_mode("3d", **budget)
    model = train(image, stack.psf, config.replace(patch_size=patch_size_for(config, stack.psf)))
    rows.append(
        row(
            "water 3D",
            both_precisions(model, image),
            lambda r: [
                round(psnr(stack.blurred, r.denoised), 3),
                round(psnr(stack.sharp, r.deconvolved), 3),
            ],
        )
    )
    save_results(args.name, {"machine": machine(), "minutes": args.minutes, "rows": rows})


if __name__ == "__main__":
    main()
