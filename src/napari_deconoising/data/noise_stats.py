"""The measurements behind :func:`~napari_deconoising.data.noise.measure_noise`, on float64
planes (Y, X): noise correlation per axis, saturation and black clipping, hot pixels, levels.

See :mod:`napari_deconoising.data.noise` for what each measures and why.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

#: The high-pass applied across the measured axis: the fourth difference (it cancels signal
#: that is a cubic across the axis), scaled to unit noise gain.
HIGH_PASS = np.array([1.0, -4.0, 6.0, -4.0, 1.0]) / math.sqrt(70.0)
#: The blocks the flattest share is chosen from are at most this side (px).
MAX_BLOCK = 32
#: The spread of the blocks' correlations is only measured over at least this many blocks.
MIN_BLOCKS = 16
#: The share of blocks (the flattest) of the second correlation estimate.
FLAT_SHARE = 0.25
#: Blocks are ranked by the variance of the plane smoothed by a Gaussian of this sigma (px): a
#: low-pass, nearly independent of the high-pass residual's noise (ranking by the residual's own
#: power would choose blocks whose noise happens to be less correlated, and bias the estimate).
FLATNESS_SIGMA = 2.0
#: Residual values beyond this many noise sigmas (hot pixels, clipped edges) are left out of
#: the correlation.
OUTLIER_SIGMAS = 12.0
#: A pixel is hot when it exceeds its eight neighbours' maximum by this many noise sigmas and
#: their median by this many times the larger of the noise and the neighbours' spread.
HOT_FACTOR = 10.0
#: Clipped values count when at least this many pixels hold them, at least half of them
#: beside another one (4-connected).
MIN_CLIPPED = 4
#: The distinct values are counted on at most this many pixels.
LEVEL_SAMPLE = 2**20
#: The noise sigma is the median of at most this many residual values.
SIGMA_SAMPLE = 2**18
#: The eight neighbours of a pixel, as (row, column) offsets.
NEIGHBOURS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
#: The last two axes: Y and X.
AXES = ("Y", "X")


def robust_sigma(values: np.ndarray) -> float:
    """The standard deviation of zero-mean noise from the median absolute value of at most
    :data:`SIGMA_SAMPLE` evenly strided values (the standard deviation itself when most
    values are 0, as for sparse quantised data)."""
    values = values[:: max(1, values.size // SIGMA_SAMPLE)].astype(np.float64)
    sigma = 1.4826 * float(np.median(np.abs(values)))
    return sigma if sigma > 0 else float(np.sqrt(np.mean(values**2)))


def high_passed(plane: np.ndarray) -> dict[str, np.ndarray]:
    """Per axis, the residual in which that axis's noise correlation is measured: the plane
    high-passed across it (``"X"``: the fourth difference along Y), both on the same region."""
    along_y = ndimage.correlate1d(plane, HIGH_PASS, axis=0)[2:-2, 2:-2]
    along_x = ndimage.correlate1d(plane, HIGH_PASS, axis=1)[2:-2, 2:-2]
    return {"X": along_y, "Y": along_x}


def block_side(planes: Sequence[np.ndarray], max_lag: int) -> int:
    """The side of the blocks: a quarter of the smallest residual side, between
    ``2 * max_lag`` and :data:`MAX_BLOCK`."""
    smallest = min(min(p.shape) for p in planes) - 4
    return max(2 * max_lag, min(MAX_BLOCK, smallest // 4))


def block_view(values: np.ndarray, block: int) -> np.ndarray:
    """``values`` cut into whole ``block`` x ``block`` blocks: (rows, block, columns, block)."""
    rows, cols = values.shape[0] // block, values.shape[1] // block
    return values[: rows * block, : cols * block].reshape(rows, block, cols, block)


def block_flatness(plane: np.ndarray, block: int) -> np.ndarray:
    """Per block of the residual's region (``plane[2:-2, 2:-2]``), the variance of the plane
    smoothed by :data:`FLATNESS_SIGMA`: low in the background, high on structures."""
    smoothed = ndimage.gaussian_filter(plane.astype(np.float64), FLATNESS_SIGMA)[2:-2, 2:-2]
    return block_view(smoothed, block).var(axis=(1, 3)).ravel()


def block_sums(
    residual: np.ndarray, axis: str, block: int, max_lag: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per block of ``block`` squared pixels: the sum of squares, and for each lag 1 ..
    ``max_lag`` the sum of products of pixels that lag apart along ``axis`` (within the
    block, scaled to the number of squares)."""
    blocks = block_view(residual, block)
    along = 3 if axis == "X" else 1
    squares = (blocks**2).sum(axis=(1, 3)).ravel()
    products = []
    for lag in range(1, max_lag + 1):
        head = [slice(None)] * 4
        tail = [slice(None)] * 4
        head[along], tail[along] = slice(0, block - lag), slice(lag, block)
        pairs = (blocks[tuple(head)] * blocks[tuple(tail)]).sum(axis=(1, 3)).ravel()
        products.append(pairs * block / (block - lag))
    return squares, np.stack(products, axis=1)


