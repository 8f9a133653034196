"""Check a PSF against the images it deconvolves: how fine the finest structure they hold is.

An image is its object blurred by the PSF, plus noise: its power spectrum is the object's times
the PSF's transfer squared, over the noise's. :func:`check_psf` measures, on the images' planes
(the last two axes, Hann-windowed), the radial power spectrum over the noise floor (the noise's
spectral shape comes from the measured correlation, :class:`~napari_deconoising.data.noise.
NoiseReport`; its level from the highest frequencies, where no blurred signal is left):

- the **finest period** with signal above the noise (power at least :data:`SIGNAL_TO_NOISE`
  times the noise's), and the share of power the PSF still passes there (a Gaussian of its
  FWHM);
- the **blur the spectrum shows**: a Gaussian fitted to the top octave of that signal band
  (``log power = a - 4 pi^2 sigma^2 f^2``). Objects only lose power at finer scales, so this
  FWHM is the widest the PSF can be.

A PSF wider than that by :data:`TOO_WIDE` is noted: deconvolution would sharpen structures the
data shows to be sharp already (ringing, invented detail). A PSF narrower than half of it is
noted more mildly: either the structures are smooth, or the PSF is too narrow and deconvolution
sharpens less than it could (not for a 3D PSF, whose out-of-focus light blurs the planes more
than its in-focus plane). Lateral widths only (the in-focus plane of a 3D PSF).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from napari_deconoising.data.noise import NoiseReport, measure_noise, sample_planes
from napari_deconoising.psf.measure import psf_fwhm

#: At most this many pixels of the images enter the spectrum.
MAX_PIXELS = 2**21
#: Signal counts where the power over the noise floor is at least this many times the noise's.
SIGNAL_TO_NOISE = 1.0
#: The noise floor's level is the median whitened power beyond this frequency (cycles/px).
FLOOR_FREQUENCY = 0.42
#: A PSF wider than the blur the spectrum shows by this factor (FWHM) is noted.
TOO_WIDE = 1.3
#: A PSF narrower than this share of the blur the spectrum shows is noted.
TOO_NARROW = 0.4
#: The radial spectrum is averaged in rings this wide (cycles/px).
RING = 1 / 128
#: A Gaussian's FWHM per sigma.
FWHM_PER_SIGMA = 2 * math.sqrt(2 * math.log(2))
#: Fewest rings the Gaussian is fitted to.
MIN_RINGS = 4


@dataclass(frozen=True)
class PSFCheck:
    """What :func:`check_psf` found; :meth:`notes` says what is worth knowing."""

    #: The PSF's lateral FWHM (pixels).
    psf_fwhm_px: float
    #: The finest period (pixels) with signal above the noise, and the share of the power at
    #: that period the PSF passes (its transfer squared); None where no signal stands out or
    #: signal reaches the highest frequencies.
    finest_period_px: float | None
    psf_power_at_finest: float | None
    #: The FWHM (pixels) of the Gaussian blur the power spectrum shows (the widest the PSF can
    #: be); None where it cannot be measured.
    data_fwhm_px: float | None
    #: Whether the PSF is 3D: its out-of-focus light blurs the planes beyond its in-focus width,
    #: so that a PSF narrower than the planes' blur is expected, not noted.
    volume: bool = False

    def too_wide(self) -> bool:
        """Whether the PSF is wider than the data allows (by :data:`TOO_WIDE`)."""
        return self.data_fwhm_px is not None and self.psf_fwhm_px > TOO_WIDE * self.data_fwhm_px

    def too_narrow(self) -> bool:
        """Whether the PSF (2D) is narrower than :data:`TOO_NARROW` of the blur the data
        shows."""
        if self.volume or self.data_fwhm_px is None:
            return False
        return self.psf_fwhm_px < TOO_NARROW * self.data_fwhm_px

    def notes(self) -> list[str]:
        """One sentence with numbers when the PSF looks too wide or too narrow for the data."""
        if self.too_wide():
            return [
                f"the PSF (FWHM {self.psf_fwhm_px:.2g} px) looks too wide for these images: "
                f"they hold signal above the noise down to a period of "
                f"{self.finest_period_px:.2g} px, where it passes only "
                f"{_percent(self.psf_power_at_finest)} of the power, and their spectrum shows a "
                f"blur of at most FWHM {self.data_fwhm_px:.2g} px; deconvolution may ring or "
                "invent detail (check the pixel size and optics, or measure the PSF)"
            ]
        if self.too_narrow():
            return [
                f"the PSF (FWHM {self.psf_fwhm_px:.2g} px) is narrower than the blur these "
                f"images show (FWHM {self.data_fwhm_px:.2g} px from their spectrum): either "
                "their structures are smooth, or the PSF is too narrow and deconvolution "
                "sharpens less than it could"
            ]
        return []


def _percent(share: float | None) -> str:
    return f"{100 * (share or 0.0):.2g}%"


def check_psf(
    images: np.ndarray | Sequence[np.ndarray], psf: np.ndarray, noise: NoiseReport | None = None
) -> PSFCheck:
    """Check ``psf`` (2D, or 3D: its in-focus plane) against ``images`` (a 2D image, a stack or
    z-stack, or a list of such; the last two axes are Y, X). ``noise``: their measured noise
    (measured here when not given)."""
    arrays = [np.asarray(images)] if hasattr(images, "shape") else [np.asarray(a) for a in images]
    planes = sample_planes(arrays, MAX_PIXELS)
    noise = noise or measure_noise(planes)
    fwhm, volume = psf_fwhm(psf), np.ndim(psf) == 3
    frequencies, snr = radial_snr(planes, noise)
    finest = finest_frequency(frequencies, snr)
    if finest is None:
        return PSFCheck(fwhm, None, None, None, volume)
    sigma = fwhm / FWHM_PER_SIGMA
    passed = math.exp(-4 * math.pi**2 * sigma**2 * finest**2)
    return PSFCheck(fwhm, 1 / finest, passed, data_fwhm(frequencies, snr, finest), volume)


def noise_shape(correlation: Sequence[float], size: int) -> np.ndarray:
    """The noise's power along one axis at the FFT frequencies of ``size`` samples, from its
    correlation at lags 1, 2, ... (1 everywhere for white noise); at least 0.02."""
    frequencies = np.fft.fftfreq(size)
    shape = np.ones(size)
    for lag, value in enumerate(correlation, start=1):
        shape += 2 * value * np.cos(2 * np.pi * lag * frequencies)
    return np.maximum(shape, 0.02)


def radial_snr(planes: Sequence[np.ndarray], noise: NoiseReport) -> tuple[np.ndarray, np.ndarray]:
    """(ring frequencies in cycles/px, signal power over noise power in each ring) of the
    planes' spectrum, the noise whitened by its measured correlation."""
    rings = math.ceil(0.5 * math.sqrt(2) / RING) + 1
    power, counts = np.zeros(rings), np.zeros(rings)
    for plane in planes:
        whitened = whitened_power(plane, noise)
        radius = np.hypot(*np.meshgrid(*(np.fft.fftfreq(n) for n in plane.shape), indexing="ij"))
        index = np.minimum((radius / RING).astype(int), rings - 1)
        power += np.bincount(index.ravel(), whitened.ravel(), rings)
        counts += np.bincount(index.ravel(), None, rings)
    frequencies = (np.arange(rings) + 0.5) * RING
    valid = counts > 0
    mean = np.where(valid, power / np.maximum(counts, 1), np.nan)
    floor = float(np.nanmedian(mean[frequencies >= FLOOR_FREQUENCY]))
    return frequencies[valid], mean[valid] / max(floor, 1e-30) - 1


