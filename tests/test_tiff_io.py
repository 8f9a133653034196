"""Reading and writing TIFF files with axes and physical pixel sizes."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
import tifffile

from napari_deconoising.errors import ImageError, OutputError
from napari_deconoising.io import (
    AxesImage,
    default_axes_message,
    from_canonical,
    read_tiff,
    write_tiff,
)


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def same_data(image: AxesImage, data: np.ndarray, axes: str) -> bool:
    """Whether ``image`` holds ``data`` (with ``axes``), whatever its axis order."""
    if sorted(image.axes) != sorted(axes):
        return False
    return np.array_equal(from_canonical(np.asarray(image.data), image.axes, axes), data)


def test_imagej_hyperstack_axes_and_spacing(tmp_path, rng):
    data = rng.integers(0, 4000, (2, 3, 2, 16, 16), dtype=np.uint16)
    path = tmp_path / "hyper.tif"
    tifffile.imwrite(
        path,
        data,
        imagej=True,
        resolution=(10.0, 10.0),
        metadata={"axes": "TZCYX", "spacing": 0.25, "unit": "um"},
    )
    image = read_tiff(path)
    assert image.axes == "TZCYX"
    assert image.axes_source == "file"
    assert image.name == "hyper"
    assert image.spacing == pytest.approx({"X": 0.1, "Y": 0.1, "Z": 0.25}, rel=1e-9)
    assert image.pixel_size == pytest.approx(0.1)
    assert isinstance(image.data, np.memmap)
    assert np.array_equal(image.data, data)


@pytest.mark.parametrize(
    ("unit", "factor"), [("micron", 1.0), ("\\u00B5m", 1.0), ("um", 1.0), ("nm", 1e-3)]
)
def test_imagej_units(tmp_path, unit, factor):
    path = tmp_path / "units.tif"
    tifffile.imwrite(
        path,
        np.zeros((4, 8, 8), np.float32),
        imagej=True,
        resolution=(1 / 2.0, 1 / 3.0),
        metadata={"axes": "ZYX", "spacing": 5.0, "unit": unit},
    )
    spacing = read_tiff(path).spacing
    assert spacing == pytest.approx({"X": 2.0 * factor, "Y": 3.0 * factor, "Z": 5.0 * factor})


def test_imagej_pixel_calibration_is_unknown(tmp_path):
    path = tmp_path / "pixels.tif"
    tifffile.imwrite(path, np.zeros((2, 8, 8), np.uint8), imagej=True, metadata={"axes": "ZYX"})
    image = read_tiff(path)
    assert image.axes == "ZYX" and image.axes_source == "file"
    assert image.spacing == {}


def test_ome_tiff_axes_and_spacing(tmp_path, rng):
    data = rng.random((2, 3, 4, 16, 16)).astype(np.float32)
    path = tmp_path / "cells.ome.tif"
    tifffile.imwrite(
        path,
        data,
        ome=True,
        metadata={
            "axes": "TCZYX",
            "PhysicalSizeX": 108.0,
            "PhysicalSizeXUnit": "nm",
            "PhysicalSizeY": 0.108,
            "PhysicalSizeZ": 0.5,
            "PhysicalSizeZUnit": "µm",
        },
    )
    image = read_tiff(path)
    assert (image.axes, image.axes_source, image.name) == ("TCZYX", "file", "cells")
    assert image.spacing == pytest.approx({"X": 0.108, "Y": 0.108, "Z": 0.5})
    assert np.array_equal(image.data, data)


def test_plain_tiff_gets_default_axes(tmp_path, rng):
    data = rng.integers(0, 255, (3, 20, 30), dtype=np.uint8)
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, data, photometric="minisblack", metadata=None)
    image = read_tiff(path)
    assert (image.axes, image.axes_source) == ("SYX", "default")
    assert image.spacing == {}
    assert default_axes_message(image.shape, image.axes) == (
        "reading (3, 20, 30) as SYX: 3 frames; say --axes CYX or ZYX if that is wrong"
    )
    assert np.array_equal(image.data, data)


@pytest.mark.filterwarnings("ignore:.*stored as RGB:DeprecationWarning")
def test_tifffile_default_three_planes_are_frames_not_colour(tmp_path, rng):
    # tifffile stores a (3, Y, X) array as planar "RGB" unless told otherwise
    data = rng.integers(0, 4000, (3, 20, 30), dtype=np.uint16)
    path = tmp_path / "three.tif"
    tifffile.imwrite(path, data)
    image = read_tiff(path)
    assert (image.axes, image.axes_source) == ("SYX", "default")
    assert np.array_equal(image.data, data)


def test_plain_2d_and_4d_defaults(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", np.zeros((8, 9), np.float32))
    assert (read_tiff(tmp_path / "a.tif").axes, read_tiff(tmp_path / "a.tif").axes_source) == (
        "YX",
        "default",
    )
    tifffile.imwrite(tmp_path / "b.tif", np.zeros((2, 5, 8, 9), np.float32))
    image = read_tiff(tmp_path / "b.tif")
    assert (image.axes, image.axes_source, image.shape) == ("CZYX", "default", (2, 5, 8, 9))


def test_tifffile_axes_metadata_is_used(tmp_path):
    tifffile.imwrite(tmp_path / "z.tif", np.zeros((5, 8, 9), np.float32), metadata={"axes": "ZYX"})
    image = read_tiff(tmp_path / "z.tif")
    assert (image.axes, image.axes_source) == ("ZYX", "file")


def test_user_axes_override_file_axes(tmp_path, rng):
    data = rng.random((3, 16, 16)).astype(np.float32)
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, data, photometric="minisblack")
    image = read_tiff(path, axes="zyx")
    assert (image.axes, image.axes_source) == ("ZYX", "user")
    hyper = tmp_path / "hyper.tif"
    tifffile.imwrite(
        hyper, np.zeros((2, 3, 8, 8), np.uint8), imagej=True, metadata={"axes": "TZYX"}
    )
    assert read_tiff(hyper, axes="SZYX").axes == "SZYX"
    with pytest.raises(ImageError) as info:
        read_tiff(hyper, axes="ZYX")
    assert "hyper.tif: axes 'ZYX' has 3 letters but the image has 4 dimensions (2, 3, 8, 8)" in str(
        info.value
    )
    with pytest.raises(ImageError, match="unknown letter"):
        read_tiff(hyper, axes="QZYX")


def test_rgb_tiffs_are_refused(tmp_path):
    rgb = tmp_path / "rgb.tif"
    tifffile.imwrite(rgb, np.zeros((32, 32, 3), np.uint8), photometric="rgb")
    with pytest.raises(ImageError, match="Split Channels"):
        read_tiff(rgb)
    with pytest.raises(ImageError, match="RGB"):
        read_tiff(rgb, axes="YXC")
    imagej_rgb = tmp_path / "rgb_stack.tif"
    tifffile.imwrite(imagej_rgb, np.zeros((4, 32, 32, 3), np.uint8), photometric="rgb", imagej=True)
    with pytest.raises(ImageError, match="RGB"):
        read_tiff(imagej_rgb)
    gray_triplets = tmp_path / "looks_rgb.tif"
    tifffile.imwrite(gray_triplets, np.zeros((32, 32, 3), np.uint8), photometric="minisblack")
    with pytest.raises(ImageError, match="RGB"):
        read_tiff(gray_triplets)


def test_missing_and_non_tiff_files(tmp_path):
    with pytest.raises(ImageError, match="not found"):
        read_tiff(tmp_path / "nothing.tif")
    text = tmp_path / "notes.tif"
    text.write_text("these are notes, not pixels")
    with pytest.raises(ImageError, match="is not a TIFF file"):
        read_tiff(text)


@pytest.mark.parametrize("compression", [None, "zlib"])
@pytest.mark.parametrize("fraction", [0.1, 0.35, 0.6, 0.85, 0.99])
def test_truncated_tiff(tmp_path, compression, fraction):
    path = tmp_path / "full.tif"
    data = np.arange(3 * 16 * 16, dtype=np.uint16).reshape(3, 16, 16)
    tifffile.imwrite(
        path, data, compression=compression, photometric="minisblack", metadata={"axes": "ZYX"}
    )
    content = path.read_bytes()
    cut = tmp_path / "cut.tif"
    cut.write_bytes(content[: int(len(content) * fraction)])
    with pytest.raises(ImageError, match="damaged or truncated"):
        read_tiff(cut)


SIZES = {"S": 2, "T": 3, "C": 2, "Z": 4, "Y": 5, "X": 6}
ALL_AXES = ["".join(extra) + "YX" for k in range(5) for extra in itertools.combinations("STCZ", k)]


@pytest.mark.parametrize("suffix", [".tif", ".ome.tif"])
@pytest.mark.parametrize("axes", ALL_AXES)
def test_round_trip_float32(tmp_path, rng, suffix, axes):
    data = rng.normal(size=tuple(SIZES[a] for a in axes)).astype(np.float32)
    spacing = {"X": 0.108, "Y": 0.113, "Z": 0.3}
    path = write_tiff(tmp_path / f"out{suffix}", AxesImage(data, axes, spacing))
    image = read_tiff(path)
    assert image.axes_source == "file"
    assert image.dtype == np.float32
    assert same_data(image, data, axes), (axes, image.axes)
    expected = {a: v for a, v in spacing.items() if a in axes}
    assert set(image.spacing) == set(expected)
    for axis, size in expected.items():
        assert image.spacing[axis] == pytest.approx(size, rel=1e-6)


@pytest.mark.parametrize("suffix", [".tif", ".ome.tif"])
def test_round_trip_keeps_length_one_axes(tmp_path, suffix):
    data = np.arange(1 * 3 * 5 * 6, dtype=np.float32).reshape(1, 3, 5, 6)
    image = read_tiff(write_tiff(tmp_path / f"c1{suffix}", data, axes="CZYX"))
    assert sorted(image.axes) == sorted("CZYX")
    assert same_data(image, data, "CZYX")


def test_imagej_file_as_fiji_sees_it(tmp_path, rng):
    data = rng.random((2, 3, 2, 5, 6)).astype(np.float32)  # S T C Y X
    path = write_tiff(tmp_path / "st.tif", data, axes="STCYX", spacing={"X": 0.2, "Y": 0.2})
    with tifffile.TiffFile(path) as tif:
        assert tif.is_imagej
        assert tif.series[0].axes == "TCYX"  # S folded into ImageJ's frames
        assert tif.series[0].shape == (6, 2, 5, 6)
        assert tif.imagej_metadata["unit"] == "um"
        assert tif.imagej_metadata["frames"] == 6
    image = read_tiff(path)
    assert image.axes == "STCYX"
    assert np.array_equal(image.data, data)


def test_ome_file_as_other_readers_see_it(tmp_path, rng):
    data = rng.random((2, 4, 5, 6)).astype(np.float32)
    path = write_tiff(tmp_path / "s.ome.tif", data, axes="SZYX", spacing={"Z": 0.5})
    with tifffile.TiffFile(path) as tif:
        assert tif.is_ome
        assert tif.series[0].axes == "QZYX"
        assert 'PhysicalSizeZ="0.5"' in tif.ome_metadata
    assert read_tiff(path).spacing == {"Z": 0.5}


@pytest.mark.parametrize("suffix", [".tif", ".ome.tif"])
def test_write_input_dtype_rounds_and_clips(tmp_path, suffix):
    result = np.array([[-3.2, 0.4, 0.6, 1.5], [2.49, 65534.7, 70000.0, np.nan]], np.float32)
    path = write_tiff(
        tmp_path / f"u16{suffix}", result, axes="YX", dtype="input", input_dtype="uint16"
    )
    image = read_tiff(path)
    assert image.dtype == np.uint16
    expected = np.array([[0, 0, 1, 2], [2, 65535, 65535, 0]], np.uint16)
    assert np.array_equal(image.data, expected)


def test_write_input_dtype_from_the_image_and_float_inputs(tmp_path):
    data = np.array([[1, 2], [3, 4]], np.uint8)
    assert read_tiff(write_tiff(tmp_path / "a.tif", data, dtype="input")).dtype == np.uint8
    floats = np.ones((2, 2), np.float64)
    image = read_tiff(write_tiff(tmp_path / "b.tif", floats, dtype="input", input_dtype="float64"))
    assert image.dtype == np.float32
    assert read_tiff(write_tiff(tmp_path / "c.tif", data)).dtype == np.float32


@pytest.mark.parametrize("dtype", ["int32", "uint32", "int16", "float64"])
def test_types_imagej_cannot_store_get_ome_metadata(tmp_path, dtype):
    data = np.arange(2 * 3 * 4, dtype=np.int64).reshape(2, 3, 4) - 5
    path = write_tiff(tmp_path / "wide.tif", data, axes="ZYX", spacing={"Z": 2.0}, dtype=dtype)
    with tifffile.TiffFile(path) as tif:
        assert tif.is_ome and not tif.is_imagej
    image = read_tiff(path)
    assert image.dtype == np.dtype(dtype)
    assert image.axes == "ZYX" and image.spacing == {"Z": 2.0}
    expected = np.clip(data, np.iinfo(dtype).min, None) if dtype != "float64" else data
    assert np.array_equal(image.data, expected)


def test_write_refuses_bad_requests(tmp_path):
    data = np.zeros((4, 4), np.float32)
    with pytest.raises(ImageError, match=r"\.tif or \.tiff"):
        write_tiff(tmp_path / "out.png", data)
    with pytest.raises(ImageError, match="int64"):
        write_tiff(tmp_path / "out.tif", data, dtype="int64")
    with pytest.raises(ImageError, match="has 3 letters"):
        write_tiff(tmp_path / "out.tif", data, axes="ZYX")
    assert list(tmp_path.iterdir()) == []


def test_write_creates_folders_and_defaults_axes(tmp_path):
    path = write_tiff(tmp_path / "a" / "b" / "out.tiff", np.zeros((3, 4, 5), np.float32))
    assert path.is_file()
    assert read_tiff(path).axes == "SYX"


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    target = tmp_path / "out.tif"

    def broken_imwrite(file, *args, **kwargs):
        with open(file, "wb") as handle:
            handle.write(b"II*\x00 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(tifffile, "imwrite", broken_imwrite)
    with pytest.raises(ImageError, match="disk full"):
        write_tiff(target, np.zeros((4, 4), np.float32))
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_is_replaced_only_when_asked(tmp_path):
    target = write_tiff(tmp_path / "out.tif", np.ones((4, 4), np.float32))
    with pytest.raises(OutputError, match="exists"):
        write_tiff(target, np.zeros((4, 4), np.float32))
    assert read_tiff(target).data.max() == 1
    write_tiff(target, np.zeros((4, 4), np.float32), overwrite=True)
    assert read_tiff(target).data.max() == 0


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = write_tiff(tmp_path / "out.tif", np.ones((4, 4), np.float32))
    before = target.read_bytes()

    def broken_imwrite(*args, **kwargs):
        raise ValueError("cannot encode")

    monkeypatch.setattr(tifffile, "imwrite", broken_imwrite)
    with pytest.raises(ImageError, match="cannot encode"):
        write_tiff(target, np.zeros((4, 4), np.float32), overwrite=True)
    assert target.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["out.tif"]
