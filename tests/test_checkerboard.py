"""The checkerboard index: a Nyquist peak of the error spectrum, in dB."""

from __future__ import annotations

import numpy as np
import pytest

from napari_deconoising import make_sample
from napari_deconoising.evaluation.metrics import checkerboard_index
from napari_deconoising.model.convolution import blur
from napari_deconoising.psf.models import gaussian_psf


@pytest.fixture(scope="module")
def sample():
    return make_sample(shape=(128, 128), n_frames=2, seed=1)


def _checkerboard(shape: tuple[int, ...]) -> np.ndarray:
    rows, cols = np.indices(shape[-2:])
    return ((rows + cols) % 2 * 2 - 1).astype(np.float64)


def test_a_checkerboard_raises_the_index_with_its_amplitude(sample):
    rng = np.random.default_rng(0)
    truth = sample.blurred
    noise = 0.1 * truth.std() * rng.normal(size=truth.shape)
    pattern = _checkerboard(truth.shape) * 0.1 * truth.std()
    indices = [checkerboard_index(truth + noise + a * pattern, truth) for a in (0, 0.3, 1, 3)]
    assert abs(indices[0]) < 1.5
    assert indices[2] > 3 and indices[3] > 10
    assert np.all(np.diff(indices) > 0)


def test_stripes_of_period_2_count_as_well(sample):
    rows = np.indices(sample.sharp.shape)[0]
    stripes = (rows % 2 * 2 - 1) * 0.05 * sample.sharp.std()
    assert checkerboard_index(sample.sharp + stripes, sample.sharp) > 10


def test_smooth_noisy_and_blurred_outputs_read_about_0_db(sample):
    rng = np.random.default_rng(1)
    smooth = blur(sample.sharp, gaussian_psf(3.0))
    assert checkerboard_index(smooth, smooth) == pytest.approx(0.0, abs=1e-9)
    noisy_smooth = smooth + 0.2 * smooth.std() * rng.normal(size=smooth.shape)
    assert abs(checkerboard_index(noisy_smooth, smooth)) < 1.5
    # lost resolution is no artefact: the blurred truth against the sharp one
    assert -3 < checkerboard_index(sample.blurred, sample.sharp) < 1.5
    assert abs(checkerboard_index(sample.noisy, sample.blurred)) < 1.5


def test_a_stack_is_measured_frame_by_frame(sample):
    truth = sample.blurred
    pattern = _checkerboard(truth.shape) * truth.std()
    stack = np.stack(
        [truth + 0.01 * truth.std() * np.random.default_rng(2).normal(size=truth.shape)] * 2
    )
    stack[1] += pattern
    both = checkerboard_index(stack, truth)
    single = [checkerboard_index(frame, truth) for frame in stack]
    assert both == pytest.approx(np.mean(single))
    assert single[1] > single[0] + 10


def test_shapes_are_checked(sample):
    with pytest.raises(ValueError, match="shapes differ"):
        checkerboard_index(sample.blurred[:64], sample.blurred)
    with pytest.raises(ValueError, match="at least"):
        checkerboard_index(np.zeros((16, 16)), np.zeros((16, 16)))
