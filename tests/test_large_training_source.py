"""Training blocks from a lazy recording: bounded cache, fixed validation, sampled statistics."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from napari_deconoising.errors import ImageError
from napari_deconoising.io import AxesImage
from napari_deconoising.lazy_sources import LazyFrameSource, plan_training_blocks

BLOCK_BYTES = 64 * 64 * 4


@pytest.fixture(scope="module")
def recording():
    rng = np.random.default_rng(3)
    frames = (rng.poisson(40, (10, 2, 192, 160)) + 100).astype(np.uint16)
    return frames, AxesImage(da.from_array(frames, chunks=(1, 1, 192, 160)), "TCYX", name="rec")


def test_blocks_are_one_frame_of_one_channel(recording):
    frames, image = recording
    per_channel = plan_training_blocks(image, 64)
    assert [len(blocks) for blocks in per_channel] == [10 * 3 * 3] * 2
    covered = np.zeros(frames.shape, int)
    for blocks in per_channel:
        for block in blocks:
            covered[block.region] += 1
    assert (covered == 1).all()


def test_cache_holds_at_most_its_budget_and_refresh_visits_everything(recording):
    _, image = recording
    source = LazyFrameSource(image, channel=1, block_size=64, cache_bytes=6 * BLOCK_BYTES)
    seen = set()
    for _ in range(60):
        frames = source.training_frames()
        assert frames and sum(f.nbytes for f in frames) <= 6 * BLOCK_BYTES
        assert all(f.dtype == np.float32 and f.shape[0] <= 64 for f in frames)
        seen.update(source._current)
        source.refresh(2)
    assert seen == set(source.training_blocks)  # a long run sees the whole recording


def test_validation_blocks_are_fixed_and_never_trained_on(recording):
    frames, image = recording
    source = LazyFrameSource(image, block_size=64, cache_bytes=6 * BLOCK_BYTES)
    assert len(source.validation_blocks) == 9  # 10% of 90
    assert not set(source.validation_blocks) & set(source.training_blocks)
    first, second = source.validation_frames(), source.validation_frames()
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    block = source.validation_blocks[0]
    assert np.array_equal(first[0], frames[block.region].reshape(first[0].shape))


def test_statistics_from_a_sample_match_the_whole_recording(recording):
    frames, image = recording
    source = LazyFrameSource(image, block_size=64, cache_bytes=6 * BLOCK_BYTES)
    mean, std, offset = source.statistics(n_blocks=16)
    channel = frames[:, 0].astype(np.float64)
    assert mean == pytest.approx(channel.mean(), rel=0.01)
    assert std == pytest.approx(channel.std(), rel=0.05)
    assert 100 <= offset <= channel.mean()


def test_a_cache_smaller_than_one_block_is_refused(recording):
    _, image = recording
    with pytest.raises(ImageError, match="more than the cache"):
        LazyFrameSource(image, block_size=64, cache_bytes=BLOCK_BYTES // 2)
