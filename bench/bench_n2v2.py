"""DecoNoising vs careamics N2V and N2V2, side by side, at the same wall-clock training budget.

Every method trains on all frames of a synthetic recording (``synthetic_recordings.py``:
filaments and membranes at several PSF widths and photon counts) for ``--minutes`` and then
predicts every frame. Figures (``evaluation.metrics``): the denoised output's PSNR
against the blurred truth for all methods (``20 log10((max - min of truth) / rmse)``, mean over
frames), DecoNoising's deconvolved output against the sharp truth (with the blurred truth's own
PSNR against the sharp truth as the reference a deconvolution must beat), and the checkerboard
index (dB of the error's power at the Nyquist frequencies over its neighbourhood; about 0 dB
or below: no checkerboard). The table is printed as markdown and saved as JSON in
bench/results.

careamics runs in its own virtual environment through ``careamics_runner.py`` (a subprocess);
neither the package nor its tests import it. Set it up once (``--setup`` prints this)::

    python3.11 -m venv /work/careamics-venv
    /work/careamics-venv/bin/pip install careamics==0.3.5 torch==2.11.0 torchvision==0.26.0

careamics 0.3.5 needs torch < 2.14 and torchvision <= 0.26, and it imports torchvision (so do
Lightning's torchmetrics), which must be the build made for the installed torch: PyPI's
torchvision 0.26.0 goes with PyPI's torch 2.11.0 (a CUDA build, ~3 GB with its nvidia
libraries, that runs on the CPU when there is no GPU). A CPU-only torch 2.13 with PyPI's
torchvision fails on import ("operator torchvision::nms does not exist").

    python bench/bench_n2v2.py --minutes 0.1 --recordings filaments_s2_p40     # smoke run
    python bench/bench_n2v2.py                                  # 4 recordings x 3 methods x 3 min
    python bench/bench_n2v2.py --methods deconoising --psf-scale 0.75 \\
        --recordings filaments_s2_p40 membranes_s2_p40          # a PSF 25% too narrow
    python bench/bench_n2v2.py --steps 1000          # a budget independent of the load
    python bench/bench_n2v2.py --methods deconoising --ours-option replacement=median \\
        --ours-option downsampling=blur                         # options of ours
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import fields
from pathlib import Path

import numpy as np
import tifffile

from common import RESULTS, machine, save_results
from napari_deconoising import (
    NetworkConfig,
    Predictor,
    TrainingConfig,
    __version__,
    gaussian_psf,
    psnr,
    train,
)
from napari_deconoising.evaluation import metrics as quality
from napari_deconoising.evaluation.figures import side_by_side, write_png
from synthetic_recordings import RECORDINGS, Recording

CAREAMICS_PYTHON = os.environ.get("CAREAMICS_PYTHON", "/work/careamics-venv/bin/python")
RUNNER = Path(__file__).resolve().parent / "careamics_runner.py"
METHODS = ("deconoising", "n2v", "n2v2")
SETUP = __doc__.split("::", 1)[1].split("\n\n")[1]


def parse_options(items: list[str]) -> dict:
    """``KEY=VALUE`` pairs for TrainingConfig, or NetworkConfig when KEY is one of its
    settings (or written ``network.KEY``); VALUE is JSON, else taken as a string."""
    network_keys = {item.name for item in fields(NetworkConfig)}
    training, network = {}, {}
    for item in items:
        key, separator, text = item.partition("=")
        if not separator:
            raise SystemExit(f"--ours-option needs KEY=VALUE, got {item!r}")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        key = key.removeprefix("network.")
        (network if key in network_keys else training)[key] = value
    if network:
        training["network"] = NetworkConfig(**network)
    return training


def checkerboard(output: np.ndarray, truth: np.ndarray) -> float | None:
    """The checkerboard index (dB) when the package has it."""
    index = getattr(quality, "checkerboard_index", None)
    return None if index is None else index(output, truth)


def run_deconoising(recording: Recording, budget: dict, options: dict, psf_scale: float):
    """Train ours with the recording's PSF (its sigma times ``psf_scale``), predict all frames."""
    psf = recording.psf if psf_scale == 1 else gaussian_psf(recording.psf_sigma * psf_scale)
    config = TrainingConfig(**budget, **options)
    events = []
    model = train(recording.noisy, psf, config, on_event=events.append)
    steps = [event for event in events if type(event).__name__ == "TrainingStep"]
    finished = events[-1]
    start = time.perf_counter()
    result = Predictor(model).predict(recording.noisy)
    predict_seconds = time.perf_counter() - start
    return (
        {
            "steps": finished.steps,
            "epochs": steps[-1].epoch if steps else 0,
            "train_seconds": finished.seconds,
            "predict_seconds": predict_seconds,
            "config": config.to_dict(),
            "psf_sigma_used": recording.psf_sigma * psf_scale,
        },
        result.denoised,
        result.deconvolved,
    )


