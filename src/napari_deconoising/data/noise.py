"""Know the noise before training: how it is correlated, and what the camera did to the data.

:func:`measure_noise` looks at a 2D image, a stack of frames or a z-stack (the last two axes are
Y and X) and returns a :class:`NoiseReport`:

- **Correlation of the noise** along X and along Y at lags 1 to :data:`MAX_LAG`. Along X it is
  measured on a residual high-passed *across* X only (the fourth difference along Y, which
  cancels any signal that is a cubic along Y): that filter leaves the noise's correlation along
  X untouched whenever the noise correlation is separable (white noise gives 0 at every lag,
  noise filtered along X gives its filter's correlation), while smooth signal mostly cancels.
  What signal is left adds positive correlation, so two estimates are made, over all pixels and
  over the flattest quarter of blocks (the background; ranked on a low-passed copy, so that the
  choice does not favour blocks whose noise happens to be less correlated), and the smaller one
  is kept.
- **Clipping**: pixels at the image's maximum in runs (or at the dtype's maximum) are
  saturated; pixels at the minimum in runs are clipped black.
- **Hot pixels**: isolated pixels far above the median of their eight neighbours, measured
  against both the noise and the spread of those neighbours.
- **Levels**: 8-bit data, or data with few distinct values spaced unevenly far apart, was
  probably scaled for display.
- **Camera offset**: :func:`~napari_deconoising.data.images.estimate_offset`.

Large images are subsampled (evenly spread planes, a central crop of larger ones) to at most
:data:`MAX_PIXELS` pixels, which keeps a 2048 x 2048 image under a second.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from napari_deconoising.data.images import estimate_offset, spread
from napari_deconoising.data.noise_stats import (
    clipped_low_share,
    hot_pixels,
    noise_correlation,
    saturation_level,
    value_levels,
)

#: Lags (pixels) at which the noise correlation is measured along each axis.
MAX_LAG = 4
#: At most this many pixels are measured (evenly spread planes, central crops).
MAX_PIXELS = 2**22
#: Noise counts as correlated along an axis from this lag-1 correlation: a neighbour then tells
#: a blind-spot network at least 4% of the pixel's noise variance. Smooth signal leaves < 0.05
#: (PSF sigma >= 1.5 px at any photon count, and sigma 1 px up to ~100 photons).
CORRELATED = 0.2
#: ... and exceeds the other axis's lag-1 correlation by this: sharp structures at very low
#: noise (PSF sigma <= 1 px, >= 1000 photons) raise both axes alike, by up to 0.3.
ANISOTROPY = 0.1
#: The correlation length is the farthest lag whose correlation reaches this.
LENGTH_THRESHOLD = 0.1
#: Noise correlated alike along X and Y is taken for the noise's own (resampled data) only when
#: the blocks' lag-1 correlations are uniform: their lowest decile reaches :data:`CORRELATED`
#: and this share of their median. Sharp structures at low noise raise the correlation only
#: where they are (measured: lowest decile below 0.7 of the median on cell walls of 20 px and
#: more, and on z-stack planes; resampled or filtered noise: 0.75-0.93).
UNIFORM = 0.7
#: The widest box blind spot :meth:`NoiseReport.box_span` chooses: a 7 x 7 box already replaces
#: most of a patch at the default mask fraction (one pixel in ~6 x 6).
MAX_BOX_SPAN = 3
#: Data with at most this many distinct values may have been scaled for display.
DISPLAY_LEVELS = 256


@dataclass(frozen=True)
class NoiseReport:
    """What :func:`measure_noise` found; :meth:`notes` says what is worth knowing."""

    #: Noise correlation along X and along Y at lags 1 .. :data:`MAX_LAG`.
    correlation_x: tuple[float, ...]
    correlation_y: tuple[float, ...]
    #: Lags from 1 whose correlation reaches :data:`LENGTH_THRESHOLD`, along X and Y.
    correlation_length_x: int
    correlation_length_y: int
    #: The lowest decile and the median of the blocks' own lag-1 correlations, along X and Y.
    block_correlation_x: tuple[float, float]
    block_correlation_y: tuple[float, float]
    #: A typical noise standard deviation (camera units; the darker parts weigh most).
    noise_sigma: float
    #: The value saturated pixels sit at (None: none saturated), and their share.
    saturation_value: float | None
    saturated_fraction: float
    #: The share of pixels clipped at the minimum value in runs (black clipping).
    clipped_low_fraction: float
    #: Isolated outliers far above their neighbourhood, and their share.
    hot_pixels: int
    hot_fraction: float
    #: Distinct values (in the measured pixels), and the usual step between them.
    levels: int
    level_step: float
    eight_bit: bool
    display_scaled: bool
    #: The camera offset (the value of zero photons), a low percentile of smoothed planes.
    offset: float
    #: Pixels measured.
    pixels: int

    def structured_span(self) -> dict[str, int]:
        """The axes (``"X"``, ``"Y"``) along which a blind spot should span the correlated
        noise, with the half-width in pixels (empty for pixel-independent noise)."""
        first = {"X": self.correlation_x[0], "Y": self.correlation_y[0]}
        lengths = {"X": self.correlation_length_x, "Y": self.correlation_length_y}
        other = {"X": "Y", "Y": "X"}
        return {
            axis: max(lengths[axis], 1)
            for axis in ("X", "Y")
            if first[axis] >= CORRELATED and first[axis] - first[other[axis]] >= ANISOTROPY
        }

    def correlated_alike(self) -> bool:
        """Whether neighbours are alike along both axes beyond the noise threshold (resampled
        data, or structures sharper than the noise can hide) without a structured axis."""
        both = min(self.correlation_x[0], self.correlation_y[0]) >= CORRELATED
        return both and not self.structured_span()

    def correlated_everywhere(self) -> bool:
        """Whether the noise itself is correlated alike along X and Y (resampled data):
        :meth:`correlated_alike` in every part of the image (see :data:`UNIFORM`)."""
        blocks = (self.block_correlation_x, self.block_correlation_y)
        uniform = all(low >= CORRELATED and low >= UNIFORM * median for low, median in blocks)
        return uniform and self.correlated_alike()

    def box_chosen(self) -> bool:
        """Whether ``blind_spot auto`` masks a box: noise :meth:`correlated_everywhere` in
        data that was processed (display-scaled or 8-bit), where resampling is likely. Raw
        camera data with the same figures may instead hold dense, sharp structures at low
        noise (cell walls every 12-16 px at 1000+ photons read the same), which a box would
        blur badly: there the note advises the box and leaves the choice to the user."""
        return self.correlated_everywhere() and self.display_scaled

    def box_span(self) -> int:
        """The half-width of a box blind spot for this noise: the longer correlation length,
        1 to :data:`MAX_BOX_SPAN`."""
        length = max(self.correlation_length_x, self.correlation_length_y)
        return min(max(length, 1), MAX_BOX_SPAN)

    def notes(self, blind_spot: str = "auto") -> list[str]:
        """Short sentences with numbers, only for what is worth knowing; the correlation one
        says what ``blind_spot`` (a :class:`~napari_deconoising.config.TrainingConfig`
        setting) does about it."""
        return [
            *self._correlation_notes(blind_spot),
            *self._clipping_notes(),
            *self._hot_notes(),
            *self._level_notes(),
        ]

    def _correlation_notes(self, blind_spot: str) -> list[str]:
        notes = []
        for axis, span in self.structured_span().items():
            lags = self.correlation_x if axis == "X" else self.correlation_y
            found = (
                f"noise is correlated along {axis} over {span} pixel{'s' * (span > 1)} "
                f"(lag-1 correlation {lags[0]:.2f})"
            )
            if blind_spot == "auto":
                notes.append(
                    f"{found}: using a blind spot that spans {2 * span + 1} pixels along {axis}"
                )
            elif blind_spot == "pixel":
                notes.append(_pixel_as_asked(found))
            else:
                notes.append(found)
        if self.correlated_everywhere():
            notes.append(self._box_note(blind_spot))
        elif self.correlated_alike():
            notes.append(
                "neighbouring pixels are alike along both X and Y (lag-1 correlation "
                f"{self.correlation_x[0]:.2f} / {self.correlation_y[0]:.2f}) where there are "
                "structures: they are sharper than the noise hides, or the image was resampled "
                "(then blind spot box helps); the blind spot stays one pixel"
            )
        return notes

    def _box_note(self, blind_spot: str) -> str:
        """The note on noise correlated alike along X and Y everywhere (resampled data)."""
        span = self.box_span()
        found = (
            "noise is correlated along both X and Y everywhere (lag-1 correlation "
            f"{self.correlation_x[0]:.2f} / {self.correlation_y[0]:.2f}: resampled data?)"
        )
        box = f"a box blind spot of {2 * span + 1} x {2 * span + 1} pixels"
        if blind_spot == "auto" and self.box_chosen():
            return f"{found}: using {box}"
        if blind_spot == "auto":
            return (
                f"{found}: if the image was resampled or filtered, blind spot box ({box}) keeps "
                "the network from learning that noise; dense, sharp structures at low noise "
                "look the same and a box would blur them, so the blind spot stays one pixel"
            )
        if blind_spot == "pixel":
            return _pixel_as_asked(found)
        return found

    def _clipping_notes(self) -> list[str]:
        notes = []
        if self.saturation_value is not None:
            notes.append(
                f"{_percent(self.saturated_fraction)} of pixels are saturated at "
                f"{self.saturation_value:g}: their true brightness is unknown, so they are "
                "kept out of the loss"
            )
        if self.clipped_low_fraction > 0:
            notes.append(
                f"{_percent(self.clipped_low_fraction)} of pixels sit at the lowest value in "
                "patches: dark parts were clipped (data scaled for display?), so the noise "
                "and camera offset there are lost"
            )
        return notes

    def _hot_notes(self) -> list[str]:
        if self.hot_pixels == 0:
            return []
        return [
            f"{self.hot_pixels} hot pixel{'s' * (self.hot_pixels > 1)} "
            f"({_percent(self.hot_fraction)}): isolated pixels far above their neighbours, "
            "replaced by their neighbourhood's median for training"
        ]

    def _level_notes(self) -> list[str]:
        if not self.display_scaled:
            return []
        what = "8-bit data" if self.eight_bit else "data with few distinct values"
        return [
            f"{what} ({self.levels} levels, {self.level_step:g} apart): if it was scaled for "
            "display, values are no longer proportional to photons; train on the camera's raw "
            "data where you can"
        ]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values, with the notes."""
        return {**asdict(self), "notes": self.notes()}


