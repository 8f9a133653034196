"""Training on images larger than the cache: lazy frames, block statistics, bounded cache."""

from __future__ import annotations

import json

import dask.array as da
import numpy as np
import pytest
import tifffile
import torch

from napari_deconoising import NetworkConfig, Predictor, Trainer, TrainingConfig, make_sample
from napari_deconoising.cli import main
from napari_deconoising.data.stacks import channel_stacks
from napari_deconoising.errors import ImageError
from napari_deconoising.evaluation.metrics import psnr
from napari_deconoising.io.axes import AxesImage
from napari_deconoising.training.streaming import (
    BlockCacheSampler,
    LazyFrame,
    block_shape,
    block_statistics,
)


class CountingArray:
    """An array that records every window read from it (and refuses whole reads)."""

    def __init__(self, data: np.ndarray):
        self.data, self.shape, self.dtype, self.ndim = data, data.shape, data.dtype, data.ndim
        self.reads: list[int] = []

    def __getitem__(self, key):
        piece = self.data[key]
        self.reads.append(piece.size)
        return piece

    def __array__(self, dtype=None, copy=None):
        raise AssertionError("the whole array was read")


def lazy_frames_of(image):
    return channel_stacks(image, 2, lazy=True)


def lazy_volumes_of(image):
    return channel_stacks(image, 3, lazy=True)


def tiny_config(**values) -> TrainingConfig:
    settings = dict(
        steps=20,
        patch_size=32,
        batch_size=4,
        network=NetworkConfig(depth=2, start_filters=8),
        validation_interval=10,
        device="cpu",
        cache_mb=1,
        seed=0,
    )
    return TrainingConfig(**{**settings, **values})


@pytest.fixture(scope="module")
def sample():
    return make_sample(shape=(512, 512), n_frames=4, seed=3)


def test_images_larger_than_the_cache_are_streamed_with_a_note(sample):
    trainer = Trainer(da.from_array(sample.noisy, chunks=(1, 128, 128)), sample.psf, tiny_config())
    assert all(isinstance(f, LazyFrame) for f in trainer.frames)
    assert [f.shape for f in trainer.frames] == [(512, 512)] * 4
    assert any("4 MB as float32, more than the 1 MB cache" in note for note in trainer.notes)
    in_memory = Trainer(sample.noisy, sample.psf, tiny_config(cache_mb=512))
    assert all(isinstance(f, np.ndarray) for f in in_memory.frames)
    assert not in_memory.notes


def test_streamed_training_reads_only_blocks_and_keeps_the_cache_bounded(sample):
    source = CountingArray(sample.noisy)
    lazy = da.from_array(source, chunks=(1, 64, 512), asarray=False, fancy=False)
    image = AxesImage(lazy, "SYX", {}, "user", "counting")
    trainer = Trainer(image, sample.psf, tiny_config())
    events = list(trainer.run())
    assert events[-1].steps == 20
    largest_block = max(np.prod(block_shape(f, (32, 32))) for f in lazy_frames_of(image)[0])
    assert largest_block == 256 * 256
    assert source.reads and max(source.reads) <= 64 * 512  # chunks of a window, never a frame
    sampler = BlockCacheSampler(
        lazy_frames_of(image)[0], 32, torch.Generator().manual_seed(0), np.asarray, 2**20
    )
    for _ in range(30):
        patches = sampler.sample(4)
        assert sampler.cached_bytes <= 2**20
    assert patches.shape == (4, 1, 32, 32)
    assert sampler.capacity == 4


def test_block_statistics_match_the_whole_image(sample):
    frames = lazy_frames_of(AxesImage(sample.noisy, "SYX", {}, "user", "image"))[0]
    mean, std, offset = block_statistics(frames, (32, 32), torch.Generator().manual_seed(1))
    assert mean == pytest.approx(float(sample.noisy.mean()), rel=0.01)
    assert std == pytest.approx(float(sample.noisy.std()), rel=0.1)
    assert offset == pytest.approx(sample.offset, abs=2.0)


