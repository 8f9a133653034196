"""The "Synthetic cell walls" sample: a noisy stack with its ground truth and PSF (no download)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..sample_data import make_sample

RAW_NAME = "cell walls"


def synthetic_cell_walls() -> list[tuple[np.ndarray, dict[str, Any], str]]:
    """Layers of a synthetic recording made by :func:`napari_deconoising.make_sample`.

    A noisy stack of 8 frames (256 x 256), the noise-free blurred image (the target of
    denoising), the sharp object (the target of deconvolution) and the true PSF. The truth
    layers share the noisy stack's contrast limits and start hidden.
    """
    sample = make_sample()
    low, high = np.percentile(sample.noisy, (0.1, 99.9))
    contrast = [float(low), float(high)]
    return [
        (sample.noisy, {"name": RAW_NAME, "contrast_limits": contrast}, "image"),
        (
            sample.blurred,
            {"name": f"{RAW_NAME} blurred truth", "contrast_limits": contrast, "visible": False},
            "image",
        ),
        (
            sample.sharp,
            {"name": f"{RAW_NAME} sharp truth", "contrast_limits": contrast, "visible": False},
            "image",
        ),
        (sample.psf, {"name": "true PSF", "colormap": "magma", "visible": False}, "image"),
    ]
