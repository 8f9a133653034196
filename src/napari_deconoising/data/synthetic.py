"""Synthetic fluorescence recordings with known ground truth (no download).

The scene imitates plant tissue: a Voronoi mosaic of thin, unevenly bright cell walls, a dim
cytoplasm and a few bright vesicles. It is blurred with a Gaussian PSF and recorded as frames
with Poisson photon noise, Gaussian read noise and a camera offset.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from napari_deconoising.model.convolution import blur
from napari_deconoising.psf.models import (
    gaussian_psf,
    gaussian_psf_3d_from_optics,
    widefield_psf_3d,
)


@dataclass
class SyntheticSample:
    """A noisy stack and its ground truth, all on the camera's scale (offset included).

    Made by :func:`make_sample`, ``noisy`` is (N, Y, X) frames of a (Y, X) image.
    """

    noisy: np.ndarray  # float32 camera counts
    blurred: np.ndarray  # noise-free image: the target of denoising
    sharp: np.ndarray  # object before blurring: the target of deconvolution
    psf: np.ndarray  # the PSF used, normalised to sum 1
    offset: float
    photons: float
    read_noise: float


#: A kind of synthetic sample (:class:`SyntheticSample` or one that extends it).
Sample = TypeVar("Sample", bound=SyntheticSample)


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
    camera = {"photons": photons, "read_noise": read_noise, "offset": offset}
    draw = partial(cell_walls, shape, cell_size)
    psf = gaussian_psf(psf_sigma)
    return _simulated(SyntheticSample, draw, psf, _reflect_blur, camera, seed, n_frames)


#: The z-stack sample's structures (any subset, in this order of drawing).
STRUCTURES = ("filaments", "membranes", "vesicles")


@dataclass
class ZStackSample(SyntheticSample):
    """A noisy widefield z-stack and its ground truth, on the camera's scale (offset included).

    Arrays are (Z, Y, X), one recording; ``voxel_size_um`` is (z-step, pixel, pixel).
    """

    voxel_size_um: tuple[float, float, float]
    psf_model: str  # "widefield" (vectorial, psfmodels) or "gaussian"
    na: float
    wavelength_nm: float


def make_zstack_sample(
    shape: tuple[int, int, int] = (32, 256, 256),
    pixel_size_um: float = 0.1,
    z_step_um: float = 0.25,
    na: float = 1.1,
    wavelength_nm: float = 520.0,
    structures: tuple[str, ...] = STRUCTURES,
    density: float = 1.0,
    photons: float = 30.0,
    read_noise: float = 3.0,
    offset: float = 100.0,
    psf_model: str = "widefield",
    seed: int = 0,
) -> ZStackSample:
    """Make a synthetic widefield z-stack of 3D filaments, cell membranes and vesicles.

    The sharp object is blurred with a 3D PSF for the optics and voxel size (the vectorial
    widefield PSF when ``psfmodels`` is installed and ``psf_model`` is "widefield", else the
    Gaussian approximation) and recorded with Poisson photon noise, Gaussian read noise and a
    camera offset. ``photons`` is the expected photon count at the brightest point of the
    blurred stack; ``density`` scales how many structures there are.
    """
    _check_zstack_settings(shape, structures, psf_model)
    camera = {"photons": photons, "read_noise": read_noise, "offset": offset}
    voxel = (z_step_um, pixel_size_um, pixel_size_um)
    draw = partial(zstack_object, shape, voxel, structures, density)
    model = psf_model if psf_model == "gaussian" or _has_psfmodels() else "gaussian"
    make = widefield_psf_3d if model == "widefield" else gaussian_psf_3d_from_optics
    psf = make(na, wavelength_nm, pixel_size_um * 1000, z_step_um * 1000)
    extra = {"voxel_size_um": voxel, "psf_model": model, "na": na, "wavelength_nm": wavelength_nm}
    return _simulated(ZStackSample, draw, psf, _clipped_blur, camera, seed, **extra)


def zstack_object(
    shape: tuple[int, int, int],
    voxel_size_um: tuple[float, float, float],
    structures: tuple[str, ...] = STRUCTURES,
    density: float = 1.0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Sharp 3D object in [0, 1] (Z, Y, X) with physical sizes in µm: thin curved filaments,
    the membranes of a few round cells and bright sub-resolution vesicles, on a dim floor."""
    rng = rng or np.random.default_rng(0)
    extent = np.array(shape) * np.array(voxel_size_um)
    thin = np.zeros(shape)
    if "membranes" in structures:
        thin += 0.6 * _membranes(shape, voxel_size_um, extent, density, rng)
    if "filaments" in structures:
        thin += _filaments(shape, voxel_size_um, extent, density, rng)
    # membranes and filaments are about 60 nm thick, vesicles about 120 nm (sigma)
    scene = _blur_um(thin, voxel_size_um, 0.06)
    if "vesicles" in structures:
        vesicles = _blur_um(
            _vesicles(shape, voxel_size_um, extent, density, rng), voxel_size_um, 0.12
        )
        scene += vesicles * (scene.max() if scene.max() > 0 else 1.0) / max(vesicles.max(), 1e-12)
    scene = scene / max(float(scene.max()), 1e-12) + 0.02
    return scene / scene.max()


def _blur_um(volume: np.ndarray, voxel_size_um, sigma_um: float) -> np.ndarray:
    return ndimage.gaussian_filter(
        volume, [sigma_um / size for size in voxel_size_um], mode="constant"
    )