def run_careamics(recording: Recording, algorithm: str, budget: dict, folder: Path):
    """Train careamics ``algorithm`` in its own environment; its figures and denoised stack."""
    noisy = folder / "noisy.tif"
    if not noisy.exists():
        tifffile.imwrite(noisy, recording.noisy)
    output = folder / f"{algorithm}.tif"
    command = [
        CAREAMICS_PYTHON,
        str(RUNNER),
        f"--algorithm={algorithm}",
        f"--noisy={noisy}",
        f"--output={output}",
        *(f"--{key}={value}" for key, value in budget.items() if value is not None),
        f"--work-dir={folder / algorithm}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=folder)
    (folder / f"{algorithm}.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-3000:]
        raise RuntimeError(f"careamics {algorithm} failed (exit {done.returncode}):\n{tail}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return figures, tifffile.imread(output)


def measure(recording: Recording, method: str, args, options: dict, folder: Path) -> dict:
    """Run one method on one recording; its figures, PSNRs, checkerboard index and load."""
    load_before = os.getloadavg()[0]
    deconvolved = None
    budget = {"minutes": None, "steps": args.steps} if args.steps else {"minutes": args.minutes}
    if method == "deconoising":
        figures, denoised, deconvolved = run_deconoising(recording, budget, options, args.psf_scale)
    else:
        figures, denoised = run_careamics(recording, method, budget, folder)
    row = {
        "recording": recording.name,
        "method": method,
        **figures,
        "psnr_denoised": psnr(recording.blurred, denoised),
        "checkerboard_denoised_db": checkerboard(denoised, recording.blurred),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg()[0],
    }
    if deconvolved is not None:
        row["psnr_deconvolved_vs_sharp"] = psnr(recording.sharp, deconvolved)
        row["checkerboard_deconvolved_db"] = checkerboard(deconvolved, recording.sharp)
    row["_denoised"] = denoised
    return row


def reference(recording: Recording) -> dict:
    """What the outputs are compared with: the noisy input and the blurred truth."""
    return {
        "psf_sigma": recording.psf_sigma,
        "photons": recording.photons,
        "frames": len(recording.noisy),
        "shape": list(recording.noisy.shape[1:]),
        "psnr_noisy": psnr(recording.blurred, recording.noisy),
        "psnr_blurred_vs_sharp": psnr(recording.sharp, recording.blurred),
    }


def save_crops(recording: Recording, rows: list[dict], tag: str) -> None:
    """A 128x128 crop of the noisy frame, each method's denoised frame and the blurred truth."""
    crop = (slice(64, 192), slice(64, 192))
    panels = [recording.noisy[0][crop]]
    panels += [row["_denoised"][0][crop] for row in rows]
    panels.append(recording.blurred[crop])
    RESULTS.mkdir(exist_ok=True)
    write_png(RESULTS / f"{tag}_{recording.name}.png", side_by_side(panels))


def markdown(results: dict) -> str:
    """The results as a markdown table (PSNR in dB, checkerboard index in dB)."""
    lines = [
        "| recording | method | steps | epochs | train s | denoised PSNR | minus ours | "
        "checkerboard | deconvolved vs sharp | load |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in results["recordings"].items():
        ref = entry["reference"]
        ours = next((r for r in entry["runs"] if r["method"] == "deconoising"), None)
        for row in entry["runs"]:
            gap = "" if ours is None else f"{row['psnr_denoised'] - ours['psnr_denoised']:+.2f}"
            board = row.get("checkerboard_denoised_db")
            sharp = row.get("psnr_deconvolved_vs_sharp")
            lines.append(
                f"| {name} | {row['method']} | {row['steps']} | {row['epochs']} | "
                f"{row['train_seconds']:.0f} | {row['psnr_denoised']:.2f} | {gap} | "
                f"{'' if board is None else f'{board:+.1f}'} | "
                f"{'' if sharp is None else f'{sharp:.2f}'} | "
                f"{row['load_average_before']:.1f} |"
            )
        lines.append(
            f"| {name} | (noisy input / blurred truth) | | | | {ref['psnr_noisy']:.2f} | | | "
            f"{ref['psnr_blurred_vs_sharp']:.2f} | |"
        )
    arguments, host = results["arguments"], results["machine"]
    lines.append(
        f"\n{_budget_text(arguments)} of training per method, PSF sigma x "
        f"{arguments['psf_scale']:g} for ours, options {arguments['ours_option']}; "
        f"{host['cpu_count']} CPUs, {host['torch_threads']} torch threads; load: 1-min load "
        "average when the method started."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setup", action="store_true", help="print the careamics set-up")
    parser.add_argument("--recordings", nargs="+", default=list(RECORDINGS), choices=RECORDINGS)
    parser.add_argument("--minutes", type=float, default=3.0, help="training budget per method")
    parser.add_argument(
        "--steps", type=int, default=None, help="budget in optimiser steps instead (load-free)"
    )
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument(
        "--ours-option", action="append", default=[], help="KEY=VALUE into TrainingConfig"
    )
    parser.add_argument(
        "--psf-scale", type=float, default=1.0, help="train ours with the PSF sigma times this"
    )
    parser.add_argument("--name", default=None, help="results file name (bench/results)")
    args = parser.parse_args()
    if args.setup:
        print(SETUP)
        return
    options = parse_options(args.ours_option)
    budget = f"{args.steps}steps" if args.steps else f"{args.minutes:g}min"
    tag = args.name or f"n2v2_{budget}" + (f"_psf{args.psf_scale:g}" if args.psf_scale != 1 else "")
    results = {
        "machine": machine(),
        "code": code_version(),
        "arguments": vars(args),
        "recordings": {},
    }
    for name in args.recordings:
        recording = RECORDINGS[name]()
        entry = {"reference": reference(recording), "runs": []}
        results["recordings"][name] = entry
        with tempfile.TemporaryDirectory(prefix=f"bench_n2v2_{name}_") as folder:
            for method in args.methods:
                try:
                    row = measure(recording, method, args, options, Path(folder))
                except RuntimeError as error:  # a careamics failure: report it, go on
                    print(error, file=sys.stderr)
                    entry.setdefault("failures", {})[method] = str(error)
                    continue
                entry["runs"].append(row)
                print(f"{name} {method}: {json.dumps(_public(row), default=float)}", flush=True)
        save_crops(recording, entry["runs"], tag)
        for row in entry["runs"]:
            row.pop("_denoised")
        save_results(tag, results)
    print(markdown(results))
    print(f"load average at the end: {os.getloadavg()}", file=sys.stderr)


def code_version() -> dict:
    """The package version and git commit measured (uncommitted changes flagged)."""
    root = Path(__file__).resolve().parents[1]
    git = ["git", "-C", str(root)]
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run([*git, "status", "--porcelain", "src"], capture_output=True, text=True)
    return {
        "napari_deconoising": __version__,
        "commit": head.stdout.strip(),
        "uncommitted_changes_in_src": bool(dirty.stdout.strip()),
    }


def _budget_text(arguments: dict) -> str:
    steps = arguments.get("steps")
    return f"{steps} steps" if steps else f"{arguments['minutes']:g} min"


def _public(row: dict) -> dict:
    return {key: value for key, value in row.items() if not key.startswith("_")}


if __name__ == "__main__":
    main()
