"""Structured blind spots (structN2V-style), chosen from the measured noise; saturated pixels out
of the loss and hot pixels replaced for training."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from napari_deconoising import NetworkConfig, Trainer, TrainingConfig, make_sample
from napari_deconoising.data.noise import measure_noise
from napari_deconoising.psf.models import gaussian_psf
from napari_deconoising.training.blind_spot import (
    choose_blind_spot,
    describe_blind_spot,
    keeps_axes,
    mask_span,
)
from napari_deconoising.training.channel_session import ChannelSession
from napari_deconoising.training.masking import blind_spot_mask, off_line_offsets
from napari_deconoising.training.sampling import PatchSampler

TINY = {
    "patch_size": 32,
    "batch_size": 2,
    "network": NetworkConfig(depth=2, start_filters=8),
    "validation_interval": 2,
    "device": "cpu",
}


def x_correlated(shape=(2, 64, 64), weight=0.7, seed=0) -> np.ndarray:
    """Smooth signal plus noise filtered along X by [w, 1, w] (lag-1 correlation 0.71 for 0.7)."""
    rng = np.random.default_rng(seed)
    kernel = np.array([weight, 1.0, weight]) / np.sqrt(1 + 2 * weight**2)
    noise = ndimage.correlate1d(rng.normal(0, 5, shape), kernel, axis=-1)
    return (200 + noise).astype(np.float32)


def test_a_structured_blind_spot_hides_the_masked_pixels_row_neighbours():
    width = 32
    patches = torch.arange(4 * width * width, dtype=torch.float32).reshape(4, 1, width, width)
    generator = torch.Generator().manual_seed(0)
    manipulated, mask = blind_spot_mask(patches, 1 / 36, 5, generator, span=(0, 2))
    assert torch.all(mask.sum(dim=(1, 2, 3)) == 6 * 6)  # one per 6x6 box, as without a span
    assert torch.all(manipulated[mask.bool()] != patches[mask.bool()])
    batch, _, rows, cols = torch.nonzero(mask, as_tuple=True)
    inside = (cols >= 2) & (cols < width - 2)
    batch, rows, cols = batch[inside], rows[inside], cols[inside]
    for step in range(-2, 3):  # the pixel and 2 neighbours either side along X
        values = manipulated[batch, 0, rows, cols + step].long() % (width * width)
        # every value comes from another row: none carries the row's correlated noise
        assert torch.all(values // width != rows)
    batch, _, rows, cols = torch.nonzero(mask, as_tuple=True)
    line = torch.zeros_like(mask, dtype=torch.bool)
    for step in range(-2, 3):
        line[batch, 0, rows, (cols + step).clamp(0, width - 1)] = True
    assert torch.equal(manipulated[~line], patches[~line])  # nothing else changes


def test_off_line_offsets_leave_out_the_line():
    # a 5x5 window spanning 1 along Y: the centre column's 3 middle pixels are on the line
    allowed = set(off_line_offsets((5, 5), (1, 0)).tolist())
    assert len(allowed) == 25 - 3 and not allowed & {7, 12, 17}
    volume = off_line_offsets((3, 5, 5), (0, 0, 2))
    assert len(volume) == 75 - 5  # 3D: the X line through the centre


def test_span_per_axis_and_quarter_turns():
    assert mask_span(TrainingConfig(blind_spot="pixel"), 2) is None
    assert mask_span(TrainingConfig(blind_spot="x", blind_spot_span=2), 2) == (0, 2)
    assert mask_span(TrainingConfig(blind_spot="y"), 3) == (0, 1, 0)
    assert mask_span(TrainingConfig(blind_spot="xy", blind_spot_span=3), 2) == (3, 3)
    assert keeps_axes(None) and keeps_axes((3, 3)) and not keeps_axes((0, 2))
    assert describe_blind_spot("x", 2) == "spans 5 pixels along X"


def test_without_quarter_turns_patches_keep_their_x_axis():
    columns = torch.arange(64, dtype=torch.float32).expand(64, 64).clone()  # varies along X
    sampler = PatchSampler([columns], 16, torch.Generator().manual_seed(1), quarter_turns=False)
    patches = sampler.sample(64)
    assert torch.all(patches == patches[..., :1, :])  # every column constant: never turned
    turned = PatchSampler([columns], 16, torch.Generator().manual_seed(1)).sample(64)
    assert not torch.all(turned == turned[..., :1, :])


def test_auto_spans_the_correlated_axis_and_pixel_is_kept_when_asked():
    reports = [measure_noise(x_correlated())]
    auto = choose_blind_spot(TrainingConfig(), reports)
    assert (auto.config.blind_spot, auto.config.blind_spot_span) == ("x", 2)
    assert "using a blind spot that spans 5 pixels along X" in auto.notes[0]
    pixel = choose_blind_spot(TrainingConfig(blind_spot="pixel"), reports)
    assert (pixel.config.blind_spot, pixel.config.blind_spot_span) == ("pixel", None)
    assert "one pixel as asked" in pixel.notes[0]
    wider = choose_blind_spot(TrainingConfig(blind_spot_span=3), reports)
    assert wider.config.blind_spot_span == 3 and "spans 7 pixels along X" in wider.notes[-1]
    white = choose_blind_spot(TrainingConfig(), [measure_noise(x_correlated(weight=0.0))])
    assert white.config.blind_spot == "pixel" and white.notes == []


def test_training_measures_the_noise_records_the_blind_spot_and_continues_with_it():
    images = x_correlated()
    trainer = Trainer(images, gaussian_psf(1.0), TrainingConfig(steps=2, **TINY))
    assert (trainer.config.blind_spot, trainer.config.blind_spot_span) == ("x", 2)
    assert any("spans 5 pixels along X" in note for note in trainer.notes)
    for _ in trainer.run():
        pass
    model = trainer.model
    assert model.training_config["blind_spot"] == "x"
    assert model.training_config["blind_spot_span"] == 2
    assert model.metadata["noise_notes"] == trainer.noise_notes
    # continuing a model keeps its blind spot, whatever the new images' noise
    white = x_correlated(weight=0.0, seed=1)
    again = Trainer(white, None, TrainingConfig(steps=1, **TINY), init=model)
    assert (again.config.blind_spot, again.config.blind_spot_span) == ("x", 2)
    assert "as the continued model was trained" in again.noise_notes[-1]


def masked_saturated(session: ChannelSession, value: float) -> int:
    """Blind spots of the session's validation batches at the saturation ``value``."""
    level = float(session.normalisation.normalise(np.float32(value)))
    return sum(
        int((mask.bool() & (patches >= level - 1e-4)).sum())
        for patches, _, mask in session.validation_batches
    )


