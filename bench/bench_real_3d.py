"""3D DecoNoising (two-stage, the 3D default) against the engine's Richardson-Lucy on real
z-stacks from ``../shared/data/real/stacks3d`` (see its README for sources and caveats).

* ``dapi``: deconwolf's widefield DAPI nucleus, 40 x 201 x 101, 130 nm pixels, 300 nm z-step;
  its PSF is computed with the package's vectorial widefield model (NA 1.45, 461 nm, n 1.512);
* ``beads``: MPI-CBG confocal beads, 41 x 150 x 150, 0.022 x 0.022 x 0.125 µm voxels, with the
  PSF measured from them (loaded, centred and cropped by :func:`load_psf`);
* ``grid``: a line grid from the same confocal, 21 x 150 x 150, counts 1..8, with the bead PSF.

Each stack: DecoNoising trained for ``--minutes`` with ``TrainingConfig.for_mode("3d",
design="two-stage")`` (a blind-spot 3D denoiser, then Richardson-Lucy with the automatic stop),
and the accelerated Richardson-Lucy on the raw stack (automatic stop, and 20 and 50 iterations).
On the beads, every bead's FWHM (Gaussian fit of the line profiles through its peak, µm) per
method. Orthogonal views go to ``docs/images/real3d_<stack>.png``, the figures to
``bench/results/real3d.json``.

    python bench/bench_real_3d.py                   # 10 minutes per training
    python bench/bench_real_3d.py --minutes 0.2     # smoke run
"""

from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image, ImageDraw
from scipy import ndimage, optimize

from bench_3d import patch_size_for
from common import machine, save_results
from napari_deconoising import Predictor, Trainer, TrainingConfig
from napari_deconoising.io import AxesImage
from napari_deconoising.model.deconvolution import RichardsonLucy, flat_background
from napari_deconoising.psf.load import load_psf
from napari_deconoising.psf.measure import half_crossing, psf_widths
from napari_deconoising.psf.models import widefield_psf_3d

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "real" / "stacks3d"
FIGURES = ROOT / "docs" / "images"
BEAD_PSF = "MPICBG_confocal_psf_from_beads_45.tif"
#: Confocal voxel size (Z, Y, X) in µm, from the source notebook.
CONFOCAL_VOXEL = (0.125, 0.022, 0.022)
#: DAPI optics (deconwolf demo makefile): NA, emission (nm), pixel and z-step (nm), immersion.
DAPI_OPTICS = (1.45, 461.0, 130.0, 300.0, 1.512)


@dataclass(frozen=True)
class Stack:
    """A real stack: file, voxel size (Z, Y, X, µm), PSF source and whether it holds beads."""

    file: str
    voxel_um: tuple[float, float, float]
    psf: str  # "widefield" (computed from DAPI_OPTICS) or a PSF file name
    beads: int = 0  # how many beads to measure (0: none)


STACKS = {
    "dapi": Stack("deconwolf_dapi_001.tif", (0.3, 0.13, 0.13), "widefield"),
    "beads": Stack("MPICBG_confocal_beads_crop.tif", CONFOCAL_VOXEL, BEAD_PSF, beads=4),
    "grid": Stack("MPICBG_confocal_verticalgrid_1AU_crop.tif", CONFOCAL_VOXEL, BEAD_PSF),
}
#: Fixed Richardson-Lucy iteration counts of the baseline (besides the automatic stop).
RL_FIXED = (20, 50)
RL_TOLERANCE = 0.005
GAUSS_TO_FWHM = 2 * np.sqrt(2 * np.log(2))
#: A Gaussian fit narrower than this (samples) is ill-posed (a peak about one voxel wide): the
#: interpolated half-maximum crossings are used instead.
MIN_FIT_SIGMA = 0.5


# ---- PSFs -----------------------------------------------------------------------------------


