import numpy as np
import pytest

from napari_deconoising import make_sample, psnr
from napari_deconoising.data.images import as_frames, estimate_offset


def test_sample_has_known_truth_and_noise():
    sample = make_sample((128, 96), n_frames=3, photons=30, read_noise=3, offset=100, seed=4)
    assert sample.noisy.shape == (3, 128, 96)
    assert sample.blurred.shape == sample.sharp.shape == (128, 96)
    assert sample.psf.sum() == pytest.approx(1.0, abs=1e-5)
    assert sample.blurred.max() == pytest.approx(130.0, rel=1e-4)  # 30 photons + offset
    residual = sample.noisy - sample.blurred
    assert residual.mean() == pytest.approx(0.0, abs=0.3)
    # Poisson + Gaussian: variance = photons + read_noise^2
    expected = (sample.blurred - 100).mean() + 9
    assert residual.var() == pytest.approx(expected, rel=0.1)
    assert psnr(sample.sharp, sample.blurred) < 40  # blurring matters: deconvolution has work


def test_sample_is_seeded():
    assert np.array_equal(
        make_sample((64, 64), 1, seed=3).noisy, make_sample((64, 64), 1, seed=3).noisy
    )


def test_psnr_as_in_the_notebooks():
    truth = np.array([[0.0, 10.0], [0.0, 10.0]])
    image = truth + 1.0
    assert psnr(truth, image) == pytest.approx(20.0)
    assert psnr(truth, np.stack([image, image])) == pytest.approx(20.0)
    assert psnr(truth, truth) == float("inf")


def test_offset_estimate():
    sample = make_sample((128, 128), 2, offset=500, seed=5)
    assert estimate_offset(sample.noisy) == pytest.approx(500, abs=5)


def test_frames_view_of_images():
    assert as_frames(np.zeros((8, 9), np.uint8)).shape == (1, 8, 9)
    assert as_frames(np.zeros((2, 8, 9), np.int32)).dtype == np.float32