@dataclass(frozen=True)
class NoiseCorrelation:
    """What :func:`noise_correlation` measures."""

    #: The noise sigma of the high-passed residuals.
    sigma: float
    #: Per axis, the noise correlation at lags 1 .. ``max_lag``.
    lags: dict[str, tuple[float, ...]]
    #: Per axis, the lowest decile and the median of the blocks' own lag-1 correlations
    #: (:func:`block_correlation_spread`).
    spread: dict[str, tuple[float, float]]


def noise_correlation(planes: Sequence[np.ndarray], max_lag: int) -> NoiseCorrelation:
    """The noise's sigma and correlation per axis (see :class:`NoiseCorrelation`).

    Of two estimates, over all blocks and over the flattest :data:`FLAT_SHARE` of them (see
    :func:`block_flatness`), the one with the smaller lag-1 correlations is kept (smooth signal
    only adds positive correlation); both axes come from the same blocks, so that they
    compare."""
    if min(min(p.shape) for p in planes) - 4 < 2 * max_lag:
        none = {axis: (0.0,) * max_lag for axis in AXES}
        return NoiseCorrelation(0.0, none, {axis: (0.0, 0.0) for axis in AXES})
    residuals = [high_passed(p) for p in planes]
    sigmas = {
        axis: robust_sigma(np.concatenate([r[axis].ravel() for r in residuals])) for axis in AXES
    }
    block = block_side(planes, max_lag)
    sums: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {axis: [] for axis in AXES}
    for residual in residuals:
        for axis in AXES:
            kept = np.where(
                np.abs(residual[axis]) > OUTLIER_SIGMAS * sigmas[axis], 0.0, residual[axis]
            )
            sums[axis].append(block_sums(kept, axis, block, max_lag))
    squares = {axis: np.concatenate([s[0] for s in sums[axis]]) for axis in AXES}
    products = {axis: np.concatenate([s[1] for s in sums[axis]]) for axis in AXES}
    flatness = np.concatenate([block_flatness(p, block) for p in planes])
    flat = flattest_blocks(flatness, squares["X"] + squares["Y"] > 0)
    estimates = [
        {axis: _pooled(squares[axis], products[axis], keep) for axis in AXES}
        for keep in (np.ones_like(flat), flat)
    ]
    least = min(estimates, key=lambda e: sum(e[axis][0] for axis in AXES))
    spread = {axis: block_correlation_spread(squares[axis], products[axis][:, 0]) for axis in AXES}
    return NoiseCorrelation(max(sigmas.values()), least, spread)


def block_correlation_spread(
    squares: np.ndarray, lag_one_products: np.ndarray, quantile: float = 0.1
) -> tuple[float, float]:
    """The ``quantile`` and the median of the blocks' own lag-1 noise correlations (from the
    per-block sums of :func:`block_sums`): the noise's correlation is the same in every block,
    while what structures leave in the residual differs from block to block (none in the
    background). (0, 0) when fewer than :data:`MIN_BLOCKS` blocks hold residual."""
    valid = squares > 0
    if valid.sum() < MIN_BLOCKS:
        return 0.0, 0.0
    per_block = lag_one_products[valid] / squares[valid]
    low, median = np.quantile(per_block, [quantile, 0.5])
    return round(float(low), 4), round(float(median), 4)


