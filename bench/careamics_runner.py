"""Train careamics N2V or N2V2 on a noisy stack for a wall-clock budget and predict it.

Runs in careamics' own virtual environment (see ``bench_n2v2.py --setup``), never in the
package's: it imports only numpy, tifffile and careamics. ``bench_n2v2.py`` calls it as

    /work/careamics-venv/bin/python bench/careamics_runner.py --algorithm n2v2 \\
        --noisy noisy.tif --output denoised.tif --minutes 3 --work-dir /tmp/run

The stack (N, Y, X) is trained on as samples ("SYX") with careamics' 2D settings from its
documentation (64x64 patches, batch 16, its default augmentations, validation patches, Adam,
ReduceLROnPlateau, mean/std normalisation); the number of epochs is unlimited and Lightning's
``max_time`` stops training at the budget (or ``max_steps`` with ``--steps``: a budget
that does not depend on the machine's load). Every frame is then predicted whole. The last line
printed is a JSON object: algorithm, epochs, steps, train_seconds, predict_seconds, versions.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import tifffile

PATCH_SIZE = (64, 64)
BATCH_SIZE = 16
UNLIMITED_EPOCHS = 1_000_000


def configuration(
    algorithm: str, minutes: float | None, steps: int | None, batch_size: int, seed: int
):
    """careamics' N2V configuration for (N, Y, X) arrays, N2V2 when ``algorithm`` is n2v2,
    stopped by Lightning after ``minutes`` of training (or ``steps`` optimiser steps)."""
    from careamics.config import create_advanced_n2v_config

    budget = {"max_time": {"seconds": round(minutes * 60, 3)}} if minutes else {}
    if steps:
        budget["max_steps"] = steps

    return create_advanced_n2v_config(
        experiment_name=f"bench_{algorithm}",
        data_type="array",
        axes="SYX",
        patch_size=list(PATCH_SIZE),
        batch_size=batch_size,
        num_epochs=UNLIMITED_EPOCHS,
        use_n2v2=algorithm == "n2v2",
        trainer_params=budget,
        seed=seed,
    )


def train_and_predict(args: argparse.Namespace) -> dict:
    """Train, predict, write the denoised stack; return the figures of the run."""
    import careamics
    import torch
    from careamics import CAREamist

    noisy = tifffile.imread(args.noisy).astype(np.float32)
    config = configuration(args.algorithm, args.minutes, args.steps, args.batch_size, args.seed)
    careamist = CAREamist(config, work_dir=args.work_dir, enable_progress_bar=False)
    start = time.perf_counter()
    careamist.train(train_data=noisy)
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    predictions, _ = careamist.predict(noisy)
    predict_seconds = time.perf_counter() - start
    denoised = np.asarray(predictions, dtype=np.float32).reshape(noisy.shape)
    tifffile.imwrite(args.output, denoised)
    return {
        "algorithm": args.algorithm,
        "epochs": int(careamist.trainer.current_epoch),
        "steps": int(careamist.trainer.global_step),
        "train_seconds": train_seconds,
        "predict_seconds": predict_seconds,
        "batch_size": args.batch_size,
        "patch_size": list(PATCH_SIZE),
        "careamics": careamics.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithm", choices=("n2v", "n2v2"), required=True)
    parser.add_argument("--noisy", type=Path, required=True, help="(N, Y, X) TIFF")
    parser.add_argument("--output", type=Path, required=True, help="denoised TIFF to write")
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument("--minutes", type=float, help="training budget (wall clock)")
    budget.add_argument("--steps", type=int, help="training budget (optimiser steps)")
    parser.add_argument("--work-dir", type=Path, required=True, help="checkpoints go here")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    parser.add_argument("--seed", type=int, default=1, help="careamics needs seed > 0")
    figures = train_and_predict(parser.parse_args())
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
