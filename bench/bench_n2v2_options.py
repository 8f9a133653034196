"""N2V2-style options and a wrong PSF, measured on thin filaments and on cell walls.

Trains a fixed number of steps per run (reproducible, independent of machine load) with each
variant of the network and blind-spot options, predicts the noisy frames, and reports the
denoised PSNR against the blurred truth, the deconvolved PSNR against the sharp truth and the
checkerboard index (``napari_deconoising.evaluation.metrics.checkerboard_index``) of both outputs.

Variants: ``default``; ``blur`` (blur-pool down-sampling); ``no_top_skip``; ``median`` (median
replacement); ``n2v2`` (all three together, as N2V2). ``--psf-scale`` instead trains the default
variant with a Gaussian PSF whose sigma is off by that factor and compares the deconvolved PSNR
with the blurred truth's PSNR against the sharp truth.

    python bench/bench_n2v2_options.py --steps 300 --seeds 0 1
    python bench/bench_n2v2_options.py --steps 300 --seeds 0 --psf-scale 0.75 1.25
    python bench/bench_n2v2_options.py --steps 200 --batch-size 8 --seeds 0   # quick look
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

from common import machine, save_results
from napari_deconoising import Predictor, Trainer, TrainingConfig, psnr
from napari_deconoising.config.training import NetworkConfig
from napari_deconoising.data.synthetic import make_sample
from napari_deconoising.evaluation.metrics import checkerboard_index
from napari_deconoising.psf.models import gaussian_psf
from synthetic_recordings import RECORDINGS

#: Network and training settings of each variant (on top of the defaults).
VARIANTS: dict[str, dict] = {
    "default": {},
    "blur": {"network": {"downsampling": "blur"}},
    "no_top_skip": {"network": {"top_skip": False}},
    "median": {"replacement": "median"},
    "n2v2": {"network": {"downsampling": "blur", "top_skip": False}, "replacement": "median"},
}


@dataclass
class Scene:
    """Noisy frames with their truths and the true PSF's Gaussian sigma."""

    noisy: np.ndarray
    blurred: np.ndarray
    sharp: np.ndarray
    psf_sigma: float


def scenes() -> dict[str, Scene]:
    """Thin curved filaments (PSF sigma 2 px, 40 photons) and the sample data's cell walls."""
    filaments = RECORDINGS["filaments_s2_p40"]()
    walls = make_sample(n_frames=4, psf_sigma=1.5, photons=30.0, seed=0)
    return {
        "filaments_s2_p40": Scene(filaments.noisy, filaments.blurred, filaments.sharp, 2.0),
        "walls_s1.5_p30": Scene(walls.noisy, walls.blurred, walls.sharp, 1.5),
    }


def config_for(variant: str, steps: int, seed: int, batch_size: int) -> TrainingConfig:
    """The default training configuration with the variant's settings."""
    settings = dict(VARIANTS[variant])
    network = NetworkConfig(**settings.pop("network", {}))
    return TrainingConfig(
        steps=steps, seed=seed, batch_size=batch_size, network=network, **settings
    )


def run(scene: Scene, config: TrainingConfig, psf_scale: float = 1.0) -> dict:
    """Train, predict the noisy frames and measure."""
    psf = gaussian_psf(scene.psf_sigma * psf_scale)
    start = time.perf_counter()
    trainer = Trainer(scene.noisy, psf, config)
    for event in trainer.run():
        last = event
    seconds = time.perf_counter() - start
    result = Predictor(trainer.model).predict(scene.noisy)
    return {
        "steps": last.steps,
        "seconds": seconds,
        "psnr_denoised": psnr(scene.blurred, result.denoised),
        "psnr_deconvolved_vs_sharp": psnr(scene.sharp, result.deconvolved),
        "psnr_blurred_vs_sharp": psnr(scene.sharp, scene.blurred),
        "checkerboard_deconvolved_db": checkerboard_index(result.deconvolved, scene.sharp),
        "checkerboard_denoised_db": checkerboard_index(result.denoised, scene.blurred),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--batch-size", type=int, default=TrainingConfig().batch_size)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--scenes", nargs="+", default=None, help="default: all")
    parser.add_argument("--psf-scale", type=float, nargs="+", default=None)
    parser.add_argument("--name", default=None, help="results file name (bench/results/)")
    args = parser.parse_args()
    available = scenes()
    chosen = args.scenes or list(available)
    scales = args.psf_scale or [1.0]
    variants = ["default"] if args.psf_scale else args.variants
    rows = []
    results = {
        "machine": machine(),
        "steps": args.steps,
        "batch_size": args.batch_size,
        "seeds": args.seeds,
        "runs": rows,
    }
    name = args.name or ("n2v2_wrong_psf" if args.psf_scale else "n2v2_options")
    for scene_name in chosen:
        for variant in variants:
            for scale in scales:
                for seed in args.seeds:
                    row = {"scene": scene_name, "variant": variant, "psf_scale": scale}
                    row["seed"] = seed
                    config = config_for(variant, args.steps, seed, args.batch_size)
                    row.update(run(available[scene_name], config, scale))
                    rows.append(row)
                    print(_line(row), flush=True)
                    save_results(name, results)
    _summary(rows)


def _line(row: dict) -> str:
    return (
        f"{row['scene']:18s} {row['variant']:12s} x{row['psf_scale']:<5g} seed {row['seed']} "
        f"denoised {row['psnr_denoised']:.2f} dB  deconvolved/sharp "
        f"{row['psnr_deconvolved_vs_sharp']:.2f} dB (blurred/sharp "
        f"{row['psnr_blurred_vs_sharp']:.2f})  checkerboard deconv "
        f"{row['checkerboard_deconvolved_db']:+.2f} dB denoised "
        f"{row['checkerboard_denoised_db']:+.2f} dB  {row['seconds']:.0f} s"
    )


def _summary(rows: list[dict]) -> None:
    """Mean over seeds per scene, variant and PSF scale."""
    print("\nmean over seeds")
    keys = sorted({(r["scene"], r["variant"], r["psf_scale"]) for r in rows}, key=str)
    for key in keys:
        group = [r for r in rows if (r["scene"], r["variant"], r["psf_scale"]) == key]
        mean = {k: float(np.mean([r[k] for r in group])) for k in group[0] if k not in _LABELS}
        print(_line({**dict(zip(_LABELS[:3], key, strict=True)), "seed": "*", **mean}))


_LABELS = ("scene", "variant", "psf_scale", "seed")

if __name__ == "__main__":
    main()
