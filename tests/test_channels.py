"""Axes and channels through the engine: per-channel training, prediction keeping the axes,
model files of several channels, and the checks that come with them."""

import numpy as np
import pytest

from napari_deconoising import (
    ImageError,
    NetworkConfig,
    PredictionConfig,
    PSFError,
    Trainer,
    TrainingConfig,
    gaussian_psf,
    load_model,
    make_sample,
    predict,
)
from napari_deconoising.io import AxesImage
from napari_deconoising.model.bundle import ChannelModels

TINY = TrainingConfig(
    steps=6,
    patch_size=32,
    batch_size=4,
    network=NetworkConfig(depth=2, start_filters=8),
    validation_interval=3,
)
FAST = PredictionConfig(tile=64, overlap=8)


@pytest.fixture(scope="module")
def two_channels():
    """(2 time points, 2 channels, 48, 48): channel 1 is 20x brighter than channel 0."""
    dim = make_sample((48, 48), n_frames=2, seed=4, photons=20).noisy
    bright = make_sample((48, 48), n_frames=2, seed=5, photons=400, psf_sigma=2.0).noisy
    return np.stack([dim, bright], axis=1).astype(np.float32)


@pytest.fixture(scope="module")
def trained(two_channels, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "two.pt"
    image = AxesImage(two_channels, "TCYX", {"X": 0.1, "Y": 0.1})
    trainer = Trainer(image, [gaussian_psf(1.5), gaussian_psf(2.0)], TINY, model_path=path)
    events = list(trainer.run())
    return trainer, events, path


def test_each_channel_has_its_own_statistics_psf_and_network(trained, two_channels):
    trainer, events, _ = trained
    model = trainer.model
    assert isinstance(model, ChannelModels) and model.n_channels == 2
    assert events[0].channels == 2
    means = [m.normalisation.mean for m in model.channels]
    assert means[0] == pytest.approx(float(two_channels[:, 0].mean()), rel=1e-4)
    assert means[1] == pytest.approx(float(two_channels[:, 1].mean()), rel=1e-4)
    assert model.channels[0].psf.shape != model.channels[1].psf.shape
    assert model.channels[0].network is not model.channels[1].network
    assert model.pixel_size_um == pytest.approx(0.1)


def test_prediction_keeps_the_channel_axis_and_the_axes(trained, two_channels):
    trainer, _, path = trained
    result = predict(load_model(path), two_channels, FAST, axes="TCYX")
    assert result.denoised.shape == two_channels.shape and result.axes == "TCYX"
    # The same channels in another order of axes give the same values, reordered.
    swapped = predict(trainer.model, np.swapaxes(two_channels, 0, 1), FAST, axes="CTYX")
    np.testing.assert_allclose(swapped.denoised, np.swapaxes(result.denoised, 0, 1), atol=1e-4)
    # Each channel goes through its own model (normalisation, network and PSF).
    for channel, model in enumerate(trainer.model.channels):
        alone = predict(model, two_channels[:, channel], FAST)
        np.testing.assert_allclose(result.denoised[:, channel], alone.denoised, atol=1e-4)


def test_multi_channel_model_file_round_trip(trained):
    trainer, _, path = trained
    loaded = load_model(path)
    assert isinstance(loaded, ChannelModels) and loaded.info()["channels"] == 2
    for original, copy in zip(trainer.model.channels, loaded.channels, strict=True):
        assert copy.normalisation == original.normalisation
        np.testing.assert_allclose(copy.psf, original.psf)


def test_channel_count_mismatch_is_refused(trained, two_channels):
    model = trained[0].model
    with pytest.raises(ImageError, match="trained on 2 channel"):
        predict(model, two_channels[:, :1], FAST, axes="TCYX")
    with pytest.raises(ImageError, match="has no C axis"):
        predict(model, two_channels[:, 0], FAST)


def test_one_psf_per_channel_or_one_for_all(two_channels):
    with pytest.raises(PSFError, match="got 3 PSFs for 2 channel"):
        Trainer(two_channels, [gaussian_psf(1.0)] * 3, TINY, axes="TCYX")
    trainer = Trainer(two_channels, gaussian_psf(1.0), TINY, axes="TCYX")
    assert len(trainer.psfs) == 2


def test_a_different_pixel_size_warns(trained, two_channels):
    model = trained[0].model
    coarse = AxesImage(two_channels, "TCYX", {"X": 0.2, "Y": 0.2})
    result = predict(model, coarse, FAST)
    assert len(result.warnings) == 1 and "0.2 µm pixels" in result.warnings[0]
    close = AxesImage(two_channels, "TCYX", {"X": 0.105, "Y": 0.105})
    assert predict(model, close, FAST).warnings == []


def test_plain_arrays_of_four_dimensions_need_axes():
    with pytest.raises(ImageError, match="needs its axes"):
        Trainer(np.zeros((2, 2, 64, 64)), gaussian_psf(1.0), TINY)


def test_z_stack_is_trained_plane_by_plane_and_predicted_back():
    stack = make_sample((40, 40), n_frames=3, seed=6).noisy  # three planes
    image = AxesImage(stack, "ZYX", {"Z": 0.25, "X": 0.1, "Y": 0.1})
    trainer = Trainer(image, gaussian_psf(1.0), TINY.replace(steps=2))
    list(trainer.run())
    result = predict(trainer.model, image, FAST)
    assert result.denoised.shape == stack.shape and result.spacing["Z"] == 0.25


def test_compression_and_onnx_refuse_multi_channel_models_clearly(trained, two_channels, tmp_path):
    from napari_deconoising import ModelFileError, compress, export_onnx

    model = trained[0].model
    with pytest.raises(ModelFileError, match="2 channels; compression works on single-channel"):
        compress(model, two_channels[:, 0])
    with pytest.raises(ModelFileError, match="2 channels; ONNX export works on single-channel"):
        export_onnx(model, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_samples_time_and_planes_together_are_frames_of_each_channel(trained, two_channels):
    """S, T and Z together with C: every axis but C, Y, X numbers frames; the layout comes back."""
    model = trained[0].model
    frames = two_channels[:, :, :32, :32]  # (T=2, C=2, 32, 32)
    hyper = np.stack([frames, frames[::-1]], axis=0)[:, :, :, None]  # (S, T, C, Z=1, Y, X)
    hyper = np.concatenate([hyper, hyper + 1], axis=3)  # Z = 2
    result = predict(model, hyper, FAST, axes="STCZYX")
    assert result.denoised.shape == hyper.shape and result.axes == "STCZYX"
    moved = np.moveaxis(hyper, 2, 0).reshape(2, -1, 32, 32)  # per channel, all frames
    for channel, channel_model in enumerate(model.channels):
        alone = predict(channel_model, moved[channel], FAST).denoised
        np.testing.assert_allclose(
            np.moveaxis(result.denoised, 2, 0)[channel].reshape(-1, 32, 32), alone, atol=1e-4
        )


def test_a_channel_of_a_multi_channel_model_is_the_model_of_that_channel_alone(two_channels):
    """Channels are trained independently: channel 1's network equals a training on channel 1
    alone with the same settings, weight for weight."""
    import torch

    config = TINY.replace(steps=3)
    both = Trainer(two_channels, [gaussian_psf(1.5), gaussian_psf(2.0)], config, axes="TCYX")
    list(both.run())
    alone = Trainer(two_channels[:, 1], gaussian_psf(2.0), config)
    list(alone.run())
    for name, value in alone.model.network.state_dict().items():
        assert torch.equal(both.model.channels[1].network.state_dict()[name], value)


def test_frames_are_cut_along_y_and_x_whatever_their_place_in_the_axes():
    from napari_deconoising.data.stacks import channel_stacks, merge_channel_stacks

    data = np.random.default_rng(3).random((20, 24, 3, 2)).astype(np.float32)  # Y X T C
    image = AxesImage(data, "YXTC")
    stacks = channel_stacks(image, 2)
    assert [s.shape for s in stacks] == [(3, 20, 24), (3, 20, 24)]
    np.testing.assert_array_equal(stacks[1][2], data[:, :, 2, 1])
    np.testing.assert_array_equal(merge_channel_stacks(stacks, image, 2), data)
    single = AxesImage(data[..., 0], "YXT")
    (frames,) = channel_stacks(single, 2)
    np.testing.assert_array_equal(frames[1], data[:, :, 1, 0])
    np.testing.assert_array_equal(merge_channel_stacks([frames], single, 2), data[..., 0])