def stack_psf(stack: Stack) -> tuple[np.ndarray, dict]:
    """The stack's PSF (prepared: centred, cropped, sum 1) and a description of it."""
    if stack.psf == "widefield":
        na, wavelength, pixel, z_step, index = DAPI_OPTICS
        psf = widefield_psf_3d(na, wavelength, pixel, z_step, immersion_index=index)
        info = {"source": "widefield_psf_3d", "optics": DAPI_OPTICS}
    else:
        raw = tifffile.imread(DATA / stack.psf)
        psf = load_psf(DATA / stack.psf, spatial_dims=3, voxel_size_um=stack.voxel_um)
        peak = np.unravel_index(int(np.argmax(psf)), psf.shape)
        info = {
            "source": stack.psf,
            "file_shape": list(raw.shape),
            "file_peak": [int(i) for i in np.unravel_index(int(np.argmax(raw)), raw.shape)],
            "loaded_peak": [int(i) for i in peak],
        }
    widths = psf_widths(psf)
    info.update(shape=list(psf.shape), **{k: float(v) for k, v in widths.items()})
    return psf, info


# ---- methods --------------------------------------------------------------------------------


def deconoising(raw: np.ndarray, stack: Stack, psf: np.ndarray, args) -> tuple[dict, dict]:
    """Train the 3D two-stage model for ``args.minutes`` and predict the stack: (figures,
    outputs)."""
    image = AxesImage(raw, "ZYX", dict(zip("ZYX", stack.voxel_um, strict=True)))
    config = TrainingConfig.for_mode(
        "3d",
        minutes=args.minutes,
        steps=None,
        design="two-stage",
        seed=args.seed,
        device=args.device,
    )
    config = config.replace(patch_size=patch_size_for(config, psf))
    trainer = Trainer(image, psf, config)
    last = None
    for event in trainer.run():
        last = event
    predictor = Predictor(trainer.model)
    predictor.predict(AxesImage(raw[:, :64, :64], "ZYX", image.spacing))  # warm-up
    start = time.perf_counter()
    result = predictor.predict(image)
    seconds = time.perf_counter() - start
    stage_two = rl_of_denoised(trainer.model.channels[0].psf, result, predictor.config)
    run = {
        "steps": last.steps,
        "training_minutes": last.seconds / 60,
        "prediction_seconds": seconds,
        **stage_two,
        "notes": list(trainer.notes),
        "config": trainer.config.to_dict(),
    }
    return run, {"denoised": result.denoised, "deconvolved": result.deconvolved}


def rl_of_denoised(psf: np.ndarray, result, config) -> dict:
    """How many Richardson-Lucy iterations the Predictor's second stage used (rerun with its
    settings, which is deterministic; checked against its output)."""
    denoised = result.denoised
    background = flat_background(denoised)
    again = RichardsonLucy(psf, denoised.shape).run(
        denoised, background, config.rl_iterations, config.rl_tolerance
    )
    difference = np.abs(again.estimate.numpy() - result.deconvolved).max()
    return {
        "rl_iterations": again.iterations,
        "rl_converged": again.converged,
        "rl_max_iterations": config.rl_iterations,
        "rl_rerun_max_difference": float(difference / max(np.abs(result.deconvolved).max(), 1e-9)),
    }


def richardson_lucy(raw: np.ndarray, psf: np.ndarray, rl_max: int) -> tuple[dict, dict]:
    """The engine's accelerated Richardson-Lucy on the raw stack: automatic stop (at most
    ``rl_max``) and the fixed counts of ``RL_FIXED``, read off the same run (the iterations do
    not depend on the tolerance, which only ends them) or run on their own when it stopped
    before."""
    deconvolver = RichardsonLucy(psf, raw.shape)
    background = flat_background(raw)
    runs, outputs = {}, {}
    start = time.perf_counter()

    def keep(iteration: int, estimate) -> None:
        if iteration in RL_FIXED:
            runs[f"rl_{iteration}"] = rl_run(iteration, False, start)
            outputs[f"rl_{iteration}"] = estimate.numpy()

    result = deconvolver.run(raw, background, rl_max, RL_TOLERANCE, keep)
    runs["rl_auto"] = rl_run(result.iterations, result.converged, start)
    outputs["rl_auto"] = result.estimate.numpy()
    for count in RL_FIXED:
        if f"rl_{count}" not in runs:
            start = time.perf_counter()
            outputs[f"rl_{count}"] = deconvolver.run(raw, background, count).estimate.numpy()
            runs[f"rl_{count}"] = rl_run(count, False, start)
    return runs, outputs


