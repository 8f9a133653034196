"""Image quality figures as the DecoNoising notebooks compute them."""

from __future__ import annotations

import numpy as np


def psnr(ground_truth: np.ndarray, image: np.ndarray) -> float:
    """PSNR in dB with the ground truth's range (max - min) as the peak.

    For a stack (N, Y, X) against a 2D truth, the mean of the per-frame PSNRs.
    """
    truth = np.asarray(ground_truth, dtype=np.float64)
    values = np.asarray(image, dtype=np.float64)
    if values.ndim == truth.ndim + 1:
        return float(np.mean([psnr(truth, frame) for frame in values]))
    if values.shape != truth.shape:
        raise ValueError(f"shapes differ: truth {truth.shape}, image {values.shape}")
    data_range = truth.max() - truth.min()
    rmse = np.sqrt(np.mean((truth - values) ** 2))
    if rmse == 0:
        return float("inf")
    return float(20 * np.log10(data_range / rmse))
