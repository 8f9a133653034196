"""The "Synthetic cell walls" sample: a noisy stack with its ground truth and PSF (no download)."""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_deconoising.data.synthetic import make_sample, make_zstack_sample

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


ZSTACK_NAME = "z-stack"


def synthetic_zstack() -> list[tuple[np.ndarray, dict[str, Any], str]]:
    """Layers of a synthetic widefield z-stack made by
    :func:`napari_deconoising.data.synthetic.make_zstack_sample`.

    The noisy stack (32 x 256 x 256, 0.1 µm pixels, 0.25 µm z-step, NA 1.1, 520 nm), the
    noise-free blurred stack (the target of denoising), the sharp object (the target of
    deconvolution) and the true 3D PSF, all with axes Z, Y, X and their scale in µm, so napari
    shows them in proportion (press the 2D/3D button for a volume view). The truth layers share
    the noisy stack's contrast limits and start hidden.
    """
    sample = make_zstack_sample()
    low, high = np.percentile(sample.noisy, (0.1, 99.9))
    spatial = {
        "scale": sample.voxel_size_um,
        "units": ("µm", "µm", "µm"),
        "axis_labels": ("z", "y", "x"),
    }
    shared = {**spatial, "contrast_limits": [float(low), float(high)]}
    return [
        (sample.noisy, {"name": ZSTACK_NAME, **shared}, "image"),
        (
            sample.blurred,
            {"name": f"{ZSTACK_NAME} blurred truth", **shared, "visible": False},
            "image",
        ),
        (sample.sharp, {"name": f"{ZSTACK_NAME} sharp truth", **shared, "visible": False}, "image"),
        (
            sample.psf,
            {"name": f"{ZSTACK_NAME} true PSF", **spatial, "colormap": "magma", "visible": False},
            "image",
        ),
    ]