def rl_run(iterations: int, converged: bool, start: float) -> dict:
    """What a Richardson-Lucy run did, timed from ``start``."""
    seconds = time.perf_counter() - start
    return {"iterations": iterations, "converged": converged, "seconds": seconds}


# ---- bead widths ----------------------------------------------------------------------------


def find_beads(raw: np.ndarray, count: int) -> list[tuple[int, int, int]]:
    """The ``count`` brightest local maxima of the smoothed stack (the beads), brightest first."""
    smooth = ndimage.gaussian_filter(raw.astype(np.float64), (1, 2, 2))
    peaks = np.argwhere(smooth == ndimage.maximum_filter(smooth, size=(9, 21, 21)))
    order = np.argsort([-smooth[tuple(p)] for p in peaks])
    return [tuple(int(i) for i in peaks[k]) for k in order[:count]]


def refine_peak(volume: np.ndarray, near: tuple[int, ...], reach=(3, 5, 5)) -> tuple[int, ...]:
    """The brightest voxel (lightly smoothed) of ``volume`` within ``reach`` of ``near``."""
    box = tuple(
        slice(max(c - r, 0), min(c + r + 1, n))
        for c, r, n in zip(near, reach, volume.shape, strict=True)
    )
    smooth = ndimage.gaussian_filter(np.asarray(volume[box], np.float64), 0.7)
    local = np.unravel_index(int(np.argmax(smooth)), smooth.shape)
    return tuple(int(s.start + i) for s, i in zip(box, local, strict=True))


def line_fwhm(profile: np.ndarray, centre: int) -> float:
    """FWHM (samples) of the peak at ``centre`` of a line profile: from a Gaussian + offset fit,
    or the interpolated half-maximum crossings (above the profile's minimum) when the fit fails
    or the peak is about one sample wide."""
    sigma = gaussian_sigma(profile, centre)
    if sigma is not None and MIN_FIT_SIGMA < sigma < len(profile) / 2:
        return float(GAUSS_TO_FWHM * sigma)
    low, high = float(profile.min()), float(profile[centre])
    scaled = (profile - low) / max(high - low, 1e-12)
    return half_crossing(scaled[centre:]) + half_crossing(scaled[centre::-1])


def gaussian_sigma(profile: np.ndarray, centre: int) -> float | None:
    """Sigma (samples) of a Gaussian + offset fitted to ``profile`` from its peak at ``centre``;
    None when the fit does not converge."""
    low, high = float(profile.min()), float(profile[centre])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optimize.OptimizeWarning)
        try:
            (_, _, _, sigma), _ = optimize.curve_fit(
                lambda t, b, a, m, s: b + a * np.exp(-((t - m) ** 2) / (2 * s**2)),
                np.arange(len(profile), dtype=np.float64),
                profile,
                p0=(low, high - low, centre, 2.0),
                maxfev=5000,
            )
        except RuntimeError:
            return None
    return abs(float(sigma))


def bead_fwhm(volume: np.ndarray, peak: tuple[int, ...], voxel_um, half=(10, 20, 20)) -> list:
    """FWHM in µm along Z, Y and X of the bead at ``peak``."""
    widths = []
    for axis in range(3):
        start = max(peak[axis] - half[axis], 0)
        stop = min(peak[axis] + half[axis] + 1, volume.shape[axis])
        index = list(peak)
        index[axis] = slice(start, stop)
        profile = np.asarray(volume[tuple(index)], np.float64)
        widths.append(line_fwhm(profile, peak[axis] - start) * voxel_um[axis])
    return widths


