"""Lazy readers (TIFF, zarr, OME-Zarr), input lists, and clear errors for bad large inputs."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import tifffile
import zarr

from napari_deconoising.config.prediction import PredictionConfig
from napari_deconoising.errors import ImageError
from napari_deconoising.io.lazy import find_inputs, lazy_image, open_image
from napari_deconoising.io.zarr_io import create_zarr, mark_complete
from napari_deconoising.prediction import BlockConfig, BlockPredictor, PredictionJob

FRAMES = np.random.default_rng(0).integers(0, 4000, (3, 40, 48)).astype(np.uint16)


def test_uncompressed_bigtiff_is_read_by_rows_without_a_memory_map(tmp_path, monkeypatch):
    tifffile.imwrite(tmp_path / "big.tif", FRAMES, bigtiff=True, photometric="minisblack")
    image = open_image(tmp_path / "big.tif")
    assert isinstance(image.data, da.Array) and image.axes == "SYX"
    monkeypatch.setattr(np, "memmap", None)  # no memory map: its pages would stay resident
    part = image.data[1, 5:20, 7:30].compute(scheduler="synchronous")
    assert np.array_equal(part, FRAMES[1, 5:20, 7:30]) and part.dtype == np.uint16
    assert np.array_equal(np.asarray(image.data[::2, ::3, 1]), FRAMES[::2, ::3, 1])


def test_compressed_hyperstack_is_read_lazily_with_axes_and_sizes(tmp_path):
    volume = np.stack([FRAMES, FRAMES + 1])  # T Z Y X
    tifffile.imwrite(
        tmp_path / "hyper.tif",
        volume,
        imagej=True,
        compression="zlib",
        resolution=(1 / 0.2, 1 / 0.2),
        metadata={"axes": "TZYX", "unit": "um", "spacing": 0.5},
    )
    image = open_image(tmp_path / "hyper.tif")
    assert isinstance(image.data, da.Array)
    assert (image.axes, image.shape) == ("TZYX", (2, 3, 40, 48))
    assert image.spacing == pytest.approx({"X": 0.2, "Y": 0.2, "Z": 0.5})
    assert np.array_equal(np.asarray(image.data[1, 2, 5:9]), volume[1, 2, 5:9])


def test_ome_zarr_04_store_gives_axes_and_micrometres(tmp_path):
    group = zarr.open_group(str(tmp_path / "ngff.zarr"), mode="w", zarr_format=2)
    group.create_array("s0", shape=FRAMES.shape, dtype="uint16")[:] = FRAMES
    axes = [
        {"name": "c", "type": "channel"},
        {"name": "y", "type": "space", "unit": "nanometer"},
        {"name": "x", "type": "space", "unit": "nanometer"},
    ]
    scale = {"type": "scale", "scale": [1.0, 150.0, 150.0]}
    dataset = {"path": "s0", "coordinateTransformations": [scale]}
    group.attrs["multiscales"] = [{"version": "0.4", "axes": axes, "datasets": [dataset]}]
    image = open_image(tmp_path / "ngff.zarr")
    assert isinstance(image.data, da.Array)
    assert (image.axes, image.axes_source, image.shape) == ("CYX", "file", FRAMES.shape)
    assert image.spacing == pytest.approx({"Y": 0.15, "X": 0.15})
    assert np.array_equal(np.asarray(image.data), FRAMES)


def test_plain_zarr_array_takes_user_or_default_axes(tmp_path):
    array = zarr.create_array(str(tmp_path / "plain.zarr"), shape=FRAMES.shape, dtype="uint16")
    array[:] = FRAMES
    assert open_image(tmp_path / "plain.zarr").axes == "SYX"
    assert open_image(tmp_path / "plain.zarr", "TYX").axes == "TYX"


def test_zarr_round_trip_keeps_axes_and_spacing(tmp_path):
    store = tmp_path / "round.zarr"
    array = create_zarr(store, FRAMES.shape, "TYX", (1, 40, 48), {"X": 0.3, "Y": 0.3}, "uint16")
    array[:] = FRAMES
    mark_complete(store)
    image = open_image(store)
    assert (image.axes, image.spacing, image.dtype) == ("TYX", {"X": 0.3, "Y": 0.3}, np.uint16)
    with pytest.raises(ImageError, match="cannot create"):
        create_zarr(store, FRAMES.shape, "TYX", (1, 40, 48))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: zarr.open_group(str(p), mode="w"), "no OME-Zarr 'multiscales' metadata"),
        (lambda p: p.mkdir(), "not a zarr store"),
        (
            lambda p: zarr.open_group(str(p), mode="w").attrs.update(
                {"ome": {"multiscales": [{"axes": ["y", "x"], "datasets": [{"path": "9"}]}]}}
            ),
            "damaged OME-Zarr metadata",
        ),
    ],
)
def test_bad_zarr_stores_give_one_clear_message(tmp_path, make, message):
    make(tmp_path / "bad.zarr")
    with pytest.raises(ImageError, match=message):
        open_image(tmp_path / "bad.zarr")


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_truncated_tiff_fails_clearly_and_writes_nothing(tiny_model, tmp_path, compression):
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, FRAMES, compression=compression, photometric="minisblack")
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    with pytest.raises(ImageError, match=r"damaged or (truncated|unreadable)"):
        image = open_image(path)
        job = PredictionJob(image, tmp_path / "den.zarr", tmp_path / "dec.zarr", path=path)
        config = PredictionConfig(tile=32, overlap=8, device="cpu")
        BlockPredictor(tiny_model, config, BlockConfig(block_size=64)).predict([job])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.tif"]


def test_dask_arrays_stay_lazy(tiny_model, tmp_path):
    reads = []
    source = da.from_array(FRAMES.astype(np.float32), chunks=(1, 40, 48))
    watched = source.map_blocks(lambda block: reads.append(block.shape) or block)
    image = lazy_image(watched, "TYX", {"X": 0.1, "Y": 0.1}, name="layer")
    job = PredictionJob(image, tmp_path / "den.zarr", tmp_path / "dec.zarr")
    config = PredictionConfig(tile=32, overlap=8, device="cpu")
    BlockPredictor(tiny_model, config).predict([job])
    real_reads = [shape for shape in reads if shape[-1] > 1]  # not dask's dtype probes
    assert real_reads == [(1, 40, 48)] * 3  # one frame at a time
    assert open_image(tmp_path / "den.zarr").spacing == {"X": 0.1, "Y": 0.1}


def test_find_inputs_expands_globs_and_folders(tmp_path):
    for name in ("b.tif", "a.tiff", ".hidden.tif", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "c.zarr").mkdir()
    expected = [tmp_path / n for n in ("a.tiff", "b.tif", "c.zarr")]
    assert find_inputs([tmp_path]) == expected
    assert find_inputs([str(tmp_path / "*.tif*"), tmp_path / "b.tif"]) == expected[:2]
    with pytest.raises(ImageError, match=r"no TIFF files or \.zarr stores match"):
        find_inputs([str(tmp_path / "*.png")])
    with pytest.raises(ImageError, match="image file not found"):
        find_inputs([tmp_path / "missing.tif"])
