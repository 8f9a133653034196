"""DecoNoising on real recordings with a ground truth, against careamics N2V / N2V2 and a
Gaussian filter, at the same wall-clock training budget.

The pairs are those of ``../shared/data/real/pairs2d`` (see its README): W2S widefield (one
frame vs the mean of 400), FMD confocal and widefield (one frame vs the mean of 50; every
channel of the 3-channel files is a pair of its own), GigaDB actin (low vs high SNR) and the
16-bit bacteria pair. Every method trains on the one noisy frame it then denoises, as a user
with a single recording would.

Figures, after the README's caveats: the truth of the two FMD confocal BPAE channels that sit
1 px lower is rolled by one row; one row and column at each border are left out; every output
is compared after the affine fit ``a * output + b`` closest to the truth (least squares), since
the 8-bit files were display-scaled each on its own: **scale-invariant PSNR**
(``20 log10((max - min of truth) / rmse)``) and **SSIM** (scikit-image, data range of the truth)
of the fitted output.

Methods (``--methods``):
- ``gaussian``: a Gaussian filter of sigma 1.5 x the PSF sigma guessed for ours (no truth
  needed), and ``gaussian_best``: the best of a sweep of sigmas against the truth (an oracle no
  user has: the stricter reference);
- ``deconoising``: ours with the defaults, denoised output (the deconvolved one is saved in the
  figures; it has no truth to compare with);
- ``n2v_ours``: ours as plain Noise2Void (``n2v=True``);
- ``n2v``, ``n2v2``: careamics 0.3.5 in its own environment (``bench_n2v2.py --setup``).

No pair gives its optics, so ours gets the package's automatic PSF for files without pixel
size (``deconoising train --psf auto``): a Gaussian of FWHM ``SPECTRUM_FRACTION`` x the widest
blur the image's power spectrum shows, at least 1 px
(:func:`napari_deconoising.data.psf_estimate.estimated_psf_sigma`); ``--psf-fraction`` replaces
that fraction, ``--psf-sigma`` fixes one sigma (pixels) for every pair.

    python bench/bench_real.py --minutes 0.2 --pairs W2S_020_1 --methods gaussian deconoising
    python bench/bench_real.py --minutes 2                  # every pair, every method
    python bench/bench_real.py --minutes 10 --pairs W2S_020_1 FMD_Confocal_FISH
    python bench/bench_real.py --unpaired --minutes 2       # Convallaria and BPAE figures only
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
from scipy import ndimage
from skimage.metrics import structural_similarity

from bench_n2v2 import code_version, parse_options, run_careamics
from common import RESULTS, SHARED, machine, save_results
from napari_deconoising import Predictor, TrainingConfig, gaussian_psf, train
from napari_deconoising.config.psf import OpticsConfig
from napari_deconoising.data import psf_estimate
from napari_deconoising.data.psf_check import check_psf
from napari_deconoising.evaluation.figures import to_uint8, write_png

REAL = SHARED / "data" / "real"
PAIRS_FOLDER = REAL / "pairs2d"
METHODS = ("gaussian", "gaussian_best", "deconoising", "n2v_ours", "n2v", "n2v2")
GAUSSIAN_SIGMAS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0)
W2S = ("010_0", "020_1", "031_2", "035_1", "042_1", "044_0", "049_0", "077_2", "085_1", "099_0")
W2S += ("100_1",)
UNPAIRED = {
    "Convallaria": ("noisy2d/PN2V_Convallaria_frame0000.tif", None),
    "BPAE_widefield_actin": ("noisy2d/BPAE_widefield_actin_mito_nuclei.tif", 0),
}


@dataclass(frozen=True)
class Pair:
    """One noisy frame and its truth: files in the pairs folder, the channel of a 3-channel
    file, and the rows the truth is rolled by to align it (README caveat)."""

    noisy_file: str
    truth_file: str
    channel: int | None = None
    truth_roll: int = 0

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """(noisy in the file's own data type, truth as float32)."""
        noisy = tifffile.imread(PAIRS_FOLDER / self.noisy_file)
        truth = tifffile.imread(PAIRS_FOLDER / self.truth_file).astype(np.float32)
        if self.channel is not None:
            noisy, truth = noisy[self.channel], truth[self.channel]
        return noisy, np.roll(truth, self.truth_roll, axis=0)


def _pairs() -> dict[str, Pair]:
    pairs = {f"W2S_{key}": Pair(f"W2S_{key}_avg1.tif", f"W2S_{key}_avg400.tif") for key in W2S}
    for channel in range(3):
        pairs[f"FMD_Confocal_BPAE_ch{channel}"] = Pair(
            "FMD_Confocal_BPAE_fov1_RGB_raw.tif",
            "FMD_Confocal_BPAE_fov1_RGB_avg50.tif",
            channel,
            -1 if channel < 2 else 0,
        )
    pairs["FMD_Confocal_FISH"] = Pair(
        "FMD_Confocal_FISH_fov3_raw.tif", "FMD_Confocal_FISH_fov3_avg50.tif"
    )
    for channel in range(3):
        pairs[f"FMD_WideField_BPAE_ch{channel}"] = Pair(
            "FMD_WideField_BPAE_RGB_raw.tif", "FMD_WideField_BPAE_RGB_avg50.tif", channel
        )
    pairs["GigaDB_actin60x"] = Pair(
        "GigaDB_actin60x_lowsnr_crop1024.tif", "GigaDB_actin60x_highsnr_crop1024.tif"
    )
    pairs["ND_bacteria_16bit"] = Pair("ND_bacteria_avg1_16bit.tif", "ND_bacteria_avg_16bit.tif")
    return pairs


PAIRS = _pairs()


def affine_fit(output: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """``a * output + b`` closest to ``truth`` (least squares)."""
    x, y = output.astype(np.float64).ravel(), truth.astype(np.float64).ravel()
    design = np.stack([x, np.ones_like(x)], axis=1)
    (scale, offset), *_ = np.linalg.lstsq(design, y, rcond=None)
    return (scale * output + offset).astype(np.float64)


def interior(image: np.ndarray) -> np.ndarray:
    """The image without one row and column at each border (where a roll wrapped)."""
    return image[1:-1, 1:-1]


def scores(output: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Scale-invariant PSNR and SSIM of ``output`` against ``truth`` (interiors, after the
    affine fit)."""
    truth_inner = interior(truth).astype(np.float64)
    fitted = affine_fit(interior(output), truth_inner)
    data_range = float(truth_inner.max() - truth_inner.min())
    rmse = math.sqrt(float(np.mean((fitted - truth_inner) ** 2)))
    return {
        "si_psnr": 20 * math.log10(data_range / rmse),
        "ssim": float(structural_similarity(truth_inner, fitted, data_range=data_range)),
    }


def guessed_psf_sigma(noisy: np.ndarray, fraction: float | None, fixed: float | None) -> dict:
    """The Gaussian PSF sigma ours is given, and what it came from: the package's estimate from
    the image's spectrum (``deconoising train --psf auto`` on a file without pixel size), with
    its fraction of the data's blur replaced by ``fraction`` when given, or ``fixed``."""
    blur = check_psf(noisy, gaussian_psf(1.0)).data_fwhm_px
    if fixed is not None:
        return {"psf_sigma": fixed, "data_blur_fwhm_px": blur, "psf_source": "fixed"}
    rule = {} if fraction is None else {"fraction": fraction}
    sigma = psf_estimate.psf_sigma_from_blur(blur, **rule)
    source = "spectrum" if sigma is not None else "default sigma"
    sigma = OpticsConfig().sigma if sigma is None else sigma
    return {"psf_sigma": sigma, "data_blur_fwhm_px": blur, "psf_source": source}


def run_ours(
    noisy: np.ndarray, sigma: float, minutes: float, n2v: bool, options: dict | None = None
) -> dict:
    """Train ours on the one frame (in its file's data type) for ``minutes`` (``options``: more
    TrainingConfig settings), predict it."""
    config = TrainingConfig(minutes=minutes, steps=None, n2v=n2v, **(options or {}))
    events: list = []
    model = train(noisy[None], gaussian_psf(sigma), config, on_event=events.append)
    start = time.perf_counter()
    result = Predictor(model).predict(noisy[None])
    finished = events[-1]
    return {
        "figures": {
            "steps": finished.steps,
            "train_seconds": finished.seconds,
            "predict_seconds": time.perf_counter() - start,
            "blind_spot": model.training_config.get("blind_spot"),
            "blind_spot_span": model.training_config.get("blind_spot_span"),
        },
        "denoised": np.asarray(result.denoised)[0],
        "deconvolved": None if n2v else np.asarray(result.deconvolved)[0],
    }


def run_method(method: str, noisy: np.ndarray, truth: np.ndarray, psf: dict, args, folder: Path):
    """One method on one pair: its figures and outputs (``denoised``, maybe ``deconvolved``)."""
    if method == "gaussian":
        sigma = 1.5 * psf["psf_sigma"]
        filtered = ndimage.gaussian_filter(noisy.astype(np.float64), sigma, mode="reflect")
        return {"figures": {"sigma": sigma}, "denoised": filtered, "deconvolved": None}
    if method == "gaussian_best":
        filtered = {
            sigma: ndimage.gaussian_filter(noisy.astype(np.float64), sigma, mode="reflect")
            for sigma in GAUSSIAN_SIGMAS
        }
        best = max(filtered, key=lambda sigma: scores(filtered[sigma], truth)["si_psnr"])
        return {"figures": {"sigma": best}, "denoised": filtered[best], "deconvolved": None}
    if method in ("deconoising", "n2v_ours"):
        options = parse_options(args.ours_option)
        native = noisy.astype(psf["dtype"])  # the file's values: integers stay exact
        return run_ours(native, psf["psf_sigma"], args.minutes, method == "n2v_ours", options)
    figures, denoised = run_careamics(_Recording(noisy), method, {"minutes": args.minutes}, folder)
    return {"figures": figures, "denoised": np.asarray(denoised)[0], "deconvolved": None}


@dataclass
class _Recording:
    """What ``bench_n2v2.run_careamics`` reads: a stack of frames."""

    frame: np.ndarray

    @property
    def noisy(self) -> np.ndarray:
        return self.frame[None]


def measure_pair(name: str, args) -> tuple[dict, dict[str, np.ndarray]]:
    """Every method on one pair: the entry of the results and the images for the figure."""
    native, truth = PAIRS[name].load()
    noisy = native.astype(np.float32)
    psf = guessed_psf_sigma(noisy, args.psf_fraction, args.psf_sigma)
    psf["dtype"] = str(native.dtype)  # ours trains on it, as on a user's file
    entry = {"psf": psf, "shape": list(noisy.shape), "noisy": scores(noisy, truth), "runs": {}}
    images = {"noisy": noisy, "truth": truth}
    with tempfile.TemporaryDirectory(prefix=f"bench_real_{name}_") as folder:
        for method in args.methods:
            load = os.getloadavg()[0]
            try:
                run = run_method(method, noisy, truth, psf, args, Path(folder))
            except RuntimeError as error:  # a careamics failure: report it, go on
                print(error, file=sys.stderr)
                entry.setdefault("failures", {})[method] = str(error)
                continue
            row = {**run["figures"], **scores(run["denoised"], truth), "load_before": load}
            entry["runs"][method] = row
            images[method] = run["denoised"]
            if run["deconvolved"] is not None:
                images[f"{method}_deconvolved"] = run["deconvolved"]
            print(f"{name} {method}: {json.dumps(row, default=float)}", flush=True)
    return entry, images


def save_figure(name: str, images: dict[str, np.ndarray], tag: str) -> None:
    """A 160x160 crop of every image (each affine-fitted to the truth, the truth's contrast),
    left to right in the order measured, the truth last; the panel names in a text file."""
    truth = images["truth"]
    height, width = truth.shape
    top, left = (height - 160) // 2, (width - 160) // 2
    crop = (slice(top, top + 160), slice(left, left + 160))
    low, high = np.percentile(truth, (0.5, 99.8))
    names = [key for key in images if key != "truth"] + ["truth"]
    panels = []
    for key in names:
        shown = images[key] if key == "truth" else affine_fit(images[key], truth)
        panel = np.full((160, 164), 255, np.uint8)
        panel[:, :160] = to_uint8(shown[crop], low, high)
        panels.append(panel)
    RESULTS.mkdir(exist_ok=True)
    write_png(RESULTS / f"{tag}_{name}.png", np.concatenate(panels, axis=1)[:, :-4])
    (RESULTS / f"{tag}_{name}.txt").write_text(" | ".join(names) + "\n")


def markdown(results: dict) -> str:
    """The table: scale-invariant PSNR / SSIM per pair and method, the mean, and ours minus
    each other method."""
    methods = results["arguments"]["methods"]
    header = "| pair | input | " + " | ".join(methods) + " |"
    lines = [header, "|" + "---|" * (len(methods) + 2)]
    for name, entry in results["pairs"].items():
        cells = [f"{entry['noisy']['si_psnr']:.2f}"]
        for method in methods:
            row = entry["runs"].get(method)
            cells.append("" if row is None else f"{row['si_psnr']:.2f} / {row['ssim']:.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    means = mean_scores(results)
    lines.append(
        "| **mean** | | "
        + " | ".join(
            f"**{means[m]['si_psnr']:.2f} / {means[m]['ssim']:.3f}**" if m in means else ""
            for m in methods
        )
        + " |"
    )
    if "deconoising" in means:
        gaps = ", ".join(
            f"{method} {means['deconoising']['si_psnr'] - means[method]['si_psnr']:+.2f} dB"
            for method in methods
            if method in means and method != "deconoising"
        )
        lines.append(f"\nDecoNoising minus each method (mean SI-PSNR over the pairs): {gaps}.")
    host = results["machine"]
    lines.append(
        f"{results['arguments']['minutes']:g} min of training per method and pair; "
        f"{host['cpu_count']} CPUs; scale-invariant PSNR (dB) / SSIM."
    )
    return "\n".join(lines)


def mean_scores(results: dict) -> dict[str, dict[str, float]]:
    """The mean SI-PSNR and SSIM of each method over the pairs where every method ran."""
    entries = [
        entry
        for entry in results["pairs"].values()
        if all(method in entry["runs"] for method in results["arguments"]["methods"])
    ]
    if not entries:
        return {}
    return {
        method: {
            key: float(np.mean([entry["runs"][method][key] for entry in entries]))
            for key in ("si_psnr", "ssim")
        }
        for method in results["arguments"]["methods"]
    }


def unpaired_figures(args) -> None:
    """Ours on the noisy recordings without truth: crops of noisy, denoised and deconvolved."""
    for name, (file, channel) in UNPAIRED.items():
        native = tifffile.imread(REAL / file)
        native = native if channel is None else native[channel]
        noisy = native.astype(np.float32)
        psf = guessed_psf_sigma(noisy, args.psf_fraction, args.psf_sigma)
        run = run_ours(native, psf["psf_sigma"], args.minutes, n2v=False)
        height, width = noisy.shape
        top, left = (height - 256) // 2, (width - 256) // 2
        crop = (slice(top, top + 256), slice(left, left + 256))
        low, high = np.percentile(noisy[crop], (0.5, 99.8))
        panels = [to_uint8(noisy[crop], low, high)]
        for key in ("denoised", "deconvolved"):
            fitted = affine_fit(run[key], noisy)
            panels.append(to_uint8(fitted[crop], low, high))
        gap = np.full((256, 4), 255, np.uint8)
        picture = np.concatenate([panels[0], gap, panels[1], gap, panels[2]], axis=1)
        RESULTS.mkdir(exist_ok=True)
        write_png(RESULTS / f"real_unpaired_{name}.png", picture)
        print(f"{name}: PSF sigma {psf['psf_sigma']:.2f} px, {run['figures']}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", nargs="+", default=list(PAIRS), choices=PAIRS)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--minutes", type=float, default=2.0, help="training budget per method")
    parser.add_argument(
        "--psf-fraction", type=float, default=None, help="PSF FWHM / data blur (package's)"
    )
    parser.add_argument("--psf-sigma", type=float, default=None, help="one PSF sigma for all")
    parser.add_argument(
        "--ours-option", action="append", default=[], help="KEY=VALUE into TrainingConfig"
    )
    parser.add_argument("--unpaired", action="store_true", help="figures of unpaired data only")
    parser.add_argument("--name", default=None, help="results file name (bench/results)")
    args = parser.parse_args()
    if args.unpaired:
        unpaired_figures(args)
        return
    tag = args.name or f"real_{args.minutes:g}min"
    results = {"machine": machine(), "code": code_version(), "arguments": vars(args), "pairs": {}}
    for name in args.pairs:
        entry, images = measure_pair(name, args)
        results["pairs"][name] = entry
        save_figure(name, images, tag)
        save_results(tag, results)
    print(markdown(results))


if __name__ == "__main__":
    main()
