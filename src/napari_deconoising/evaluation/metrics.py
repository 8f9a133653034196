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


#: Chebyshev distances (in frequency bins) of the reference band around each Nyquist bin: the
#: Hann window spreads a Nyquist peak over distance 1, so the band starts at 2.
NYQUIST_BAND = (2, 4)
#: Side of the Hann-windowed tiles whose power spectra are averaged (Welch's method).
SPECTRUM_TILE = 32


def checkerboard_index(output: np.ndarray, truth: np.ndarray) -> float:
    """How far the error's power at the Nyquist frequencies stands out of its spectrum, in dB.

    A checkerboard (a pattern of period 2 pixels, the typical artefact of blind-spot networks
    and of transposed convolutions) puts power into the Nyquist bins of the 2D spectrum:
    (pi, pi), (pi, 0) and (0, pi). The index looks at the error ``output - truth``: its power
    spectrum, averaged over Hann-windowed tiles of :data:`SPECTRUM_TILE` pixels (Welch's
    method, so that single noisy bins and the image edges do not count), in those three bins,
    over the mean power of the bins around them (Chebyshev distance :data:`NYQUIST_BAND`), in
    dB. Residual noise, lost resolution or smoothing give the error a smooth spectrum: about
    0 dB or below. A periodic pattern adds a peak on top of them.

    The truth's own power at Nyquist is not the reference: after the PSF blur it is almost 0,
    so any residual noise would read as an artefact.

    How to read it: at most about +1 dB, no checkerboard; above +3 dB (the Nyquist bins of the
    error hold twice the power its neighbourhood predicts), a periodic pattern stands out of the
    error and shows in flat regions; clearly negative values mean the error is smoother at
    Nyquist than around it (harmless).

    ``output`` and ``truth`` are (Y, X) images, or stacks with the same leading axes (frames or
    planes: each 2D plane is measured and the dB values averaged); a stack of outputs against
    one truth image is measured frame by frame against it. An output equal to its truth reads
    0 dB.
    """
    values = np.asarray(output, dtype=np.float64)
    reference = np.asarray(truth, dtype=np.float64)
    if values.shape[-2:] != reference.shape[-2:] or values.ndim < reference.ndim:
        raise ValueError(f"shapes differ: truth {reference.shape}, output {values.shape}")
    if min(values.shape[-2:]) < SPECTRUM_TILE:
        raise ValueError(f"need images of at least {SPECTRUM_TILE} pixels per side")
    errors = (values - reference).reshape(-1, *values.shape[-2:])
    floor = 1e-12 * max(float(np.mean(reference**2)), 1e-300)  # an exact output reads 0 dB
    return float(np.mean([10 * np.log10(_nyquist_peak(error, floor)) for error in errors]))


def _nyquist_peak(image: np.ndarray, floor: float) -> float:
    """Welch power spectrum of ``image`` in its Nyquist bins over the bins around them."""
    power = _welch_power(image) + floor * SPECTRUM_TILE**2
    size = SPECTRUM_TILE
    nyquist = [(size // 2, size // 2), (size // 2, 0), (0, size // 2)]
    rows, cols = np.indices(power.shape)
    band = np.zeros(power.shape, dtype=bool)
    near = np.zeros(power.shape, dtype=bool)
    for row, col in nyquist:
        dy = np.minimum(abs(rows - row), size - abs(rows - row))
        dx = np.minimum(abs(cols - col), size - abs(cols - col))
        distance = np.maximum(dy, dx)
        band |= (distance >= NYQUIST_BAND[0]) & (distance <= NYQUIST_BAND[1])
        near |= distance < NYQUIST_BAND[0]
    band &= ~near
    band[0, 0] = False
    peak = np.mean([power[row, col] for row, col in nyquist])
    return float(peak / power[band].mean())


def _welch_power(image: np.ndarray) -> np.ndarray:
    """Mean power spectrum of Hann-windowed, mean-free tiles overlapping by half."""
    size, step = SPECTRUM_TILE, SPECTRUM_TILE // 2
    window = np.outer(np.hanning(size), np.hanning(size))
    tiles = np.lib.stride_tricks.sliding_window_view(image, (size, size))[::step, ::step]
    tiles = tiles.reshape(-1, size, size)
    tiles = (tiles - tiles.mean(axis=(1, 2), keepdims=True)) * window
    return np.mean(np.abs(np.fft.fft2(tiles)) ** 2, axis=0)