def _filaments(shape, voxel, extent, density, rng) -> np.ndarray:
    """Smooth random 3D curves (persistence ~ a few µm), drawn as points every 0.03 µm."""
    n_filaments = max(1, round(density * extent[1] * extent[2] / 40))
    points, weights = [], []
    step = 0.03
    for _ in range(n_filaments):
        position = rng.uniform(0, 1, 3) * extent
        direction = rng.normal(size=3) * (0.3, 1, 1)
        brightness = rng.uniform(0.5, 1.0)
        length = rng.uniform(0.5, 1.2) * extent[1:].max()
        for _ in range(int(length / step)):
            direction += rng.normal(scale=0.04, size=3) * (0.3, 1, 1)
            direction /= np.linalg.norm(direction)
            position = position + step * direction
            points.append(position.copy())
            weights.append(brightness)
    return _splat(shape, voxel, np.array(points), np.array(weights) * step / 0.1)


def _membranes(shape, voxel, extent, density, rng) -> np.ndarray:
    """Surfaces of a few ellipsoidal cells, sampled as ~0.025 µm-spaced points."""
    n_cells = max(1, round(density * extent[1] * extent[2] / 150))
    points, weights = [], []
    for _ in range(n_cells):
        centre = rng.uniform(0, 1, 3) * extent
        radii = rng.uniform(1.5, 4.0, 3) * (0.6, 1, 1)
        area = 4 * np.pi * np.mean(radii) ** 2
        n_points = int(area / 0.025**2)
        normals = rng.normal(size=(n_points, 3))
        normals /= np.linalg.norm(normals, axis=1, keepdims=True)
        points.append(centre + normals * radii)
        weights.append(np.full(n_points, rng.uniform(0.4, 1.0)))
    return _splat(shape, voxel, np.concatenate(points), np.concatenate(weights) * 0.025**2 / 0.01)


def _vesicles(shape, voxel, extent, density, rng) -> np.ndarray:
    """Bright points of random brightness."""
    n_vesicles = max(2, round(density * extent[1] * extent[2] / 8))
    where = rng.uniform(0, 1, (n_vesicles, 3)) * extent
    return _splat(shape, voxel, where, rng.uniform(0.5, 1.0, n_vesicles))


def _splat(shape, voxel, points: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Add each point's weight to its nearest voxel (points outside the volume are dropped)."""
    volume = np.zeros(shape)
    index = np.floor(points / np.array(voxel)).astype(int)
    inside = np.all((index >= 0) & (index < np.array(shape)), axis=1)
    np.add.at(volume, tuple(index[inside].T), weights[inside])
    return volume


def _has_psfmodels() -> bool:
    try:
        import psfmodels  # noqa: F401
    except ImportError:
        return False
    return True


def _check_zstack_settings(shape, structures, psf_model) -> None:
    from napari_deconoising.errors import ImageError

    if len(shape) != 3 or min(shape) < 1:
        raise ImageError(f"a z-stack shape is (Z, Y, X), got {shape}")
    unknown = sorted(set(structures) - set(STRUCTURES))
    if unknown or not structures:
        raise ImageError(f"structures must be among {', '.join(STRUCTURES)}, got {structures}")
    if psf_model not in ("widefield", "gaussian"):
        raise ImageError(f"psf_model must be 'widefield' or 'gaussian', got {psf_model!r}")


def _simulated(
    kind: type[Sample],
    draw: Callable[[np.random.Generator], np.ndarray],
    psf: np.ndarray,
    blurring: Callable[[np.ndarray, np.ndarray], np.ndarray],
    camera: dict[str, float],
    seed: int,
    n_frames: int | None = None,
    **fields: Any,
) -> Sample:
    """A ``kind`` of sample: the object ``draw`` makes from the ``seed``'s generator, blurred
    with ``psf`` by ``blurring`` and recorded (:func:`_recorded`) with the ``camera``'s photons,
    read noise and offset; ``fields`` are the sample's other fields."""
    rng = np.random.default_rng(seed)
    obj = draw(rng)
    noisy, blurred, sharp = _recorded(obj, blurring(obj, psf), **camera, rng=rng, n_frames=n_frames)
    return kind(noisy=noisy, blurred=blurred, sharp=sharp, psf=psf, **camera, **fields)


def _reflect_blur(obj: np.ndarray, psf: np.ndarray) -> np.ndarray:
    """``obj`` convolved with ``psf`` in real space, reflected at the borders."""
    return ndimage.convolve(obj, psf.astype(np.float64), mode="reflect")


def _clipped_blur(obj: np.ndarray, psf: np.ndarray) -> np.ndarray:
    """``obj`` blurred with ``psf`` by :func:`~napari_deconoising.model.convolution.blur`, its
    ringing below 0 clipped."""
    return np.clip(blur(obj, psf), 0, None)


def _recorded(
    obj: np.ndarray,
    blurred_obj: np.ndarray,
    photons: float,
    read_noise: float,
    offset: float,
    rng: np.random.Generator,
    n_frames: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What a camera records of ``blurred_obj`` scaled to ``photons`` at its peak: (noisy,
    blurred truth, sharp truth) in camera counts, float32. Poisson shot noise and Gaussian read
    noise on ``offset``; ``n_frames`` independent frames of a 2D image, or one recording."""
    scale = photons / blurred_obj.max()
    expected = blurred_obj * scale
    shape = expected.shape if n_frames is None else (n_frames, *expected.shape)
    noisy = rng.poisson(np.broadcast_to(expected, shape)).astype(np.float64)
    noisy += rng.normal(0, read_noise, noisy.shape) + offset
    blurred = (expected + offset).astype(np.float32)
    return noisy.astype(np.float32), blurred, (obj * scale + offset).astype(np.float32)
