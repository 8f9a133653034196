"""Denoising and deconvolution quality on ../shared/data/walls at given training budgets.

Trains with the default TrainingConfig (only the budget changes) on the 10 noisy frames, predicts
all of them, and prints the mean PSNR of the denoised output against blurred.tif and of the
deconvolved output against sharp.tif. ``--n2v`` runs the plain Noise2Void mode of the same engine.

    python bench/bench_quality.py --minutes 1 3 10
    python bench/bench_quality.py --minutes 3 --n2v
    python bench/bench_quality.py --steps 1500       # reproducible, independent of machine load
"""

from __future__ import annotations

import argparse
import json
import time

from common import RESULTS, load_walls, machine, save_results
from napari_deconoising import Predictor, Trainer, TrainingConfig, psnr
from napari_deconoising.evaluation.figures import side_by_side, write_png


def save_crops(name: str, data: dict, denoised, deconvolved) -> None:
    """A 192x192 crop of noisy, denoised, deconvolved and sharp truth side by side."""
    crop = (slice(160, 352), slice(160, 352))
    panels = [data["noisy"][0][crop], denoised[0][crop], deconvolved[0][crop], data["sharp"][crop]]
    RESULTS.mkdir(exist_ok=True)
    write_png(RESULTS / f"{name}.png", side_by_side(panels))


def run(data: dict, minutes: float | None, steps: int | None, n2v: bool, overrides: dict) -> dict:
    config = TrainingConfig(minutes=minutes, steps=steps, n2v=n2v, **overrides)
    trainer = Trainer(data["noisy"], data["psf"], config)
    history = []
    for event in trainer.run():
        if type(event).__name__ == "ValidationResult":
            history.append((event.step, event.validation_loss))
        last = event
    start = time.perf_counter()
    result = Predictor(trainer.model).predict(data["noisy"])
    predict_seconds = time.perf_counter() - start
    budget = f"{minutes}min" if minutes else f"{steps}steps"
    kind = "n2v" if n2v else "deconoising"
    save_crops(f"crops_{kind}_{budget}", data, result.denoised, result.deconvolved)
    return {
        "minutes": minutes,
        "steps_budget": steps,
        "n2v": n2v,
        "overrides": overrides,
        "steps": last.steps,
        "training_seconds": last.seconds,
        "prediction_seconds_per_frame": predict_seconds / len(data["noisy"]),
        "psnr_input": psnr(data["blurred"], data["noisy"]),
        "psnr_denoised": psnr(data["blurred"], result.denoised),
        "psnr_deconvolved_vs_sharp": psnr(data["sharp"], result.deconvolved),
        "psnr_denoised_vs_sharp": psnr(data["sharp"], result.denoised),
        "validation_history": history,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument("--minutes", type=float, nargs="+")
    budget.add_argument("--steps", type=int, nargs="+")
    parser.add_argument("--n2v", action="store_true")
    parser.add_argument("--set", nargs="*", default=[], help="config overrides as key=json-value")
    parser.add_argument("--name", default=None, help="results file name")
    args = parser.parse_args()
    overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    data = load_walls()
    results = {"machine": machine(), "runs": []}
    for value in args.minutes or args.steps:
        minutes, steps = (value, None) if args.minutes else (None, value)
        figures = run(data, minutes, steps, args.n2v, overrides)
        results["runs"].append(figures)
        print(
            f"{'N2V' if args.n2v else 'DecoNoising'} budget {value} "
            f"{'min' if minutes else 'steps'} "
            f"{overrides}: {figures['steps']} steps in {figures['training_seconds']:.0f} s | "
            f"denoised {figures['psnr_denoised']:.2f} dB vs blurred | deconvolved "
            f"{figures['psnr_deconvolved_vs_sharp']:.2f} dB vs sharp (input "
            f"{figures['psnr_input']:.2f} dB) | predict "
            f"{figures['prediction_seconds_per_frame']:.2f} s/frame",
            flush=True,
        )
    name = args.name or ("quality_n2v" if args.n2v else "quality")
    save_results(name, results)


if __name__ == "__main__":
    main()