def test_validation_blocks_come_from_held_out_frames_or_a_strip(sample):
    config = tiny_config(validation_fraction=0.25)
    session = Trainer(da.from_array(sample.noisy), sample.psf, config)
    run_frames = session.frames
    from napari_deconoising.training.channel_session import ChannelSession

    channel = ChannelSession(run_frames, session.psf, config, torch.device("cpu"), seed=0)
    held = {f.index for f in run_frames} - {f.index for f in channel.train_frames}
    assert len(held) == 1 and len(channel.train_frames) == 3
    assert channel.validation == "1 held-out frame(s)"
    single = ChannelSession(run_frames[:1], session.psf, config, torch.device("cpu"), seed=0)
    (train,) = single.train_frames
    assert train.origin == (0, 0) and train.shape == (384, 512)
    assert single.validation.startswith("a held-out bottom strip")


def test_streamed_training_denoises_like_in_memory_training(sample):
    noisy = sample.noisy[:2]
    # A 150-step run of this tiny network varies by several dB with the seed (streamed and in
    # memory alike: seeds 0, 1, 2 gave 1.3, 8.0, 8.8 dB streamed, 4.6, 7.7, 4.0 in memory).
    config = tiny_config(steps=150, validation_interval=50, cache_mb=1.5, batch_size=8, seed=1)
    streamed = Trainer(da.from_array(noisy, chunks=(1, 256, 256)), sample.psf, config)
    assert isinstance(streamed.frames[0], LazyFrame)
    list(streamed.run())
    denoised = Predictor(streamed.model).predict(noisy[:1]).denoised[0]
    gain = psnr(sample.blurred, denoised) - psnr(sample.blurred, noisy[0])
    assert gain > 6.0  # 8.0 dB measured; the same run in memory gains 7.7 dB


def test_volumes_are_streamed_as_handles():
    stack = np.random.default_rng(0).poisson(50, (2, 8, 64, 64)).astype(np.uint16)
    image = AxesImage(da.from_array(stack), "TZYX", {}, "user", "stack")
    (volumes,) = lazy_volumes_of(image)
    assert [v.shape for v in volumes] == [(8, 64, 64)] * 2
    block = volumes[1].read((2, 0, 0), (4, 64, 64))
    np.testing.assert_array_equal(block, stack[1, 2:6])


def test_bad_values_in_a_streamed_block_give_a_clear_message():
    data = np.ones((2, 64, 64), np.float32)
    data[1, 10, 10] = np.nan
    (frames,) = lazy_frames_of(AxesImage(data, "SYX", {}, "user", "broken"))
    with pytest.raises(ImageError, match="broken: the image contains NaN"):
        frames[1].read((0, 0), (64, 64))
    words = AxesImage(np.array([["a"] * 4] * 4), "YX", {}, "user", "text")
    with pytest.raises(ImageError, match="expected real numbers"):
        lazy_frames_of(words)


def test_cli_trains_on_a_file_larger_than_the_cache(tmp_path, sample, capsys):
    source = tmp_path / "big.tif"
    tifffile.imwrite(
        source, sample.noisy.astype(np.uint16), photometric="minisblack", metadata={"axes": "TYX"}
    )
    model = tmp_path / "model.pt"
    code = main(
        [
            "train", str(source), "--out", str(model), "--psf-sigma", "1.5", "--steps", "10",
            "--patch-size", "32", "--batch-size", "4", "--start-filters", "8",
            "--cache-mb", "1", "--json",
        ]
    )  # fmt: skip
    assert code == 0 and model.exists()
    printed = capsys.readouterr()
    assert "more than the 1 MB cache" in printed.out + printed.err
    summary = json.loads(printed.out.strip().splitlines()[-1])
    assert summary["steps"] == 10
