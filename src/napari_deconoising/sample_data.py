"""Synthetic fluorescence recordings with known ground truth (no download).

The scene imitates plant tissue: a Voronoi mosaic of thin, unevenly bright cell walls, a dim
cytoplasm and a few bright vesicles. It is blurred with a Gaussian PSF and recorded as frames
with Poisson photon noise, Gaussian read noise and a camera offset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from .psf import gaussian_psf


@dataclass
class SyntheticSample:
    """A noisy stack and its ground truth, all on the camera's scale (offset included)."""

    noisy: np.ndarray  # (N, Y, X) float32 camera counts
    blurred: np.ndarray  # (Y, X) noise-free image: the target of denoising
    sharp: np.ndarray  # (Y, X) object before blurring: the target of deconvolution
    psf: np.ndarray  # the PSF used, normalised to sum 1
    offset: float
    photons: float
    read_noise: float


def cell_walls(shape: tuple[int, int], cell_size: float, rng: np.random.Generator) -> np.ndarray:
    """Sharp object in [0, 1]: thin Voronoi walls of varying brightness plus bright vesicles."""
    height, width = shape
    n_cells = max(4, int(height * width / cell_size**2))
    seeds = rng.uniform(0, 1, (n_cells, 2)) * (height, width)
    rows, cols = np.mgrid[0:height, 0:width]
    points = np.stack([rows.ravel(), cols.ravel()], axis=1)
    distances, _ = cKDTree(seeds).query(points, k=2)
    gap = (distances[:, 1] - distances[:, 0]).reshape(shape)
    walls = np.exp(-(gap**2) / (2 * 0.6**2))
    modulation = ndimage.gaussian_filter(rng.normal(size=shape), cell_size / 3)
    modulation = 0.55 + 0.45 * (modulation - modulation.min()) / np.ptp(modulation)
    scene = walls * modulation + 0.04
    n_vesicles = max(2, n_cells // 2)
    vesicles = np.zeros(shape)
    where = (rng.uniform(0, 1, (n_vesicles, 2)) * (height - 1, width - 1)).astype(int)
    vesicles[where[:, 0], where[:, 1]] = rng.uniform(2.0, 4.0, n_vesicles)
    scene += ndimage.gaussian_filter(vesicles, 0.7) * 2 * np.pi * 0.7**2 / 2
    return scene / scene.max()


def make_sample(
    shape: tuple[int, int] = (256, 256),
    n_frames: int = 8,
    psf_sigma: float = 1.5,
    photons: float = 30.0,
    read_noise: float = 3.0,
    offset: float = 100.0,
    cell_size: float = 40.0,
    seed: int = 0,
) -> SyntheticSample:
    """Make a static scene and ``n_frames`` noisy recordings of it.

    ``photons`` is the expected photon count at the brightest point of the blurred image.
    """
    rng = np.random.default_rng(seed)
    obj = cell_walls(shape, cell_size, rng)
    psf = gaussian_psf(psf_sigma)
    blurred_obj = ndimage.convolve(obj, psf.astype(np.float64), mode="reflect")
    scale = photons / blurred_obj.max()
    expected = blurred_obj * scale
    noisy = rng.poisson(np.broadcast_to(expected, (n_frames, *shape))).astype(np.float64)
    noisy += rng.normal(0, read_noise, noisy.shape) + offset
    return SyntheticSample(
        noisy=noisy.astype(np.float32),
        blurred=(expected + offset).astype(np.float32),
        sharp=(obj * scale + offset).astype(np.float32),
        psf=psf,
        offset=offset,
        photons=photons,
        read_noise=read_noise,
    )