def bead_summary(volume: np.ndarray, beads: list, voxel_um) -> dict:
    """Each bead's axial and lateral (mean of Y and X) FWHM in µm, with mean and spread."""
    per_bead = [bead_fwhm(volume, refine_peak(volume, b), voxel_um) for b in beads]
    axial = np.array([w[0] for w in per_bead])
    lateral = np.array([(w[1] + w[2]) / 2 for w in per_bead])
    return {
        "per_bead_zyx_um": per_bead,
        "lateral_um": float(lateral.mean()),
        "lateral_sd_um": float(lateral.std(ddof=1)) if len(lateral) > 1 else 0.0,
        "axial_um": float(axial.mean()),
        "axial_sd_um": float(axial.std(ddof=1)) if len(axial) > 1 else 0.0,
    }


# ---- figures --------------------------------------------------------------------------------


def scaled(view: np.ndarray) -> np.ndarray:
    """``view`` as 8 bits, its own 0.1-99.9 percentiles spanning black to white."""
    low, high = np.percentile(view, (0.1, 99.9))
    return (np.clip((view - low) / max(high - low, 1e-12), 0, 1) * 255 + 0.5).astype(np.uint8)


def orthogonal_panel(volume: np.ndarray, at: tuple[int, int, int], stretch: float) -> np.ndarray:
    """XY plane at ``at``'s Z with the YZ view to its right and the XZ view below, the Z axis
    stretched by ``stretch`` (z-step / pixel size); each view scaled on its own."""
    z, y, x = at
    xy = scaled(volume[z])
    yz = scaled(ndimage.zoom(volume[:, :, x].astype(np.float64).T, (1, stretch), order=1))
    xz = scaled(ndimage.zoom(volume[:, y, :].astype(np.float64), (stretch, 1), order=1))
    gap = 3
    panel = np.full((xy.shape[0] + gap + xz.shape[0], xy.shape[1] + gap + yz.shape[1]), 255)
    panel[: xy.shape[0], : xy.shape[1]] = xy
    panel[: yz.shape[0], xy.shape[1] + gap :] = yz
    panel[xy.shape[0] + gap :, : xz.shape[1]] = xz
    return panel.astype(np.uint8)


def write_figure(path: Path, panels: dict[str, np.ndarray]) -> Path:
    """Labelled panels side by side, written as a greyscale PNG."""
    header, gap = 14, 8
    height = header + max(p.shape[0] for p in panels.values())
    width = sum(p.shape[1] for p in panels.values()) + gap * (len(panels) - 1)
    picture = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(picture)
    left = 0
    for label, panel in panels.items():
        picture.paste(Image.fromarray(panel), (left, header))
        draw.text((left + 2, 1), label, fill=0)
        left += panel.shape[1] + gap
    path.parent.mkdir(parents=True, exist_ok=True)
    picture.save(path, format="PNG", optimize=True)
    return path


