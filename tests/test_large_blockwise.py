"""Block-wise prediction to disk: seamless blocks, OME-Zarr/BigTIFF outputs, nothing half-done."""

from __future__ import annotations

import errno

import numpy as np
import pytest
import tifffile
import zarr

from napari_deconoising.config.prediction import BlockConfig, PredictionConfig
from napari_deconoising.errors import Cancelled, ConfigError, ImageError, OutputError
from napari_deconoising.io import AxesImage, read_tiff
from napari_deconoising.io.lazy import open_image
from napari_deconoising.io.zarr_io import is_complete
from napari_deconoising.prediction import blockwise
from napari_deconoising.prediction.blocks import halo_sizes, plan_blocks
from napari_deconoising.prediction.blockwise import BlockPredictor
from napari_deconoising.prediction.jobs import PredictionJob
from napari_deconoising.prediction.predictor import Predictor

CONFIG = PredictionConfig(tile=96, overlap=32, device="cpu")
SPACING = {"X": 0.1, "Y": 0.1}


@pytest.fixture(scope="module")
def recording():
    """Two 150 x 134 frames (T) with a pixel size: not a multiple of any block size."""
    rng = np.random.default_rng(1)
    frames = rng.poisson(60, (2, 150, 134)).astype(np.float32) + 100
    return AxesImage(frames, "TYX", SPACING, name="rec")


@pytest.fixture(scope="module")
def whole(tiny_model, recording):
    return Predictor(tiny_model, CONFIG).predict(recording)


def _job(image, folder, suffix=".zarr", **kwargs):
    return PredictionJob(image, folder / f"den{suffix}", folder / f"dec{suffix}", **kwargs)


def test_blocks_cover_the_image_once_with_a_clipped_halo():
    blocks = plan_blocks((2, 3, 150, 134), "TCYX", {"Y": 40, "X": 40}, BlockConfig(block_size=64))
    assert len(blocks) == 2 * 3 * 3  # T frames x (3 x 3) squares, C never split
    covered = np.zeros((2, 3, 150, 134), int)
    for block in blocks:
        covered[block.core] += 1
        assert block.read[1] == slice(0, 3)
        assert block.read[2].start == max(block.core[2].start - 40, 0)
        assert block.read[3].stop == min(block.core[3].stop + 40, 134)
    assert (covered == 1).all()


