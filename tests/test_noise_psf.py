"""The PSF checked against the images: too wide for the finest structure they hold, or far
narrower than the blur their power spectrum shows."""

import numpy as np
import pytest
from scipy import ndimage

from napari_deconoising import NetworkConfig, Trainer, TrainingConfig, make_sample
from napari_deconoising.data.psf_check import TOO_WIDE, check_psf
from napari_deconoising.psf.measure import psf_fwhm
from napari_deconoising.psf.models import gaussian_psf, gaussian_psf_3d


@pytest.fixture(scope="module")
def sample():
    """Cell walls blurred by a Gaussian of sigma 1.5 px (FWHM 3.5), 300 photons."""
    return make_sample((256, 256), n_frames=2, psf_sigma=1.5, photons=300, seed=1)


def test_the_true_psf_passes_and_the_spectrum_bounds_its_width(sample):
    check = check_psf(sample.noisy, sample.psf)
    assert check.notes() == []
    # objects only lose power at finer scales: the blur shown is at least the PSF's
    assert 2.355 * 1.5 <= check.data_fwhm_px <= 1.3 * 2.355 * 1.5
    assert 3.5 < check.finest_period_px < 6  # signal above noise beyond the PSF's FWHM
    assert 0.001 < check.psf_power_at_finest < 0.2


def test_a_psf_twice_too_wide_is_noted_with_numbers(sample):
    wide = gaussian_psf(3.0)
    check = check_psf(sample.noisy, wide)
    assert check.too_wide() and check.psf_fwhm_px > TOO_WIDE * check.data_fwhm_px
    note = check.notes()[0]
    assert note.startswith(f"the PSF (FWHM {psf_fwhm(wide):.2g} px) looks too wide")
    assert f"period of {check.finest_period_px:.2g} px" in note
    assert f"at most FWHM {check.data_fwhm_px:.2g} px" in note


def test_a_far_too_narrow_psf_is_noted(sample):
    check = check_psf(sample.noisy, gaussian_psf(0.5))
    assert check.too_narrow() and not check.too_wide()
    assert "narrower than the blur these images show" in check.notes()[0]
    # a 3D PSF's out-of-focus light blurs planes beyond its in-focus width: not noted
    assert check_psf(sample.noisy, gaussian_psf_3d(0.5, 1.0)).notes() == []


def test_correlated_noise_is_not_taken_for_signal(sample):
    kernel = np.array([0.7, 1.0, 0.7]) / np.sqrt(1.98)
    noise = ndimage.correlate1d(sample.noisy - sample.blurred, kernel, axis=-1)
    noisy = sample.blurred + noise
    assert check_psf(noisy, sample.psf).notes() == []
    assert check_psf(noisy, gaussian_psf(3.0)).too_wide()


def test_pure_noise_says_nothing():
    noise = np.random.default_rng(0).normal(100, 5, (128, 128))
    check = check_psf(noise, gaussian_psf(2.0))
    assert check.data_fwhm_px is None and check.finest_period_px is None
    assert check.notes() == []


def test_training_notes_a_psf_too_wide_for_the_images(sample):
    config = TrainingConfig(
        steps=1, patch_size=32, batch_size=2, network=NetworkConfig(depth=2, start_filters=8)
    )
    wide = Trainer(sample.noisy, gaussian_psf(3.0), config)
    assert any("looks too wide for these images" in note for note in wide.notes)
    right = Trainer(sample.noisy, sample.psf, config)
    assert not any("PSF (FWHM" in note for note in right.notes)
