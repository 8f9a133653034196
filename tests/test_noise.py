"""The noise measurement: correlation per axis, clipping, hot pixels, levels, and its notes."""

import numpy as np
import pytest
from scipy import ndimage

from napari_deconoising import make_sample
from napari_deconoising.data.noise import (
    MAX_PIXELS,
    correlation_length,
    measure_noise,
    without_hot_pixels,
)


def correlated(noise: np.ndarray, weight: float, axis: int = -1) -> np.ndarray:
    """Noise filtered along ``axis`` by [w, 1, w], variance kept: lag-1 correlation
    2w / (1 + 2w²), lag-2 w² / (1 + 2w²)."""
    kernel = np.array([weight, 1.0, weight]) / np.sqrt(1 + 2 * weight**2)
    return ndimage.correlate1d(noise, kernel, axis=axis, mode="reflect")


def smooth_signal(shape=(256, 256), amplitude=200.0, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100 + amplitude * ndimage.gaussian_filter(rng.random(shape), 6) * 10


@pytest.mark.parametrize("sigma", [0.5, 5.0, 300.0])
def test_white_noise_reads_as_uncorrelated_at_every_level(sigma):
    rng = np.random.default_rng(1)
    image = smooth_signal() + rng.normal(0, sigma, (256, 256))
    report = measure_noise(image)
    assert np.max(np.abs(report.correlation_x)) < 0.05
    assert np.max(np.abs(report.correlation_y)) < 0.05
    assert report.correlation_length_x == report.correlation_length_y == 0
    assert report.structured_span() == {}
    assert report.noise_sigma == pytest.approx(sigma, rel=0.1)
    assert report.notes() == []


def test_noise_correlated_along_x_is_found_with_its_length():
    rng = np.random.default_rng(2)
    image = smooth_signal() + correlated(rng.normal(0, 5, (256, 256)), 0.7)
    report = measure_noise(image)
    assert report.correlation_x[0] == pytest.approx(1.4 / 1.98, abs=0.03)
    assert report.correlation_x[1] == pytest.approx(0.49 / 1.98, abs=0.03)
    assert abs(report.correlation_x[2]) < 0.05 and abs(report.correlation_y[0]) < 0.05
    assert report.correlation_length_x == 2 and report.correlation_length_y == 0
    assert report.structured_span() == {"X": 2}
    assert report.notes()[0].startswith("noise is correlated along X over 2 pixels")
    assert "spans 5 pixels along X" in report.notes()[0]
    assert "one pixel as asked" in report.notes("pixel")[0]


@pytest.mark.parametrize(
    ("lags", "length"),
    [
        ((0.02, -0.01, 0.03, 0.0), 0),
        ((0.71, 0.25, 0.02, 0.01), 2),
        # a lag just under the threshold between two above it does not end the correlation
        # (measured on the resampled FMD widefield actin channel)
        ((0.32, 0.096, 0.138, 0.079), 3),
        ((0.46, 0.23, 0.17, 0.12), 4),
    ],
)
def test_correlation_length_is_the_farthest_lag_above_the_threshold(lags, length):
    assert correlation_length(lags) == length


def test_weak_correlation_along_y_gives_a_span_of_one():
    rng = np.random.default_rng(3)
    image = smooth_signal() + correlated(rng.normal(0, 5, (256, 256)), 0.3, axis=0)
    report = measure_noise(image)
    assert report.correlation_y[0] == pytest.approx(0.6 / 1.18, abs=0.03)
    assert report.structured_span() == {"Y": 1}
    assert "spans 3 pixels along Y" in report.notes()[0]


@pytest.mark.parametrize("weight", [0.0, 0.7])
def test_microscopy_sample_signal_does_not_read_as_noise_correlation(weight):
    sample = make_sample((128, 128), n_frames=2, psf_sigma=1.5, photons=30, seed=4)
    noisy = sample.blurred + correlated(sample.noisy - sample.blurred, weight)
    report = measure_noise(noisy)
    assert report.structured_span() == ({"X": 2} if weight else {})
    assert abs(report.correlation_y[0]) < 0.05
    assert report.offset == pytest.approx(sample.offset, abs=5)


def test_z_stacks_and_stacks_use_their_last_two_axes():
    rng = np.random.default_rng(5)
    volume = 100 + correlated(rng.normal(0, 3, (8, 64, 64)), 0.7)
    assert measure_noise(volume).structured_span() == {"X": 2}
    frames = [volume[0], volume[1]]
    assert measure_noise(frames).structured_span() == {"X": 2}


def test_large_images_are_subsampled():
    stack = np.random.default_rng(6).normal(100, 3, (40, 512, 512)).astype(np.float32)
    report = measure_noise(stack)
    assert report.pixels <= MAX_PIXELS
    assert report.noise_sigma == pytest.approx(3, rel=0.05)


def test_saturated_pixels_are_found_and_noted():
    rng = np.random.default_rng(7)
    image = rng.poisson(200, (128, 128)).astype(np.uint16)
    image[20:40, 30:50] = 4095  # a 12-bit camera saturated on a bright blob
    report = measure_noise(image)
    assert report.saturation_value == 4095
    assert report.saturated_fraction == pytest.approx(400 / 128**2)
    assert any("2.4% of pixels are saturated at 4095" in note for note in report.notes())
    float_image = rng.normal(100, 5, (128, 128))  # one pixel holds the maximum by chance
    assert measure_noise(float_image).saturation_value is None


def test_hot_pixels_are_counted_and_replaced_but_bright_spots_are_not():
    sample = make_sample((128, 128), n_frames=1, psf_sigma=1.0, photons=3000, seed=8)
    image = sample.noisy[0].copy()
    assert measure_noise(image).hot_pixels == 0  # sharp, bright vesicles are no hot pixels
    rows, cols = np.array([10, 30, 50, 70, 90, 110]), np.array([15, 40, 60, 20, 100, 70])
    image[rows, cols] += 5000
    report = measure_noise(image)
    assert report.hot_pixels == 6 and report.hot_fraction == pytest.approx(6 / 128**2)
    assert any(note.startswith("6 hot pixels") for note in report.notes())
    cleaned, count = without_hot_pixels(image, report.noise_sigma)
    assert count == 6
    assert np.all(np.abs(cleaned[rows, cols] - sample.blurred[rows, cols]) < 400)
    others = np.ones(image.shape, bool)
    others[rows, cols] = False
    assert np.array_equal(cleaned[others], image[others])


def test_eight_bit_and_display_scaled_data_are_noted():
    rng = np.random.default_rng(9)
    raw = smooth_signal((128, 128)) + rng.normal(0, 4, (128, 128))
    scaled = np.clip((raw - raw.min()) / np.ptp(raw) * 211, 0, 255).round()
    eight_bit = measure_noise(scaled.astype(np.uint8))
    assert eight_bit.eight_bit and eight_bit.display_scaled and eight_bit.levels <= 212
    assert any(note.startswith("8-bit data") for note in eight_bit.notes())
    stretched = measure_noise((scaled * 257).astype(np.uint16))  # 8-bit data saved as 16-bit
    assert stretched.display_scaled and not stretched.eight_bit and stretched.level_step == 257
    assert any("few distinct values" in note for note in stretched.notes())
    photon_counts = measure_noise(rng.poisson(5, (128, 128)).astype(np.uint16))
    assert photon_counts.levels < 30 and not photon_counts.display_scaled


def test_black_clipping_is_noted():
    rng = np.random.default_rng(10)
    signal = smooth_signal((128, 128))
    noisy = signal - np.percentile(signal, 30) + rng.normal(0, 4, (128, 128))
    report = measure_noise(np.clip(noisy, 0, None).round().astype(np.uint16))
    assert report.clipped_low_fraction == pytest.approx(np.mean(noisy < 0.5), abs=1e-6)
    assert 0.2 < report.clipped_low_fraction < 0.4  # the 30% darkest signal, give or take noise
    assert any("dark parts were clipped" in note for note in report.notes())
