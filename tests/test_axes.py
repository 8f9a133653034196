"""Axes strings, defaults, RGB refusal, canonical order and napari layer metadata."""

from __future__ import annotations

import numpy as np
import pytest

from napari_deconoising.errors import ImageError
from napari_deconoising.io import (
    AXES,
    AxesImage,
    axes_from_layer,
    check_not_rgb,
    default_axes,
    default_axes_message,
    from_canonical,
    normalise_spacing,
    resolve_axes,
    spacing_from_scale,
    to_canonical,
    um_per_unit,
    validate_axes,
)


def test_axes_letters():
    assert AXES == "STCZYX"


def test_validate_axes_upper_cases_and_allows_s_with_t():
    assert validate_axes(" tzcyx ", (2, 3, 2, 16, 16)) == "TZCYX"
    assert validate_axes("STCZYX", (2, 2, 2, 2, 8, 8)) == "STCZYX"
    assert validate_axes("XY", (8, 9)) == "XY"


@pytest.mark.parametrize(
    ("axes", "shape", "message"),
    [
        (
            "ZYX",
            (2, 16, 64, 64),
            "axes 'ZYX' has 3 letters but the image has 4 dimensions (2, 16, 64, 64)",
        ),
        ("QYX", (2, 8, 8), "axes 'QYX': unknown letter(s) Q; use letters from STCZYX"),
        ("zyyx", (2, 2, 8, 8), "axes 'ZYYX' repeats Y"),
        ("ZYZ", (2, 8, 8), "axes 'ZYZ' repeats Z"),
        ("CZY", (2, 3, 8), "axes 'CZY' has no X axis"),
        ("CZ", (2, 3), "axes 'CZ' has no Y and X axis"),
        ("ZYX", (0, 8, 8), "axis Z has length 0 in shape (0, 8, 8)"),
        ("", (8, 8), "axes must be a string of letters from STCZYX"),
    ],
)
def test_validate_axes_messages(axes, shape, message):
    with pytest.raises(ImageError) as info:
        validate_axes(axes, shape)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("ndim", "axes"), [(2, "YX"), (3, "SYX"), (4, "CZYX"), (5, "TCZYX"), (6, "STCZYX")]
)
def test_default_axes(ndim, axes):
    assert default_axes((4,) * ndim) == axes


@pytest.mark.parametrize("ndim", [1, 7])
def test_default_axes_refuses_other_dimensionalities(ndim):
    with pytest.raises(ImageError, match=f"has {ndim} dimensions"):
        default_axes((4,) * ndim)


def test_default_axes_message():
    assert default_axes_message((3, 395, 695), "SYX") == (
        "reading (3, 395, 695) as SYX: 3 frames; say --axes CYX or ZYX if that is wrong"
    )
    assert default_axes_message((2, 16, 64, 64), "CZYX", option="Axes") == (
        "reading (2, 16, 64, 64) as CZYX: 2 channels × 16 planes; "
        "say Axes ZCYX, TZYX or SCYX if that is wrong"
    )
    assert default_axes_message((64, 64), "YX") == "reading (64, 64) as YX: one 2D image"


class NoRead:
    """An array-like that fails if anything reads its values."""

    shape = (3, 395, 695)
    dtype = np.dtype(np.uint16)

    def __getitem__(self, key):
        raise AssertionError("read")

    def __array__(self, *args, **kwargs):
        raise AssertionError("read")


def test_axes_image_is_lazy_and_describes_itself():
    image = AxesImage(NoRead(), "cyx", {"x": 0.1, "Y": 0.1, "Z": 0.3}, "file", "cells")
    assert image.axes == "CYX"
    assert image.spacing == {"X": 0.1, "Y": 0.1}  # no Z axis: its step is dropped
    assert image.shape == (3, 395, 695)
    assert image.sizes == {"C": 3, "Y": 395, "X": 695}
    assert image.n_channels == 3
    assert image.has("c") and not image.has("Z")
    assert image.pixel_size == 0.1
    assert image.describe() == "3 channels × 395 × 695 (CYX)"


@pytest.mark.parametrize(
    ("shape", "axes", "text"),
    [
        ((32, 256, 256), "ZYX", "32 planes × 256 × 256 (ZYX)"),
        ((10, 512, 512), "SYX", "10 frames × 512 × 512 (SYX)"),
        ((1, 8, 8), "TYX", "1 time point × 8 × 8 (TYX)"),
        (
            (2, 3, 16, 128, 128),
            "TCZYX",
            "2 time points × 3 channels × 16 planes × 128 × 128 (TCZYX)",
        ),
    ],
)
def test_describe(shape, axes, text):
    assert AxesImage(np.zeros(shape, np.uint8), axes).describe() == text


def test_axes_image_without_spacing_and_channels():
    image = AxesImage(np.zeros((4, 8, 8)), "ZYX")
    assert image.n_channels == 1
    assert image.pixel_size is None
    assert image.axes_source == "user"
    with pytest.raises(ImageError, match="has 2 letters"):
        AxesImage(np.zeros((4, 8, 8)), "YX")


def test_canonical_order_round_trip_is_a_view():
    data = np.arange(2 * 3 * 4 * 5 * 6).reshape(2, 3, 4, 5, 6)  # Z C T X Y
    canonical, axes = to_canonical(data, "zctxy")
    assert axes == "TCZYX"
    assert canonical.shape == (4, 3, 2, 6, 5)
    assert np.shares_memory(canonical, data)
    assert canonical[3, 1, 0, 5, 2] == data[0, 1, 3, 2, 5]
    back = from_canonical(canonical, axes, "ZCTXY")
    assert np.array_equal(back, data)


