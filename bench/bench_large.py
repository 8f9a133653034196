"""Large recordings: TIFF -> OME-Zarr prediction with bounded memory (issue #9).

Writes a synthetic uint16 recording (default 40 x 4096 x 4096, 1.3 GB: tiled ``make_sample``
frames with fresh Poisson noise per tile) plane by plane, trains a tiny model for a few steps,
then measures, each in a fresh process:

- ``deconoising predict big.tif --denoised den.zarr --deconvolved dec.zarr`` (block-wise):
  peak resident memory (``getrusage`` of that process) and seconds per pixel;
- the in-memory prediction of a 512 x 512 stack cut from the same data (the baseline of the
  time per pixel);
- with ``--cluster``, the same prediction through a 2-worker ``LocalCluster`` (byte-identical
  outputs expected; time and the workers' peak memory).

Targets (issue #9, 2 cores, 24 GB): peak RSS <= 1 GB; time per pixel within 15% of the
in-memory stack. Results go to bench/results/large.json.

    python bench/bench_large.py                       # the full 1.3 GB run
    python bench/bench_large.py --frames 2 --size 1024 # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, save_results

SAMPLE_TILE = 512


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=40, help="frames of the recording")
    parser.add_argument("--size", type=int, default=4096, help="frame side (px)")
    parser.add_argument("--baseline-frames", type=int, default=8, help="frames of the 512 stack")
    parser.add_argument("--block-size", type=int, default=1024, help="block side (px)")
    parser.add_argument("--steps", type=int, default=30, help="training steps of the model")
    parser.add_argument("--filters", type=int, default=16, help="U-Net start filters")
    parser.add_argument("--cluster", action="store_true", help="also run a 2-worker LocalCluster")
    parser.add_argument("--folder", type=Path, help="work folder (default: a temporary one)")
    parser.add_argument("--name", default="large", help="results file name")
    parser.add_argument(
        "--train-steps",
        type=int,
        default=100,
        help="steps of default training on the recording (its peak memory); 0: skip",
    )
    parser.add_argument("--no-predict", action="store_true", help="measure training only")
    return parser.parse_args(argv)


def write_recording(path: Path, frames: int, size: int, seed: int = 0) -> dict[str, float]:
    """A uint16 TIFF written plane by plane (memory: one plane)."""
    from napari_deconoising import make_sample

    sample = make_sample(shape=(SAMPLE_TILE, SAMPLE_TILE), n_frames=1, cell_size=24, seed=seed)
    blurred = np.asarray(sample.blurred, dtype=np.float32)
    reps = -(-size // SAMPLE_TILE)
    clean = np.tile(blurred, (reps, reps))[:size, :size]
    rng = np.random.default_rng(seed)

    def planes():
        for _ in range(frames):
            yield np.clip(rng.poisson(clean), 0, 65535).astype(np.uint16)

    start = time.perf_counter()
    tifffile.imwrite(
        path,
        planes(),
        shape=(frames, size, size),
        dtype=np.uint16,
        bigtiff=True,
        photometric="minisblack",
        metadata={"axes": "TYX"},
    )
    return {"seconds": time.perf_counter() - start, "bytes": path.stat().st_size}


def train_model(path: Path, steps: int, filters: int) -> None:
    from napari_deconoising import NetworkConfig, TrainingConfig, make_sample, train

    sample = make_sample(shape=(128, 128), n_frames=4, cell_size=24, seed=1)
    config = TrainingConfig(
        steps=steps,
        patch_size=64,
        batch_size=8,
        network=NetworkConfig(depth=2, start_filters=filters),
        validation_interval=max(steps, 1),
        device="cpu",
    )
    train(sample.noisy, sample.psf, config).save(path, overwrite=True)


def run_child(args: list[str], env: dict[str, str] | None = None) -> dict:
    """Run ``bench_large.py --child ...`` in a fresh process; return its JSON line."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", *map(str, args)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise SystemExit(f"child failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def child(argv: list[str]) -> None:
    """In a fresh process: run one measurement and print its figures as one JSON line."""
    import contextlib
    import io

    from napari_deconoising.cli import main
    from napari_deconoising.model.bundle import load_model
    from napari_deconoising.prediction.predictor import Predictor

    kind, rest = argv[0], argv[1:]
    start = time.perf_counter()
    cpu_start = _cpu_seconds()
    figures: dict = {}
    if kind == "predict":  # the CLI, block-wise; its own figures time the prediction only
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            code = main(["predict", *rest, "--json"])
        if code != 0:
            raise SystemExit(code)
        figures["command_s"] = time.perf_counter() - start
        start = time.perf_counter() - json.loads(printed.getvalue().splitlines()[-1])["seconds"]
    elif kind == "train":  # the CLI with its defaults: patches streamed through the cache
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            code = main(["train", *rest, "--json"])
        if code != 0:
            raise SystemExit(code)
        figures["steps"] = json.loads(printed.getvalue().splitlines()[-1])["steps"]
    elif kind == "baseline":  # the in-memory engine on a 512 x 512 stack
        source, model_path, frames = rest[0], rest[1], int(rest[2])
        stack = _crops(source, frames)
        predictor = Predictor(load_model(model_path))
        predictor.predict(stack[:1])  # warm-up, as the block-wise run warms up on its first
        start, cpu_start = time.perf_counter(), _cpu_seconds()
        predictor.predict(stack)
        figures["pixels"] = int(stack.size)
    figures["seconds"] = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    figures["cpu_seconds"] = usage.ru_utime + usage.ru_stime - cpu_start
    figures["max_rss_mb"] = _peak_rss_mb()
    print(json.dumps(figures))


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process so far: unlike wall time, it barely moves
    with what else the machine runs."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mb() -> float:
    """This process's peak resident memory (MB): ``VmHWM``, which starts afresh with the
    process's own address space (``ru_maxrss`` keeps the high-water mark of the process that
    forked it, across exec, so a child of a big benchmark process would report the parent's)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _crops(source: str, count: int) -> np.ndarray:
    """``count`` 512 x 512 crops of the recording (frames first, then along X)."""
    with tifffile.TiffFile(source) as tif:
        n_pages, width = len(tif.pages), tif.pages[0].shape[1]
        crops = []
        for k in range(count):
            x = (k // n_pages) * SAMPLE_TILE % max(width - SAMPLE_TILE + 1, 1)
            crops.append(tif.pages[k % n_pages].asarray()[:SAMPLE_TILE, x : x + SAMPLE_TILE])
    return np.stack(crops)


def _mean_baseline(before: dict, after: dict) -> dict:
    """The in-memory baseline measured before and after the long run (machine load drifts)."""
    return {
        "pixels": before["pixels"],
        "seconds": (before["seconds"] + after["seconds"]) / 2,
        "seconds_before_after": [before["seconds"], after["seconds"]],
        "cpu_seconds": (before["cpu_seconds"] + after["cpu_seconds"]) / 2,
        "max_rss_mb": max(before["max_rss_mb"], after["max_rss_mb"]),
    }


def _same_bytes(first: Any, second: Any) -> bool:
    """Whether two arrays hold the same bytes, compared plane by plane (little memory)."""
    if first.shape != second.shape or first.dtype != second.dtype:
        return False
    return all(
        first[index].tobytes() == second[index].tobytes() for index in np.ndindex(*first.shape[:-2])
    )


def cluster_run(folder: Path, source: Path, model: Path, block: int) -> dict:
    """Predict through a 2-worker LocalCluster and compare with the in-process output."""
    import zarr
    from distributed import Client, LocalCluster

    environment = dict(os.environ)  # LocalCluster sets OMP_NUM_THREADS=1 here for its workers
    start = time.perf_counter()
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        started = time.perf_counter() - start
        figures = run_child(
            [
                "predict", source, "--model", model, "--block-size", block,
                "--denoised", folder / "cluster_den.zarr",
                "--deconvolved", folder / "cluster_dec.zarr",
                "--scheduler", cluster.scheduler_address,
            ],
            env=environment,
        )  # fmt: skip
        with Client(cluster) as client:
            peaks = client.run(_peak_rss_mb)
        worker_rss = sorted(peaks.values())
    identical = all(
        _same_bytes(
            zarr.open_array(folder / f"cluster_{k}.zarr" / "0"),
            zarr.open_array(folder / f"{k}.zarr" / "0"),
        )
        for k in ("den", "dec")
    )
    return {
        "cluster_start_s": started,
        "seconds": figures["seconds"],
        "client_max_rss_mb": figures["max_rss_mb"],
        "worker_max_rss_mb": worker_rss,
        "byte_identical": identical,
    }


def prediction_run(folder: Path, source: Path, model: Path, args: argparse.Namespace) -> dict:
    """Block-wise prediction of the recording, and the in-memory baseline before and after."""
    before = run_child(["baseline", source, model, args.baseline_frames])
    print(f"in-memory 512 x 512 stack: {before}")
    large = run_child(
        [
            "predict", source, "--model", model, "--block-size", args.block_size,
            "--denoised", folder / "den.zarr", "--deconvolved", folder / "dec.zarr",
        ]
    )  # fmt: skip
    after = run_child(["baseline", source, model, args.baseline_frames])
    print(f"in-memory 512 x 512 stack, again: {after}")
    baseline = _mean_baseline(before, after)
    pixels = args.frames * args.size**2
    per_pixel = large["seconds"] / pixels
    baseline_per_pixel = baseline["seconds"] / baseline["pixels"]
    figures = {
        "model": {"steps": args.steps, "start_filters": args.filters, "depth": 2},
        "block_size": args.block_size,
        "blockwise": {**large, "pixels": pixels, "seconds_per_mpixel": per_pixel * 1e6},
        "in_memory_512": {**baseline, "seconds_per_mpixel": baseline_per_pixel * 1e6},
        "time_per_pixel_ratio": per_pixel / baseline_per_pixel,
        "cpu_time_per_pixel_ratio": (large["cpu_seconds"] / pixels)
        / (baseline["cpu_seconds"] / baseline["pixels"]),
    }
    print(
        f"block-wise: {large['seconds']:.1f} s, peak RSS {large['max_rss_mb']:.0f} MB, "
        f"{figures['time_per_pixel_ratio']:.3f} x the in-memory time per pixel "
        f"({figures['cpu_time_per_pixel_ratio']:.3f} x in CPU time)"
    )
    return figures


def training_run(folder: Path, source: Path, steps: int) -> dict:
    """``deconoising train`` with its defaults on the recording: peak memory and time."""
    figures = run_child(
        ["train", source, "--out", folder / "trained.pt", "--psf-sigma", 1.5, "--steps", steps]
    )
    print(
        f"training: {figures['steps']} steps in {figures['seconds']:.0f} s, "
        f"peak RSS {figures['max_rss_mb']:.0f} MB"
    )
    return figures


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        child(argv[1:])
        return
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.folder) as scratch:
        folder = Path(scratch)
        source, model = folder / "recording.tif", folder / "model.pt"
        print(f"writing {args.frames} x {args.size} x {args.size} uint16 to {source}")
        written = write_recording(source, args.frames, args.size)
        print(f"  {written['bytes'] / 1e9:.2f} GB in {written['seconds']:.0f} s")
        results: dict = {
            "recording": {"frames": args.frames, "size": args.size, **written},
            "targets": {"max_rss_mb": 1024, "time_per_pixel_ratio": 1.15, "train_rss_mb": 1536},
            "machine": machine(),
        }
        if not args.no_predict:
            train_model(model, args.steps, args.filters)
            results.update(prediction_run(folder, source, model, args))
        if args.cluster and not args.no_predict:
            results["cluster"] = cluster_run(folder, source, model, args.block_size)
            print(f"LocalCluster: {results['cluster']}")
        if args.train_steps:
            results["training"] = training_run(folder, source, args.train_steps)
        save_results(args.name, results)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
