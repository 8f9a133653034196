"""Every code path that runs on an accelerator, exercised once, with figures: for a GPU session.

Trains a 2D model (mixed precision as the device's policy decides), predicts on the device and on
the CPU (the two must agree), saves and reloads it, compresses it, exports it to ONNX (when onnx
is installed), trains and predicts a 3D two-stage model (Richardson-Lucy on the device), and
prints one line per path: ok or the error, the time, and its figures. Needs no benchmark data
(the package's own samples). Results go to bench/results/gpu_paths_<device>.json.

    python bench/gpu_paths.py                   # on CUDA (or MPS) when there is one
    python bench/gpu_paths.py --device cpu --quick   # a smoke run of the script itself
"""

from __future__ import annotations

import argparse
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from common import machine, save_results
from napari_deconoising import (
    PredictionConfig,
    TrainingConfig,
    compress,
    export_onnx,
    gaussian_psf,
    load_model,
    make_sample,
    make_zstack_sample,
    predict,
    psnr,
    train,
)
from napari_deconoising.config.compression import preset_config
from napari_deconoising.io.axes import AxesImage
from napari_deconoising.model.devices import compute_dtype, resolve_device

#: The device's prediction and the CPU's (float32) must agree to within this PSNR.
AGREEMENT_DB = 35.0


def device_facts(device: torch.device) -> dict:
    """What the engine sees on ``device``."""
    facts = {
        "device": str(device),
        "torch": torch.__version__,
        "training_precision": compute_dtype(device),
        "prediction_precision": compute_dtype(device),
    }
    if device.type == "cuda":
        facts["gpu"] = torch.cuda.get_device_name(device)
        facts["cuda"] = torch.version.cuda
    return facts


def path_2d(device: str, steps: int, folder: Path) -> dict:
    """Train, predict on the device and on the CPU, save and reload."""
    sample = make_sample((256, 256), n_frames=8)
    config = TrainingConfig(steps=steps, seed=0, device=device)
    start = time.perf_counter()
    model = train(sample.noisy, gaussian_psf(1.5), config)
    seconds = time.perf_counter() - start
    on_device = predict(model, sample.noisy, PredictionConfig(device=device))
    on_cpu = predict(model, sample.noisy, PredictionConfig(device="cpu"))
    path = model.save(folder / "model.pt")
    reloaded = predict(load_model(path), sample.noisy, PredictionConfig(device=device))
    figures = {
        "steps_per_second": steps / seconds,
        "input_db": psnr(sample.blurred, sample.noisy),
        "denoised_db": psnr(sample.blurred, on_device.denoised),
        "deconvolved_vs_sharp_db": psnr(sample.sharp, on_device.deconvolved),
        "device_vs_cpu_db": psnr(on_cpu.denoised, on_device.denoised),
        "reloaded_vs_trained_db": psnr(on_device.denoised, reloaded.denoised),
    }
    if figures["denoised_db"] < figures["input_db"] + 3:
        raise AssertionError(f"denoising gained less than 3 dB: {figures}")
    if min(figures["device_vs_cpu_db"], figures["reloaded_vs_trained_db"]) < AGREEMENT_DB:
        raise AssertionError(f"device and CPU outputs disagree: {figures}")
    return {"model": str(path), **figures}


def path_compression(device: str, model_path: str, steps: int) -> dict:
    """Compress the 2D model with the ``fast`` preset on the device."""
    sample = make_sample((256, 256), n_frames=4)
    config = preset_config("fast").replace(steps=steps, minutes=1.0, device=device)
    report = compress(model_path, sample.noisy, "fast", config).report
    return {
        "parameters": [report.params_before, report.params_after],
        "ms_per_frame": [report.ms_per_frame_before, report.ms_per_frame_after],
        "speed_up": report.ms_per_frame_before / report.ms_per_frame_after,
        "psnr_denoised_vs_original": report.psnr_denoised_vs_original,
        "compute_precision": report.compute_precision,
    }


def path_onnx(model_path: str, folder: Path) -> dict:
    """Export the (device-trained) 2D model to ONNX; onnxruntime checks it against torch."""
    exported = export_onnx(load_model(model_path), folder / "model.onnx")
    return {"bytes": exported.bytes, "max_relative_error": exported.max_relative_error}


def path_3d(device: str, steps: int, size: int) -> dict:
    """Train and predict a 3D two-stage model (Richardson-Lucy runs on the device)."""
    stack = make_zstack_sample((16, size, size))
    volume = AxesImage(stack.noisy, "ZYX", dict(zip("ZYX", stack.voxel_size_um, strict=True)))
    config = TrainingConfig.for_mode("3d", steps=steps, seed=0, device=device)
    start = time.perf_counter()
    model = train(volume, stack.psf, config)
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    result = predict(model, volume, PredictionConfig(device=device))
    return {
        "steps_per_second": steps / seconds,
        "predict_seconds": time.perf_counter() - start,
        "input_db": psnr(stack.blurred, stack.noisy),
        "denoised_db": psnr(stack.blurred, result.denoised),
        "deconvolved_vs_sharp_db": psnr(stack.sharp, result.deconvolved),
    }


def attempt(name: str, run: Callable[[], dict], results: dict) -> dict | None:
    """Run one path; record its figures or its error, and print a line either way."""
    start = time.perf_counter()
    try:
        figures = run()
    except Exception as error:  # a GPU path that fails is a finding, not the end of the run
        results[name] = {"ok": False, "error": repr(error), "trace": traceback.format_exc()}
        print(f"{name}: FAILED {error!r}", flush=True)
        return None
    figures = {"ok": True, "seconds": time.perf_counter() - start, **figures}
    results[name] = figures
    shown = {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}
    print(f"{name}: {shown}", flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto, cuda, mps or cpu")
    parser.add_argument("--quick", action="store_true", help="few steps: check the script")
    args = parser.parse_args()
    device = resolve_device(args.device)
    steps = 30 if args.quick else 600
    results = {"machine": machine(), "facts": device_facts(device)}
    print(results["facts"], flush=True)
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        two_d = attempt("2d", lambda: path_2d(device.type, steps, folder), results)
        if two_d is not None:
            model_path = two_d["model"]
            attempt(
                "compression", lambda: path_compression(device.type, model_path, steps), results
            )
            attempt("onnx", lambda: path_onnx(model_path, folder), results)
        size = 64 if args.quick else 128
        attempt("3d", lambda: path_3d(device.type, steps // 2, size), results)
    save_results(f"gpu_paths_{device.type}", results)
    failed = [
        name
        for name, entry in results.items()
        if isinstance(entry, dict) and not entry.get("ok", True)
    ]
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    np.seterr(divide="ignore")
    main()