def whitened_power(plane: np.ndarray, noise: NoiseReport) -> np.ndarray:
    """The power spectrum of ``plane`` (mean removed, Hann-windowed) divided by the noise's
    spectral shape, so that the noise's power is flat."""
    window = np.outer(np.hanning(plane.shape[0]), np.hanning(plane.shape[1]))
    values = (plane - plane.mean()) * window
    power = np.abs(np.fft.fft2(values)) ** 2 / (window**2).sum()
    shape_y = noise_shape(noise.correlation_y, plane.shape[0])
    shape_x = noise_shape(noise.correlation_x, plane.shape[1])
    return power / np.outer(shape_y, shape_x)


def finest_frequency(frequencies: np.ndarray, snr: np.ndarray) -> float | None:
    """The highest frequency of the signal band that starts at the lowest frequencies (the
    first ring where the signal falls below :data:`SIGNAL_TO_NOISE` ends it); None when no
    signal stands out or the band reaches :data:`FLOOR_FREQUENCY`."""
    below = np.flatnonzero(snr[1:] < SIGNAL_TO_NOISE)
    if len(below) == 0 or below[0] == 0:
        return None
    last = int(below[0])  # index into snr of the band's last ring (snr[1:] is offset by one)
    finest = float(frequencies[last])
    return finest if finest < FLOOR_FREQUENCY else None


def data_fwhm(frequencies: np.ndarray, snr: np.ndarray, finest: float) -> float | None:
    """The FWHM (pixels) of the Gaussian fitted to the signal's power over the top octave of
    the band (``finest / 2`` to ``finest``); None with fewer than :data:`MIN_RINGS` rings or a
    rising spectrum."""
    band = (frequencies >= finest / 2) & (frequencies <= finest) & (snr > 0)
    if band.sum() < MIN_RINGS:
        return None
    slope = np.polyfit(frequencies[band] ** 2, np.log(snr[band]), 1)[0]
    if slope >= 0:
        return None
    sigma = math.sqrt(-slope) / (2 * math.pi)
    return sigma * FWHM_PER_SIGMA


def psf_notes(
    channel_images: Sequence[Sequence[np.ndarray]],
    psfs: Sequence[np.ndarray | None],
    reports: Sequence[NoiseReport],
) -> list[str]:
    """The notes of :func:`check_psf` for every channel with a PSF (``channel 1: ...`` when
    there are several), from its images and measured noise."""
    notes = []
    channels = zip(channel_images, psfs, reports, strict=True)
    for index, (images, psf, noise) in enumerate(channels):
        if psf is None or not len(images):
            continue
        prefix = f"channel {index}: " if len(psfs) > 1 else ""
        notes += [prefix + note for note in check_psf(images, psf, noise).notes()]
    return notes
