"""Model compression on ../shared/data/walls: size, speed and quality against the targets.

Trains a teacher with the default TrainingConfig for ``--minutes`` (or loads ``--model``),
compresses it with a preset on the 10 noisy frames, and measures, for both models: parameters,
file size, time per 512x512 frame (the compressor's report, both models in the same run) and
the mean PSNR over the 10 frames of the denoised output against blurred.tif and the deconvolved
output against sharp.tif. Checks the issue's targets for the balanced preset:

- at least 4x fewer parameters and a 4x smaller file
- at least 2x faster per 512x512 frame
- denoised PSNR against blurred.tif at most 0.3 dB below the original model's
- the whole compression in under 3 minutes

    python bench/bench_compression.py                       # train 3 min, then compress
    python bench/bench_compression.py --model teacher.pt    # reuse a trained model
    python bench/bench_compression.py --model teacher.pt --preset fast smallest
    python bench/bench_compression.py --steps 1000 --name strong   # a better-trained teacher
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from common import RESULTS, load_walls, machine, save_results
from napari_deconoising import DecoNoisingModel, Predictor, TrainingConfig, psnr, train
from napari_deconoising.compression import compress

TARGETS = {
    "param_reduction_min": 4.0,
    "size_reduction_min": 4.0,
    "speedup_min": 2.0,
    "psnr_drop_max_db": 0.3,
    "compression_seconds_max": 180.0,
}


def teacher(
    data: dict, model: str | None, minutes: float, steps: int | None
) -> tuple[DecoNoisingModel, Path, dict]:
    """The original model: loaded, or trained with the default settings for ``minutes``
    (or ``steps``, which does not depend on the machine's load)."""
    if model is not None:
        return DecoNoisingModel.load(model), Path(model), {"loaded_from": model}
    path = RESULTS / "teacher.pt"
    config = TrainingConfig(steps=steps) if steps else TrainingConfig(minutes=minutes)
    start = time.perf_counter()
    trained = train(data["noisy"], data["psf"], config, model_path=path, overwrite=True)
    seconds = time.perf_counter() - start
    done = trained.metadata.get("steps")
    print(f"teacher: {done} steps in {seconds:.0f} s -> {path}", flush=True)
    info = {
        "trained_minutes": minutes if not steps else None,
        "steps_budget": steps,
        "seconds": seconds,
        "steps": done,
    }
    return DecoNoisingModel.load(path), path, info


def quality(model: DecoNoisingModel, data: dict) -> dict[str, float]:
    """Mean PSNR over the 10 frames: denoised vs blurred, deconvolved vs sharp."""
    result = Predictor(model).predict(data["noisy"])
    return {
        "psnr_denoised_vs_blurred": psnr(data["blurred"], result.denoised),
        "psnr_deconvolved_vs_sharp": psnr(data["sharp"], result.deconvolved),
    }


def check_targets(report: dict, before: dict, after: dict, seconds: float) -> dict[str, bool]:
    """Which of the issue's targets this run meets."""
    drop = before["psnr_denoised_vs_blurred"] - after["psnr_denoised_vs_blurred"]
    return {
        "params >= 4x fewer": report["param_reduction"] >= TARGETS["param_reduction_min"],
        "file >= 4x smaller": report["size_reduction"] >= TARGETS["size_reduction_min"],
        "frame >= 2x faster": report["speedup"] >= TARGETS["speedup_min"],
        "denoised PSNR drop <= 0.3 dB": drop <= TARGETS["psnr_drop_max_db"],
        "compression < 3 min": seconds < TARGETS["compression_seconds_max"],
    }


def run_preset(preset: str, original: DecoNoisingModel, source: Path, data: dict, before: dict):
    """Compress with ``preset``; returns the figures of this run."""
    out = RESULTS / f"compressed-{preset}.pt"
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    result = compress(source, data["noisy"], preset, out_path=out, overwrite=True)
    seconds = time.perf_counter() - start
    load_after = os.getloadavg()[0]
    report = result.report.to_dict()
    after = quality(DecoNoisingModel.load(out), data)
    targets = check_targets(report, before, after, seconds)
    print(f"\n== preset {preset} (teacher {source.name}) ==")
    print("\n".join(result.report.lines()))
    print(
        f"whole compress() call: {seconds:.1f} s; load average {load_before:.2f} -> "
        f"{load_after:.2f}"
    )
    for key in before:
        print(
            f"{key}: original {before[key]:.2f} dB, compressed {after[key]:.2f} dB "
            f"({after[key] - before[key]:+.2f} dB)"
        )
    if preset == "balanced":
        for name, ok in targets.items():
            print(f"  [{'PASS' if ok else 'FAIL'}] {name}")
    return {
        "preset": preset,
        "compress_seconds": seconds,
        "load_average": [load_before, load_after],
        "report": report,
        "quality_original": before,
        "quality_compressed": after,
        "targets": targets if preset == "balanced" else None,
        "file": str(out),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a trained model file (default: train one)")
    parser.add_argument("--minutes", type=float, default=3.0, help="teacher training budget")
    parser.add_argument("--steps", type=int, help="teacher budget in steps instead of minutes")
    parser.add_argument(
        "--preset", nargs="+", default=["balanced"], choices=("fast", "balanced", "smallest")
    )
    parser.add_argument("--name", default="compression", help="results file name")
    args = parser.parse_args()
    data = load_walls()
    RESULTS.mkdir(exist_ok=True)
    original, source, teacher_info = teacher(data, args.model, args.minutes, args.steps)
    before = quality(original, data)
    results = {"machine": machine(), "teacher": teacher_info, "targets": TARGETS, "runs": []}
    for preset in args.preset:
        results["runs"].append(run_preset(preset, original, source, data, before))
    save_results(args.name, results)


if __name__ == "__main__":
    main()