def test_halo_is_overlap_plus_psf_radius_on_the_pooling_grid(tiny_model):
    radius = tiny_model.psf.shape[-1] // 2
    halo = halo_sizes(tiny_model, PredictionConfig(tile=64, overlap=9))
    multiple = tiny_model.network.size_multiples[0]
    assert halo["Y"] == -(-(9 + radius) // multiple) * multiple and "Z" not in halo


@pytest.fixture(scope="module")
def volume_model():
    """An untrained 3D model with a 3 x 5 x 5 PSF (weights do not matter for seams)."""
    import torch

    from napari_deconoising.config.training import NetworkConfig
    from napari_deconoising.model.bundle import DecoNoisingModel, Normalisation
    from napari_deconoising.model.unet import UNet

    torch.manual_seed(0)
    network = UNet(NetworkConfig(depth=1, start_filters=4), spatial_dims=3)
    psf = np.ones((3, 5, 5), np.float32) / 75
    return DecoNoisingModel(network, psf, Normalisation(100.0, 20.0, 90.0))


VOLUME_CONFIG = PredictionConfig(tile=32, overlap=10, tile_z=24, overlap_z=10, device="cpu")


@pytest.fixture(scope="module")
def volume_run(volume_model, tmp_path_factory):
    """A (30, 70, 66) ZYX volume predicted whole and in 8 x 64 x 64 blocks."""
    folder = tmp_path_factory.mktemp("volume")
    volume = np.random.default_rng(5).poisson(100, (30, 70, 66)).astype(np.float32)
    image = AxesImage(volume, "ZYX", {"Z": 0.5, "Y": 0.2, "X": 0.2})
    whole = Predictor(volume_model, VOLUME_CONFIG).predict(image)
    blocks = BlockConfig(block_size=64, block_z=8)
    BlockPredictor(volume_model, VOLUME_CONFIG, blocks).predict([_job(image, folder)])
    return whole, folder


def test_3d_blocks_have_a_z_halo_and_z_chunks(volume_model, volume_run):
    halo = halo_sizes(volume_model, VOLUME_CONFIG)
    assert halo["Z"] >= 10 + 1 and halo["Y"] >= 10 + 2 and halo["X"] == halo["Y"]
    whole, folder = volume_run
    written = open_image(folder / "dec.zarr")
    assert (written.axes, written.shape) == ("ZYX", whole.deconvolved.shape)
    assert written.spacing == {"Z": 0.5, "Y": 0.2, "X": 0.2}
    assert zarr.open_array(folder / "dec.zarr" / "0").chunks == (8, 64, 64)


def test_3d_blocks_match_the_whole_volume_prediction(volume_run):
    whole, folder = volume_run
    expected = whole.deconvolved
    values = np.asarray(open_image(folder / "dec.zarr").data)
    assert np.abs(values - expected).max() <= 1e-4 * np.abs(expected).max()


def test_a_3d_model_on_2d_frames_says_so_and_writes_nothing(volume_model, recording, tmp_path):
    with pytest.raises(ImageError, match=r"3D model.*no Z axis"):
        BlockPredictor(volume_model, CONFIG).predict([_job(recording, tmp_path)])
    assert list(tmp_path.iterdir()) == []


def test_blocks_match_the_whole_image_prediction(tiny_model, recording, whole, tmp_path):
    job = _job(recording, tmp_path)
    result = BlockPredictor(tiny_model, CONFIG, BlockConfig(block_size=64)).predict([job])
    assert result.pixels == recording.data.size
    for kind, expected in (("den", whole.denoised), ("dec", whole.deconvolved)):
        written = open_image(tmp_path / f"{kind}.zarr")
        assert (written.axes, written.spacing) == ("TYX", SPACING)
        values = np.asarray(written.data)
        assert np.abs(values - expected).max() <= 1e-5 * np.abs(expected).max()
        assert zarr.open_array(tmp_path / f"{kind}.zarr" / "0").chunks == (1, 64, 64)
        assert is_complete(tmp_path / f"{kind}.zarr") is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dec.zarr", "den.zarr"]


def test_store_is_ome_zarr_with_axes_and_pixel_sizes(tiny_model, recording, tmp_path):
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    BlockPredictor(tiny_model, CONFIG).predict([_job(recording, tmp_path)])
    node = next(iter(Reader(parse_url(str(tmp_path / "den.zarr")))()))
    axes = [(a["name"], a["type"]) for a in node.metadata["axes"]]
    assert axes == [("t", "time"), ("y", "space"), ("x", "space")]
    scale = node.metadata["coordinateTransformations"][0][0]["scale"]
    assert scale == pytest.approx([1.0, 0.1, 0.1])
    assert node.data[0].shape == recording.shape


def test_tiff_outputs_are_bigtiff_written_plane_by_plane(tiny_model, recording, whole, tmp_path):
    job = _job(recording, tmp_path, ".tif")
    BlockPredictor(tiny_model, CONFIG, BlockConfig(block_size=64)).predict([job])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dec.tif", "den.tif"]
    with tifffile.TiffFile(tmp_path / "den.tif") as tif:
        assert tif.is_bigtiff and len(tif.pages) == 2
    result = read_tiff(tmp_path / "den.tif")
    assert (result.axes, result.spacing) == ("TYX", SPACING)
    assert np.abs(np.asarray(result.data) - whole.denoised).max() <= 1e-3


def test_input_axes_order_is_kept_in_metadata_and_dtype_input_rounds(tiny_model, tmp_path):
    frames = np.random.default_rng(2).poisson(80, (70, 66, 2)).astype(np.uint16)
    image = AxesImage(frames, "YXT", {"Y": 0.2, "X": 0.2})
    predictor = BlockPredictor(tiny_model, CONFIG, dtype="input")
    predictor.predict([_job(image, tmp_path)])
    written = open_image(tmp_path / "den.zarr")
    assert written.axes == "TYX" and written.dtype == np.uint16 and written.shape == (2, 70, 66)
    as_tyx = AxesImage(np.moveaxis(frames, -1, 0), "TYX")
    expected = np.clip(np.rint(Predictor(tiny_model, CONFIG).predict(as_tyx).denoised), 0, 65535)
    assert np.abs(np.asarray(written.data).astype(float) - expected).max() <= 1


def test_existing_outputs_need_overwrite(tiny_model, recording, tmp_path):
    (tmp_path / "den.zarr").mkdir()
    with pytest.raises(OutputError, match=r"exists; .*--overwrite"):
        BlockPredictor(tiny_model, CONFIG).predict([_job(recording, tmp_path)])
    assert not (tmp_path / "dec.zarr").exists()
    BlockPredictor(tiny_model, CONFIG, overwrite=True).predict([_job(recording, tmp_path)])
    assert is_complete(tmp_path / "den.zarr") is True


def test_disk_full_stops_and_removes_partial_outputs(tiny_model, recording, tmp_path, monkeypatch):
    calls = []
    write_block = blockwise.write_block

    def fill_disk(arrays, block, values):
        calls.append(block.index)
        if len(calls) > 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        write_block(arrays, block, values)

    monkeypatch.setattr(blockwise, "write_block", fill_disk)
    predictor = BlockPredictor(tiny_model, CONFIG, BlockConfig(block_size=64))
    with pytest.raises(ImageError, match=r"No space left on device.*removed"):
        predictor.predict([_job(recording, tmp_path, ".tif")])
    assert len(calls) == 3 and list(tmp_path.iterdir()) == []


def test_cancel_leaves_nothing_and_a_leftover_is_marked_incomplete(tiny_model, recording, tmp_path):
    predictor = BlockPredictor(tiny_model, CONFIG, BlockConfig(block_size=64))
    seen = []
    with pytest.raises(Cancelled):
        for event in predictor.run([_job(recording, tmp_path)]):
            seen.append(event)
            predictor.cancel()
            # what a killed run would leave: an incomplete store under another name
            assert is_complete(tmp_path / "den.zarr.incomplete") is False
            with pytest.raises(ImageError, match="incomplete"):
                open_image(tmp_path / "den.zarr.incomplete", "TYX").data  # noqa: B018
    assert len(seen) == 1 and list(tmp_path.iterdir()) == []


def test_wrong_channel_count_is_refused_before_writing(two_channel_model, recording, tmp_path):
    with pytest.raises(ImageError, match="trained on 2 channels"):
        BlockPredictor(two_channel_model, CONFIG).predict([_job(recording, tmp_path)])
    assert list(tmp_path.iterdir()) == []


def test_unknown_output_suffix_and_in_memory_image_on_a_cluster(tiny_model, recording, tmp_path):
    job = PredictionJob(recording, tmp_path / "den.png", tmp_path / "dec.zarr")
    with pytest.raises(ImageError, match=r"\.zarr, \.tif or \.tiff"):
        BlockPredictor(tiny_model, CONFIG).predict([job])
    cluster = BlockPredictor(tiny_model, CONFIG, scheduler="tcp://127.0.0.1:1")
    with pytest.raises(ConfigError, match="files only"):
        cluster.predict([_job(recording, tmp_path)])
