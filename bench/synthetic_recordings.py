"""Named synthetic 2D recordings with known truth, for benchmarks against other denoisers.

Each recording is a static scene (thin curved filaments, or the sample data's cell walls)
blurred with a Gaussian PSF and recorded as a few frames with Poisson photon noise, Gaussian
read noise and a camera offset (the conventions of ``napari_deconoising.data.synthetic``). Seeds
are fixed, so every call returns the same arrays. The scenes were not tuned to any benchmark
result or to the ../shared benchmark stack.

    from synthetic_recordings import RECORDINGS
    recording = RECORDINGS["filaments_s2_p40"]()
    recording.noisy  # (4, 256, 256) float32 camera counts
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
from scipy import ndimage

from napari_deconoising.data.synthetic import _recorded, cell_walls
from napari_deconoising.model.convolution import blur
from napari_deconoising.psf.models import gaussian_psf

SHAPE = (256, 256)
N_FRAMES = 4
READ_NOISE = 3.0
OFFSET = 100.0


@dataclass
class Recording:
    """A noisy stack and its truth, all in camera counts (offset included)."""

    name: str
    noisy: np.ndarray  # (N, Y, X) float32 camera counts
    blurred: np.ndarray  # (Y, X) noise-free image: the target of denoising
    sharp: np.ndarray  # (Y, X) object before blurring: the target of deconvolution
    psf: np.ndarray  # (k, k) the true PSF, sum 1
    psf_sigma: float  # its Gaussian sigma in pixels
    photons: float  # expected photons at the brightest point of the blurred image
    read_noise: float
    offset: float


def filaments(shape: tuple[int, int], rng: np.random.Generator, density: float = 1.0):
    """Sharp object in [0, 1]: 1-pixel-wide smooth random curves of varying brightness on a dim
    floor. Each curve is a random walk of its direction (persistence ~ tens of pixels)."""
    height, width = shape
    scene = np.zeros(shape)
    n_curves = max(2, round(density * height * width / 2500))
    for _ in range(n_curves):
        rows, cols = _smooth_curve(shape, rng)
        inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
        np.maximum.at(scene, (rows[inside], cols[inside]), rng.uniform(0.4, 1.0))
    return (scene + 0.04) / 1.04


def _smooth_curve(shape: tuple[int, int], rng: np.random.Generator, step: float = 0.25):
    """Pixel coordinates of one curve, sampled every ``step`` px and rounded to the nearest
    pixel; its curvature is smooth noise of about 0.03 rad/px (radius ~30 px)."""
    position = rng.uniform(0, 1, 2) * shape
    length = rng.uniform(0.4, 1.0) * max(shape)
    n_steps = int(length / step)
    curvature = ndimage.gaussian_filter1d(rng.normal(size=n_steps), 10 / step)
    curvature *= 0.03 / max(float(curvature.std()), 1e-12)
    angles = rng.uniform(0, 2 * np.pi) + np.cumsum(curvature * step)
    moves = step * np.stack([np.sin(angles), np.cos(angles)], axis=1)
    index = np.round(position + np.cumsum(moves, axis=0)).astype(int)
    return index[:, 0], index[:, 1]


def membranes(shape: tuple[int, int], rng: np.random.Generator, cell_size: float = 40.0):
    """Sharp object in [0, 1]: the sample data's cell walls and vesicles."""
    return cell_walls(shape, cell_size, rng)


SCENES: dict[str, Callable[[tuple[int, int], np.random.Generator], np.ndarray]] = {
    "filaments": filaments,
    "membranes": membranes,
}


def record(
    name: str,
    scene: str,
    psf_sigma: float,
    photons: float,
    seed: int,
    shape: tuple[int, int] = SHAPE,
    n_frames: int = N_FRAMES,
) -> Recording:
    """Draw ``scene``, blur it with a Gaussian PSF of ``psf_sigma`` px and record ``n_frames``
    noisy frames with ``photons`` at the blurred image's brightest point."""
    rng = np.random.default_rng(seed)
    sharp_object = SCENES[scene](shape, rng)
    psf = gaussian_psf(psf_sigma)
    blurred_object = np.clip(blur(sharp_object, psf), 0, None)
    noisy, blurred, sharp = _recorded(
        sharp_object, blurred_object, photons, READ_NOISE, OFFSET, rng, n_frames
    )
    return Recording(
        name=name,
        noisy=noisy,
        blurred=blurred,
        sharp=sharp,
        psf=psf.astype(np.float32),
        psf_sigma=psf_sigma,
        photons=photons,
        read_noise=READ_NOISE,
        offset=OFFSET,
    )


#: The benchmark's recordings by name: call one to make it (about a second each).
RECORDINGS: dict[str, Callable[[], Recording]] = {
    "filaments_s2_p40": partial(record, "filaments_s2_p40", "filaments", 2.0, 40.0, seed=101),
    "filaments_s1.5_p100": partial(
        record, "filaments_s1.5_p100", "filaments", 1.5, 100.0, seed=102
    ),
    "membranes_s2_p40": partial(record, "membranes_s2_p40", "membranes", 2.0, 40.0, seed=103),
    "membranes_s3_p20": partial(record, "membranes_s3_p20", "membranes", 3.0, 20.0, seed=104),
}