def _pixel_as_asked(found: str) -> str:
    """The note on correlated noise ``found`` when the blind spot is one pixel as asked."""
    return (
        f"{found}, but the blind spot is one pixel as asked: the network may learn to "
        "reproduce that noise (blind spot auto avoids it)"
    )


def _percent(share: float) -> str:
    """``3.1%``, ``0.004%``: two significant digits."""
    return f"{100 * share:.2g}%"


def measure_noise(
    image: np.ndarray | Sequence[np.ndarray], dtype: Any = None, max_lag: int = MAX_LAG
) -> NoiseReport:
    """Measure the noise of ``image``: a 2D image, a stack of frames, a z-stack (the last two
    axes are Y, X), or a list of such arrays. ``dtype`` is the data's type as recorded (when
    ``image`` was converted, e.g. to float32), for the 8-bit and dtype-maximum checks."""
    arrays = [np.asarray(image)] if hasattr(image, "shape") else [np.asarray(a) for a in image]
    dtype = np.dtype(dtype if dtype is not None else arrays[0].dtype)
    planes = sample_planes(arrays)
    measured = noise_correlation(planes, max_lag)
    sigma, correlation, spread = measured.sigma, measured.lags, measured.spread
    saturation, saturated = saturation_level(planes, dtype)
    hot = sum(len(hot_pixels(p, sigma)[0]) for p in planes)
    levels, step = value_levels(planes)
    eight_bit = dtype.kind in "ui" and dtype.itemsize == 1
    pixels = sum(p.size for p in planes)
    return NoiseReport(
        correlation_x=correlation["X"],
        correlation_y=correlation["Y"],
        correlation_length_x=correlation_length(correlation["X"]),
        correlation_length_y=correlation_length(correlation["Y"]),
        block_correlation_x=spread["X"],
        block_correlation_y=spread["Y"],
        noise_sigma=sigma,
        saturation_value=saturation,
        saturated_fraction=saturated,
        clipped_low_fraction=clipped_low_share(planes),
        hot_pixels=hot,
        hot_fraction=hot / pixels,
        levels=levels,
        level_step=step,
        eight_bit=eight_bit,
        display_scaled=eight_bit or (levels <= DISPLAY_LEVELS and step != 1),
        offset=estimate_offset(planes),
        pixels=pixels,
    )


