"""The synthetic widefield z-stack and the classical baselines (Richardson-Lucy, best Gaussian)."""

import numpy as np
import pytest
from scipy import ndimage

from napari_deconoising import ImageError, PSFError, psnr
from napari_deconoising.data.synthetic import SyntheticSample, make_zstack_sample, zstack_object
from napari_deconoising.evaluation.baselines import (
    PSFBlur,
    best_gaussian_filter,
    best_richardson_lucy,
    richardson_lucy,
)
from napari_deconoising.model.convolution import blur
from napari_deconoising.psf.models import gaussian_psf, gaussian_psf_3d, widefield_psf_3d

SMALL = {"shape": (12, 48, 48), "seed": 2}


@pytest.fixture(scope="module")
def sample():
    return make_zstack_sample(**SMALL)


def test_zstack_has_its_truths_psf_and_voxel_size(sample):
    assert sample.noisy.shape == sample.blurred.shape == sample.sharp.shape == (12, 48, 48)
    assert sample.noisy.dtype == np.float32
    assert sample.voxel_size_um == (0.25, 0.1, 0.1)
    assert sample.psf_model == "widefield"
    assert isinstance(sample, SyntheticSample)  # the 2D sample's fields, and its own
    np.testing.assert_array_equal(sample.psf, widefield_psf_3d(1.1, 520, 100, 250))
    # blurred truth = sharp object blurred with the returned PSF, photons at its brightest point
    expected = blur(sample.sharp.astype(np.float64) - sample.offset, sample.psf)
    np.testing.assert_allclose(sample.blurred - sample.offset, expected, rtol=1e-4, atol=1e-3)
    assert sample.blurred.max() - sample.offset == pytest.approx(sample.photons, rel=1e-5)
    assert sample.blurred.min() >= sample.offset


def test_zstack_noise_is_poisson_plus_read_noise(sample):
    residual = sample.noisy.astype(np.float64) - sample.blurred
    expected_variance = (sample.blurred - sample.offset).mean() + sample.read_noise**2
    assert abs(residual.mean()) < 0.1
    assert residual.var() == pytest.approx(expected_variance, rel=0.05)


def test_zstack_is_reproducible_and_its_settings_change_it(sample):
    again = make_zstack_sample(**SMALL)
    np.testing.assert_array_equal(again.noisy, sample.noisy)
    other = make_zstack_sample(**{**SMALL, "seed": 3})
    assert not np.array_equal(other.sharp, sample.sharp)
    gaussian = make_zstack_sample(**SMALL, psf_model="gaussian", na=1.4, z_step_um=0.2)
    assert gaussian.psf_model == "gaussian" and gaussian.voxel_size_um[0] == 0.2


def test_structures_are_3d_and_each_can_be_left_out():
    voxel = (0.25, 0.1, 0.1)
    membranes = zstack_object((16, 64, 64), voxel, ("membranes",), rng=np.random.default_rng(0))
    vesicles = zstack_object((16, 64, 64), voxel, ("vesicles",), rng=np.random.default_rng(0))
    assert membranes.max() == pytest.approx(1.0) and membranes.min() > 0
    bright = membranes > 0.3
    assert np.count_nonzero(bright.any(axis=(1, 2))) > 4  # structure spans several planes
    assert np.count_nonzero(vesicles > 0.3) < np.count_nonzero(bright)  # small points


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"structures": ("cubes",)}, "structures"),
        ({"shape": (8, 8)}, "Z, Y, X"),
        ({"psf_model": "x"}, "psf_model"),
    ],
)
def test_bad_sample_settings(settings, message):
    with pytest.raises(ImageError, match=message):
        make_zstack_sample(**settings)


@pytest.mark.parametrize("ndim", [2, 3])
def test_psf_blur_matches_scipy_with_reflected_borders(ndim):
    rng = np.random.default_rng(ndim)
    image = rng.random((9, 20, 17)[-ndim:])
    kernel = rng.random((5, 7, 3)[-ndim:])
    convolver = PSFBlur(image.shape, kernel)
    np.testing.assert_allclose(
        convolver.convolve(image), ndimage.convolve(image, kernel, mode="mirror"), atol=1e-10
    )
    np.testing.assert_allclose(
        convolver.correlate(image), ndimage.correlate(image, kernel, mode="mirror"), atol=1e-10
    )


def test_richardson_lucy_gets_closer_to_the_sharp_truth_in_3d():
    rng = np.random.default_rng(0)
    sharp = np.zeros((12, 32, 32))
    sharp[3:9:2, 8:24:5, 8:24:4] = 2000.0  # bright points a few voxels apart
    sharp += 1.0
    psf = gaussian_psf_3d(1.2, 1.5)
    blurred = blur(sharp, psf)
    noisy = rng.poisson(blurred) + 100.0
    result = best_richardson_lucy(noisy, psf, sharp + 100, max_iterations=60, offset=100)
    assert result.iterations > 1
    assert result.psnr_sharp == pytest.approx(psnr(sharp + 100, result.deconvolved))
    assert result.psnr_sharp > psnr(sharp + 100, blurred + 100) + 1
    assert psnr(blurred + 100, result.reblurred) > psnr(blurred + 100, noisy)
    fixed = richardson_lucy(noisy, psf, result.iterations, offset=100)
    np.testing.assert_allclose(fixed, result.deconvolved, rtol=1e-5)


def test_richardson_lucy_works_in_2d_and_refuses_a_psf_of_other_dimensions():
    sharp = np.zeros((32, 32))
    sharp[8:24:6, 8:24:6] = 40.0
    psf = gaussian_psf(1.5)
    blurred = blur(sharp, psf)
    deconvolved = richardson_lucy(blurred, psf, 30)
    assert psnr(sharp, deconvolved) > psnr(sharp, blurred) + 3
    with pytest.raises(PSFError, match="3D PSF"):
        richardson_lucy(blurred, gaussian_psf_3d(1.5, 1.0), 3)


def test_best_gaussian_filter_sweeps_lateral_and_axial_sigma(sample):
    best = best_gaussian_filter(sample.noisy, sample.blurred)
    assert len(best.sigma) == 3 and best.sigma[1] == best.sigma[2]
    assert best.psnr > psnr(sample.blurred, sample.noisy) + 5
    assert best.psnr == pytest.approx(psnr(sample.blurred, best.filtered), abs=1e-3)
    lateral_only = best_gaussian_filter(sample.noisy, sample.blurred, axial_sigmas=(0.0,))
    assert lateral_only.psnr <= best.psnr