def flattest_blocks(score: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The ``valid`` blocks (those with any residual) of lowest ``score``
    (:data:`FLAT_SHARE` of them)."""
    if not valid.any():
        return valid
    limit = np.quantile(score[valid], FLAT_SHARE)
    return valid & (score <= limit)


def _pooled(squares: np.ndarray, products: np.ndarray, keep: np.ndarray) -> tuple[float, ...]:
    total = float(squares[keep].sum(dtype=np.float64))
    if total <= 0:
        return (0.0,) * products.shape[1]
    pairs = products[keep].sum(axis=0, dtype=np.float64)
    return tuple(round(float(v) / total, 4) for v in pairs)


def clipped_mask(plane: np.ndarray, value: float) -> np.ndarray:
    """Where ``plane`` equals ``value``."""
    return plane == value


def in_runs(masks: Sequence[np.ndarray]) -> bool:
    """Whether the marked pixels are at least :data:`MIN_CLIPPED` and at least half of them
    touch another one (clipping makes patches; chance makes scattered pixels)."""
    count = sum(int(m.sum()) for m in masks)
    if count < MIN_CLIPPED:
        return False
    cross = ndimage.generate_binary_structure(2, 1)
    touching = sum(
        int((m & (ndimage.convolve(m.astype(np.int8), cross.astype(np.int8)) > 1)).sum())
        for m in masks
    )
    return touching >= count / 2


def saturation_level(planes: Sequence[np.ndarray], dtype: np.dtype) -> tuple[float | None, float]:
    """(saturation value, share of pixels at it): the maximum when it is the dtype's maximum
    (held by two or more pixels) or held in runs; (None, 0) otherwise."""
    top = max(float(p.max()) for p in planes)
    masks = [clipped_mask(p, top) for p in planes]
    count = sum(int(m.sum()) for m in masks)
    at_dtype_max = dtype.kind in "ui" and top == np.iinfo(dtype).max and count >= 2
    if not (at_dtype_max or in_runs(masks)):
        return None, 0.0
    return top, count / sum(p.size for p in planes)


def clipped_low_share(planes: Sequence[np.ndarray]) -> float:
    """The share of pixels at the minimum value when they lie in runs (else 0)."""
    bottom = min(float(p.min()) for p in planes)
    masks = [clipped_mask(p, bottom) for p in planes]
    if not in_runs(masks):
        return 0.0
    return sum(int(m.sum()) for m in masks) / sum(p.size for p in planes)


def hot_pixels(plane: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, columns, median of the eight neighbours) of ``plane``'s hot pixels: above all
    eight neighbours by :data:`HOT_FACTOR` noise sigmas, and above their median by that factor
    times the larger of the noise and their spread."""
    ring = np.ones((3, 3), bool)
    ring[1, 1] = False
    floor = HOT_FACTOR * max(sigma, 1e-12)
    highest = ndimage.maximum_filter(plane, footprint=ring, mode="mirror")
    rows, cols = np.nonzero(plane - highest > floor)
    padded = np.pad(plane, 1, mode="reflect")
    around = np.stack([padded[rows + 1 + dy, cols + 1 + dx] for dy, dx in NEIGHBOURS], axis=1)
    median = np.median(around, axis=1) if len(rows) else np.zeros(0)
    spread = around.std(axis=1) if len(rows) else np.zeros(0)
    hot = plane[rows, cols] - median > HOT_FACTOR * np.maximum(sigma, spread)
    return rows[hot], cols[hot], median[hot]


def value_levels(planes: Sequence[np.ndarray]) -> tuple[int, float]:
    """(distinct values, their usual step) among at most :data:`LEVEL_SAMPLE` pixels."""
    total = sum(p.size for p in planes)
    stride = max(1, total // LEVEL_SAMPLE)
    values = np.unique(np.concatenate([p.ravel()[::stride] for p in planes]))
    step = float(np.median(np.diff(values))) if values.size > 1 else 0.0
    return int(values.size), step