def sample_planes(arrays: Sequence[np.ndarray], max_pixels: int = MAX_PIXELS) -> list[np.ndarray]:
    """Evenly spread float32 planes (Y, X) of ``arrays``, at most about ``max_pixels`` pixels,
    each cropped to its central ``max_pixels`` pixels when larger."""
    planes = [plane for a in arrays for plane in a.reshape((-1, *a.shape[-2:]))]
    per_plane = min(planes[0].size, max_pixels)
    chosen = [planes[i] for i in spread(len(planes), max(1, max_pixels // per_plane))]
    return [_central_crop(p, max_pixels).astype(np.float32) for p in chosen]


def _central_crop(plane: np.ndarray, max_pixels: int) -> np.ndarray:
    """The central part of ``plane`` with at most ``max_pixels`` pixels (same aspect)."""
    scale = min(1.0, math.sqrt(max_pixels / plane.size))
    height, width = (max(1, int(n * scale)) for n in plane.shape)
    top, left = (plane.shape[0] - height) // 2, (plane.shape[1] - width) // 2
    return plane[top : top + height, left : left + width]


def correlation_length(correlation: Sequence[float]) -> int:
    """The farthest lag (from 1) whose correlation reaches :data:`LENGTH_THRESHOLD`, or 0.

    A lag just below the threshold between two above it (0.32, 0.096, 0.138 on a resampled
    8-bit widefield channel) is the measurement's scatter, not the end of the correlation: a
    blind spot that stopped there let 10 minutes of training learn the noise again."""
    reached = [lag for lag, value in enumerate(correlation, start=1) if value >= LENGTH_THRESHOLD]
    return max(reached, default=0)


def without_hot_pixels(image: np.ndarray, sigma: float) -> tuple[np.ndarray, int]:
    """``image`` (the last two axes Y, X) with every hot pixel replaced by the median of its
    eight neighbours, and how many were replaced; ``sigma`` is the noise sigma
    (:attr:`NoiseReport.noise_sigma`). ``image`` itself is left alone."""
    cleaned = np.array(image, dtype=np.float32)
    planes = cleaned.reshape((-1, *cleaned.shape[-2:]))
    count = 0
    for plane in planes:
        rows, cols, medians = hot_pixels(plane, sigma)
        plane[rows, cols] = medians
        count += len(rows)
    return cleaned, count
