"""Per-channel model vs one shared normalisation on one channel of the 2-channel recording of
``bench_channels.py``, over several seeds (the seed-to-seed spread at a short budget is larger
than the difference between the two, so one seed decides nothing).

For each seed: the channel trained alone (what a channel of a multi-channel model is, exactly)
and the shared model (both channels read as frames of one stack, one normalisation, given this
channel's PSF), both scored on this channel. Every model trains on every frame
(``--validation-fraction 0`` by default), so only the normalisation differs.

    python bench/bench_channels_seeds.py --channel 1 --seeds 0 1 2
"""

from __future__ import annotations

import argparse

import numpy as np

from bench_channels import CHANNELS, scores, trained
from common import machine, save_results
from napari_deconoising import make_sample, predict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channel", type=int, default=1, choices=range(len(CHANNELS)))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--validation-fraction", type=float, default=0.0)
    args = parser.parse_args()
    samples = [make_sample((args.size, args.size), n_frames=args.frames, **c) for c in CHANNELS]
    recording = np.stack([s.noisy for s in samples], axis=1)  # (T, C, Y, X)
    frames = recording.reshape(-1, args.size, args.size)
    sample, c = samples[args.channel], args.channel
    rows = []
    for seed in args.seeds:
        fraction = args.validation_fraction
        alone, _ = trained(sample.noisy, sample.psf, args.steps, "SYX", seed, fraction)
        result = predict(alone, sample.noisy)
        own = scores([sample], result.denoised[:, None], result.deconvolved[:, None])[0]
        shared_model, _ = trained(frames, sample.psf, args.steps, "SYX", seed, fraction)
        result = predict(shared_model, frames)
        denoised = result.denoised.reshape(recording.shape)[:, c : c + 1]
        deconvolved = result.deconvolved.reshape(recording.shape)[:, c : c + 1]
        shared = scores([sample], denoised, deconvolved)[0]
        rows.append({"seed": seed, "per_channel": own, "shared": shared})
        print(f"seed {seed}: per-channel {own}, shared {shared}", flush=True)
    means = {
        key: {k: round(float(np.mean([r[key][k] for r in rows])), 2) for k in rows[0][key]}
        for key in ("per_channel", "shared")
    }
    print(f"channel {c}, mean over seeds {args.seeds}: {means}")
    results = {"machine": machine(), "channel": c, "steps": args.steps, "rows": rows}
    results["validation_fraction"], results["means"] = args.validation_fraction, means
    save_results(f"channels-seeds-channel{c}", results)


if __name__ == "__main__":
    main()