def test_canonical_keeps_ordered_data_untouched():
    data = NoRead()
    same, axes = to_canonical(data, "CYX")
    assert same is data and axes == "CYX"


def test_from_canonical_refuses_other_axes():
    with pytest.raises(ImageError, match="different axes"):
        from_canonical(np.zeros((2, 8, 8)), "ZYX", "CYX")


def test_axes_image_canonical():
    image = AxesImage(np.zeros((8, 9, 3)), "YXZ", {"Z": 0.5}, "file", "a")
    canonical = image.canonical()
    assert canonical.axes == "ZYX" and canonical.shape == (3, 8, 9)
    assert canonical.spacing == {"Z": 0.5} and canonical.axes_source == "file"


def test_check_not_rgb():
    advice = "Image > Color > Split Channels"
    with pytest.raises(ImageError, match=advice):
        check_not_rgb((64, 64), rgb=True)
    with pytest.raises(ImageError, match=r"RGB\(A\)"):
        check_not_rgb((64, 64, 4), samples_per_pixel=4)
    with pytest.raises(ImageError, match="--axes CYX"):
        check_not_rgb((395, 695, 3), axes_source="default")
    check_not_rgb((395, 695, 3), axes_source="user")  # the user said what it is
    check_not_rgb((3, 395, 695), axes_source="default")  # three frames
    check_not_rgb((10, 3, 3), axes_source="default")  # tiny, not a picture


def test_resolve_axes_precedence():
    shape = (3, 32, 32)
    assert resolve_axes(shape, "cyx", "ZYX", "TYX") == ("CYX", "user")
    assert resolve_axes(shape, None, "ZYX", "TYX") == ("ZYX", "file")
    assert resolve_axes(shape, None, None, "TYX") == ("TYX", "layer")
    assert resolve_axes(shape) == ("SYX", "default")
    with pytest.raises(ImageError, match="RGB"):
        resolve_axes((32, 32, 3))
    assert resolve_axes((32, 32, 3), "YXC") == ("YXC", "user")
    with pytest.raises(ImageError, match="has 2 letters"):
        resolve_axes(shape, "YX", "ZYX")


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (("0", "1", "2"), ("SYX", "default")),
        (("-3", "-2", "-1"), ("SYX", "default")),
        (None, ("SYX", "default")),
        (("t", "y", "x"), ("TYX", "layer")),
        (("Z", "Y", "X"), ("ZYX", "layer")),
        (("channel", "y", "x"), ("CYX", "layer")),
        (("time", "y", "x"), ("TYX", "layer")),
        (("x", "x", "y"), ("SYX", "default")),  # repeated: not trusted
        (("t", "z", "x"), ("SYX", "default")),  # no Y
        (("t", "row", "col"), ("SYX", "default")),
    ],
)
def test_axes_from_layer(labels, expected):
    assert axes_from_layer(3, False, labels) == expected


def test_axes_from_layer_5d_and_rgb():
    labels = ("time", "c", "z", "y", "x")
    assert axes_from_layer(5, False, labels) == ("TCZYX", "layer")
    assert axes_from_layer(4, False, None) == ("CZYX", "default")
    with pytest.raises(ImageError, match="RGB"):
        axes_from_layer(2, True, ("0", "1"))
    with pytest.raises(ImageError, match="RGB"):
        axes_from_layer(3, False, ("0", "1", "2"), shape=(64, 64, 3))


def test_um_per_unit():
    assert um_per_unit("nm") == pytest.approx(1e-3)
    assert um_per_unit("micron") == um_per_unit("µm") == um_per_unit("\\u00B5m") == 1.0
    assert um_per_unit("MM") == 1000.0
    assert um_per_unit("pixel") is None
    assert um_per_unit(None) is None
    assert um_per_unit("inch") is None


def test_spacing_from_scale_units():
    spacing = spacing_from_scale("TZYX", [2.0, 250.0, 100.0, 100.0], ["s", "nm", "nm", "nm"])
    assert spacing == pytest.approx({"Z": 0.25, "Y": 0.1, "X": 0.1})
    assert spacing_from_scale("ZYX", [0.3, 0.1, 0.1], ["µm", "um", "micrometer"]) == (
        pytest.approx({"Z": 0.3, "Y": 0.1, "X": 0.1})
    )
    assert spacing_from_scale("YX", [0.002, 0.002], "mm") == pytest.approx({"Y": 2.0, "X": 2.0})


def test_spacing_from_scale_unknown_sizes():
    assert spacing_from_scale("SYX", [1.0, 1.0, 1.0], ["pixel"] * 3) == {}
    assert spacing_from_scale("SYX", [1.0, 1.0, 1.0], None) == {}
    # a scale set by hand without units is taken to be in µm
    assert spacing_from_scale("CYX", [1.0, 0.2, 0.2], None) == pytest.approx({"Y": 0.2, "X": 0.2})
    assert spacing_from_scale("YX", [0.5, 0.5], ["furlong", "pixel"]) == {"X": 0.5}
    assert spacing_from_scale("YX", [0.0, float("nan")], "um") == {}
    with pytest.raises(ImageError, match="does not match"):
        spacing_from_scale("ZYX", [1.0, 1.0], None)


def test_normalise_spacing():
    assert normalise_spacing({"x": 0.1, "Z": 2}, "YX") == {"X": 0.1}
    with pytest.raises(ImageError, match="Z, Y, X only"):
        normalise_spacing({"T": 1.0}, "TYX")
    with pytest.raises(ImageError, match="positive number"):
        normalise_spacing({"X": -0.1}, "YX")
    with pytest.raises(ImageError, match="positive number"):
        normalise_spacing({"X": float("inf")}, "YX")