def test_saturated_pixels_leave_the_loss_and_hot_pixels_are_replaced():
    sample = make_sample((64, 64), n_frames=2, psf_sigma=1.5, photons=200, seed=2)
    frames = np.round(sample.noisy).astype(np.uint16)
    frames[:, 8:40, 8:40] = 4095  # a saturated blob: a quarter of the pixels
    frames[0, 50, 50] += 3000  # a hot pixel
    report = measure_noise(frames)
    assert report.saturation_value == 4095 and report.hot_pixels == 1
    config = TrainingConfig(steps=1, validation_fraction=0, **TINY)
    float_frames = [f.astype(np.float32) for f in frames]
    cpu = torch.device("cpu")
    session = ChannelSession(float_frames, None, config, cpu, 0, noise=report)
    plain = ChannelSession(float_frames, None, config, cpu, 0)
    assert masked_saturated(session, 4095) == 0
    assert masked_saturated(plain, 4095) > 100  # about a quarter of 16 x 72 blind spots
    cleaned = session.normalisation.denormalise(session.train_frames[0][50, 50].numpy())
    neighbours = np.delete(frames[0, 49:52, 49:52].ravel(), 4)
    assert float(cleaned) == pytest.approx(np.median(neighbours), abs=0.5)
    kept = plain.normalisation.denormalise(plain.train_frames[0][50, 50].numpy())
    assert float(kept) == pytest.approx(frames[0, 50, 50], abs=0.5)