def figure(name: str, stack: Stack, outputs: dict, beads: list, folder: Path) -> Path:
    """Orthogonal views of raw, denoised, deconvolved and RL (automatic stop): through the
    brightest bead for bead stacks, else through the centre."""
    raw = outputs["raw"]
    at = beads[0] if beads else tuple(n // 2 for n in raw.shape)
    stretch = stack.voxel_um[0] / stack.voxel_um[2]
    labels = {
        "raw": "raw",
        "denoised": "ours: denoised",
        "deconvolved": "ours: deconvolved",
        "rl_auto": "RL (auto stop)",
    }
    panels = {text: orthogonal_panel(outputs[key], at, stretch) for key, text in labels.items()}
    return write_figure(folder / f"real3d_{name}.png", panels)


# ---- run and report -------------------------------------------------------------------------


def run_stack(name: str, args) -> dict:
    """Every method on one stack; its figure; the bead widths when it holds beads."""
    stack = STACKS[name]
    raw = tifffile.imread(DATA / stack.file).astype(np.float32)
    psf, psf_info = stack_psf(stack)
    result = {"file": stack.file, "shape": list(raw.shape), "voxel_um": stack.voxel_um}
    result["psf"] = psf_info
    rl_runs, outputs = richardson_lucy(raw, psf, args.rl_max)
    result["richardson_lucy"] = rl_runs
    print(f"{name}: PSF {psf_info}\n{name}: RL {rl_runs}", flush=True)
    result["deconoising"], ours = deconoising(raw, stack, psf, args)
    outputs.update(ours, raw=raw)
    print(f"{name}: DecoNoising {result['deconoising']['steps']} steps", flush=True)
    beads = find_beads(raw, stack.beads) if stack.beads else []
    if beads:
        result["bead_positions_zyx"] = [list(b) for b in beads]
        result["bead_fwhm"] = {
            k: bead_summary(v, beads, stack.voxel_um) for k, v in outputs.items()
        }
        centre = tuple(n // 2 for n in psf.shape)
        result["bead_fwhm"]["psf"] = bead_summary(psf, [centre], stack.voxel_um)
    path = figure(name, stack, outputs, beads, args.figures)
    result["figure"] = str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return result


METHODS = {
    "psf": "measured PSF (reference)",
    "raw": "raw",
    "denoised": "DecoNoising 3D two-stage: denoised",
    "deconvolved": "DecoNoising 3D two-stage: deconvolved",
    "rl_auto": "Richardson-Lucy, automatic stop",
    **{f"rl_{n}": f"Richardson-Lucy, {n} iterations" for n in RL_FIXED},
}


def table(results: dict) -> str:
    """A markdown table: stack, method, training, timing, RL iterations, bead FWHM."""
    rows = [
        "| stack | method | steps | train (min) | predict / run (s) | RL it. | "
        "bead FWHM lateral (µm) | bead FWHM axial (µm) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, stack in results["stacks"].items():
        ours, fwhm = stack["deconoising"], stack.get("bead_fwhm", {})
        for key, label in METHODS.items():
            cells = ["", "", "", ""]
            if key in ("denoised", "deconvolved"):
                cells[:3] = [
                    str(ours["steps"]),
                    f"{ours['training_minutes']:.1f}",
                    f"{ours['prediction_seconds']:.1f}",
                ]
                if key == "deconvolved":
                    cells[3] = str(ours["rl_iterations"])
            elif key.startswith("rl_"):
                run = stack["richardson_lucy"][key]
                cells[2:] = [f"{run['seconds']:.1f}", str(run["iterations"])]
            elif key == "psf" and not fwhm:
                continue
            rows.append(f"| {name} | {label} | {' | '.join(cells)} | {fwhm_cells(fwhm.get(key))} |")
    return "\n".join(rows)


def fwhm_cells(summary: dict | None) -> str:
    """``lateral | axial`` as mean ± sd, or empty cells."""
    if summary is None:
        return " | "
    return (
        f"{summary['lateral_um']:.3f} ± {summary['lateral_sd_um']:.3f} | "
        f"{summary['axial_um']:.3f} ± {summary['axial_sd_um']:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget per stack")
    parser.add_argument("--stacks", nargs="+", choices=list(STACKS), default=list(STACKS))
    parser.add_argument("--rl-max", type=int, default=200, help="most RL iterations (auto stop)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--figures", type=Path, default=FIGURES, help="folder of the PNGs")
    parser.add_argument("--name", default="real3d", help="results file (bench/results/NAME.json)")
    args = parser.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"real stacks not found at {DATA}")
    settings = {**vars(args), "figures": str(args.figures)}
    results: dict = {"machine": machine(), "settings": settings, "stacks": {}}
    for name in args.stacks:
        results["stacks"][name] = run_stack(name, args)
    results["load_average_end"] = float(np.round(machine()["load_average_1min"], 2))
    save_results(args.name, results)
    print(table(results))


if __name__ == "__main__":
    main()
