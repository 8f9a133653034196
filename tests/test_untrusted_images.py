"""Images from untrusted files never crash the readers: any shape, dtype and axes, damaged bytes
in TIFF files and zarr stores. Each read either gives an image whose pixels can be read, or
raises a :class:`DeconoisingError` (one line, for the CLI and the widgets); the CLI turns a
damaged file into one error line and exit code 2."""

from __future__ import annotations

import json
import math
import shutil
import struct
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from napari_deconoising.cli import main
from napari_deconoising.data.images import pixel_source, read_pixels
from napari_deconoising.data.stacks import channel_stacks
from napari_deconoising.errors import DeconoisingError, ImageError
from napari_deconoising.io import AxesImage, read_tiff
from napari_deconoising.io.lazy import open_image
from napari_deconoising.io.zarr_io import create_zarr, mark_complete, read_zarr

pytestmark = pytest.mark.filterwarnings(  # tifffile on writing odd test images
    "ignore:.*(zero-size array|stored as RGB).*"
)
DTYPES = ("uint8", "uint16", "int16", "int32", "float32", "float64", "bool", "complex64")
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
Reader = Callable[[Path, "str | None"], AxesImage]
TIFF_READERS: dict[str, Reader] = {
    "read_tiff": lambda path, axes: read_tiff(path, axes),
    "read_tiff lazy": lambda path, axes: read_tiff(path, axes, lazy=True),
    "open_image": lambda path, axes: open_image(path, axes),
}
ZARR_READERS: dict[str, Reader] = {
    "read_zarr": lambda path, axes: read_zarr(path, axes),
    "open_image": lambda path, axes: open_image(path, axes),
}


def read_or_refuse(reader: Reader, path: Path, axes: str | None = None) -> AxesImage | None:
    """The image, or None when the reader refused it with a one-line DeconoisingError."""
    try:
        return reader(path, axes)
    except DeconoisingError as err:
        assert_one_line(err)
        return None


def assert_one_line(err: BaseException) -> None:
    message = str(err)
    assert message and "\n" not in message, f"not one line: {message!r}"


def read_all_pixels(image: AxesImage) -> np.ndarray | None:
    """Every way the product reads pixels: the whole array, the training frames (in memory)
    and the lazily read frames. None when a read was refused with a DeconoisingError."""
    try:
        pixels = read_pixels(image.data, source=pixel_source(image))
        assert pixels.shape == image.shape
        channel_stacks(image, 2)
        for frames in channel_stacks(image, 2, lazy=True):
            for frame in frames[:2]:
                frame.read((0,) * frame.ndim, frame.shape)
    except DeconoisingError as err:
        assert_one_line(err)
        return None
    return pixels


# --- (a) any shape, dtype and axes --------------------------------------------------------

shapes = st.lists(st.integers(0, 5), min_size=1, max_size=5).map(tuple)
axes_strings = st.text(alphabet="STCZYXQIyx ", min_size=0, max_size=6)


@st.composite
def fitting_axes(draw: st.DrawFn, ndim: int) -> str:
    """Valid axes for ``ndim`` dimensions (Y and X and others of STCZ, any order), when
    there are at least two."""
    others = draw(st.permutations("STCZ"))[: max(ndim - 2, 0)]
    return "".join(draw(st.permutations(["Y", "X", *others])))[:ndim]


def write_any(path: Path, data: np.ndarray, kind: str, file_axes: str | None) -> bool:
    """Write ``data`` as ``kind`` (plain, imagej, ome) with ``file_axes`` where tifffile can,
    else as a plain TIFF; False when tifffile cannot write it at all."""
    options = {"imagej": {"imagej": True}, "ome": {"ome": True}}.get(kind, {})
    metadata = {"axes": file_axes} if file_axes else {}
    for attempt in ({**options, "metadata": metadata}, {"metadata": None}):
        try:
            tifffile.imwrite(path, data, **attempt)
            return True
        except Exception:  # a combination tifffile does not write: not what is tested here
            path.unlink(missing_ok=True)
    return False


@FUZZ
@given(
    shape=shapes,
    dtype=st.sampled_from(DTYPES),
    kind=st.sampled_from(["plain", "imagej", "ome"]),
    file_axes=st.none() | axes_strings,
    axes_kind=st.sampled_from(["none", "fitting", "any"]),
    seed=st.integers(0, 2**16),
    choices=st.data(),
)
def test_any_tiff_is_read_with_its_shape_or_refused_clearly(
    shape, dtype, kind, file_axes, axes_kind, seed, choices
):
    axes = {"none": st.none(), "fitting": fitting_axes(len(shape)), "any": axes_strings}
    user_axes = choices.draw(axes[axes_kind], label="user_axes")
    data = np.random.default_rng(seed).integers(0, 100, shape).astype(dtype)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "image.tif"
        if not write_any(path, data, kind, file_axes):
            return
        for reader in TIFF_READERS.values():
            image = read_or_refuse(reader, path, user_axes)
            if image is None:
                continue
            assert len(image.axes) == len(image.shape)
            assert math.prod(image.shape) == data.size
            if user_axes is not None:
                assert image.axes == user_axes.strip().upper()
            pixels = read_all_pixels(image)
            if pixels is not None:
                assert np.array_equal(np.sort(pixels.ravel()), np.sort(data.ravel()))


# --- (b) damaged TIFF files -----------------------------------------------------------------

TIFF_KINDS = {
    "uncompressed": {},
    "zlib": {"compression": "zlib", "rowsperstrip": 8},
    "zlib tiled": {"compression": "zlib", "tile": (16, 16)},
    "imagej": {"imagej": True, "metadata": {"axes": "TYX"}},
    "ome zlib": {"ome": True, "compression": "zlib", "metadata": {"axes": "CYX"}},
    "bigtiff": {"bigtiff": True},
}


@cache
def valid_tiff(kind: str) -> bytes:
    """A small valid TIFF file of ``kind`` (3 frames of 32 x 40, uint16)."""
    data = (np.arange(3 * 32 * 40) % 1009).reshape(3, 32, 40).astype(np.uint16)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "valid.tif"
        tifffile.imwrite(path, data, photometric="minisblack", **TIFF_KINDS[kind])
        return path.read_bytes()


def damage(raw: bytes, truncate: bool, where: float, noise: bytes) -> bytes:
    """``raw`` cut at ``where`` (a fraction of its length), or with ``noise`` written there."""
    start = int(where * len(raw))
    if truncate:
        return raw[:start]
    return raw[:start] + noise + raw[start + len(noise) :]


@FUZZ
@given(
    kind=st.sampled_from(sorted(TIFF_KINDS)),
    truncate=st.booleans(),
    where=st.floats(0, 1, exclude_max=True),
    noise=st.binary(min_size=1, max_size=24),
)
def test_damaged_tiff_is_read_or_refused_clearly(kind, truncate, where, noise):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "damaged.tif"
        path.write_bytes(damage(valid_tiff(kind), truncate, where, noise))
        for reader in TIFF_READERS.values():
            image = read_or_refuse(reader, path)
            if image is not None:
                read_all_pixels(image)


# --- (c) damaged zarr stores ----------------------------------------------------------------


def _our_store(path: Path, data: np.ndarray) -> None:
    array = create_zarr(path, data.shape, "TYX", (1, 16, 16), {"X": 0.2, "Y": 0.2}, data.dtype)
    array[:] = data
    mark_complete(path)


def _plain_array(path: Path, data: np.ndarray) -> None:
    zarr.create_array(str(path), shape=data.shape, chunks=(1, 16, 16), dtype=data.dtype)[:] = data


def _ngff_04_group(path: Path, data: np.ndarray) -> None:
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    group.create_array("0", shape=data.shape, chunks=(1, 16, 16), dtype=data.dtype)[:] = data
    axes = [{"name": "t", "type": "time"}] + [
        {"name": n, "type": "space", "unit": "micrometer"} for n in "yx"
    ]
    scale = {"type": "scale", "scale": [1, 0.2, 0.2]}
    datasets = [{"path": "0", "coordinateTransformations": [scale]}]
    group.attrs["multiscales"] = [{"version": "0.4", "axes": axes, "datasets": datasets}]


ZARR_KINDS = {"ours": _our_store, "plain array": _plain_array, "ngff 0.4": _ngff_04_group}
METADATA_NAMES = {"zarr.json", ".zarray", ".zattrs", ".zgroup"}


@pytest.fixture(scope="module")
def valid_stores(tmp_path_factory) -> dict[str, Path]:
    """A small valid store of each kind (3 frames of 32 x 40, float32)."""
    folder = tmp_path_factory.mktemp("stores")
    data = (np.arange(3 * 32 * 40) % 1009).reshape(3, 32, 40).astype(np.float32)
    stores = {}
    for kind, make in ZARR_KINDS.items():
        stores[kind] = folder / f"{kind.replace(' ', '_')}.zarr"
        make(stores[kind], data)
    return stores


def store_files(store: Path, metadata: bool) -> list[Path]:
    """The metadata files (zarr.json...) or the chunk files of ``store``, in a fixed order."""
    files = sorted(p for p in store.rglob("*") if p.is_file())
    return [p for p in files if (p.name in METADATA_NAMES) == metadata]


@FUZZ
@given(
    kind=st.sampled_from(sorted(ZARR_KINDS)),
    metadata=st.booleans(),
    which=st.integers(0, 1000),
    how=st.sampled_from(["truncate", "overwrite", "delete", "json"]),
    where=st.floats(0, 1, exclude_max=True),
    noise=st.binary(min_size=1, max_size=24),
    value=st.sampled_from([None, -1, 0, 2**70, "x", [], {}, [1], 1.5, True, "float99"]),
)
def test_damaged_zarr_store_is_read_or_refused_clearly(
    valid_stores, kind, metadata, which, how, where, noise, value
):
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "damaged.zarr"
        shutil.copytree(valid_stores[kind], store)
        files = store_files(store, metadata)
        target = files[which % len(files)]
        raw = target.read_bytes()
        if how == "delete":
            target.unlink()
        elif how == "json" and metadata:
            target.write_text(json.dumps(_replace_a_value(json.loads(raw), which, value)))
        else:
            target.write_bytes(damage(raw, how == "truncate", where, noise))
        for reader in ZARR_READERS.values():
            image = read_or_refuse(reader, store)
            if image is not None:
                read_all_pixels(image)


def _replace_a_value(document: object, which: int, value: object) -> object:
    """``document`` with the ``which``-th value (depth first, wrapping round) set to ``value``."""
    places: list[tuple[object, object]] = []

    def walk(node: object) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in list(items):
            places.append((node, key))
            if isinstance(child, (dict, list)):
                walk(child)

    if isinstance(document, (dict, list)):
        walk(document)
    if places:
        node, key = places[which % len(places)]
        node[key] = value  # type: ignore[index]
    return document


# --- found by fuzzing: regressions ------------------------------------------------------------


def test_damaged_compressed_pixels_name_the_file_wherever_they_are_read(tmp_path):
    path = damaged_zlib_tiff(tmp_path / "cells.tif", (2, 64, 64))
    image = open_image(path)
    for read in (
        lambda: read_pixels(image.data, source=pixel_source(image)),
        lambda: channel_stacks(image, 2),
        lambda: channel_stacks(image, 2, lazy=True)[0][1].read((0, 0), (64, 64)),
    ):
        with pytest.raises(ImageError, match=r"cells\.tif: the file is damaged or unreadable"):
            read()
    with pytest.raises(ImageError, match=r"cells\.tif: the TIFF file is damaged"):
        read_tiff(path)  # read in full at once


def test_a_damaged_width_does_not_allocate_the_declared_size(tmp_path):
    path = tmp_path / "wide.tif"
    tifffile.imwrite(path, np.ones((64, 64), np.uint16), compression="zlib", rowsperstrip=64)
    raw = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        tags = tif.pages[0].tags
        for name in ("ImageWidth", "ImageLength"):  # 60000 x 60000 px: 7 GB in a tiny file
            struct.pack_into(
                "<H" if tags[name].dtype == 3 else "<I", raw, tags[name].valueoffset, 60000
            )
    path.write_bytes(bytes(raw))
    for reader in TIFF_READERS.values():
        with pytest.raises(ImageError, match=r"damaged or truncated .*strips or tiles"):
            reader(path, None)


def test_empty_images_with_several_sample_axes_are_refused_clearly(tmp_path):
    path = tmp_path / "empty.tif"  # tifffile's axes S and Q are both samples: merged on reading
    empty = np.zeros((1, 0, 2, 0), np.uint8)
    tifffile.imwrite(path, empty, metadata={"axes": "SQYZ"}, compression="zlib")
    for reader in TIFF_READERS.values():
        with pytest.raises(ImageError, match=r"empty\.tif: axes 'SYZ' has no X axis"):
            reader(path, None)


# --- the command line -----------------------------------------------------------------------


def damaged_zlib_tiff(path: Path, shape: tuple[int, ...]) -> Path:
    """A zlib-compressed uint16 stack of ``shape`` with noise inside every compressed strip
    (the header and the strip table are intact, so the file opens)."""
    rng = np.random.default_rng(1)
    tifffile.imwrite(
        path, rng.poisson(50, shape).astype(np.uint16), compression="zlib", rowsperstrip=16
    )
    with tifffile.TiffFile(path) as tif:
        strips = [
            (offset, count)
            for page in tif.pages
            for offset, count in zip(page.dataoffsets, page.databytecounts, strict=True)
        ]
    raw = bytearray(path.read_bytes())
    for offset, count in strips:
        raw[offset + 2 : offset + count - 2] = rng.integers(0, 256, count - 4, np.uint8).tobytes()
    path.write_bytes(bytes(raw))
    return path


@pytest.fixture(scope="module")
def damaged_stack(tmp_path_factory) -> Path:
    """4 frames of 384 x 384: 2.25 MB as float32, streamed with ``--cache-mb 1``."""
    return damaged_zlib_tiff(tmp_path_factory.mktemp("damaged") / "stack.tif", (4, 384, 384))


@pytest.fixture(scope="module")
def model_path(tmp_path_factory, tiny_model) -> Path:
    return tiny_model.save(tmp_path_factory.mktemp("model") / "model.pt")


def assert_one_error_line(capsys, code: int, command: str, path: Path | str) -> None:
    """Exit code 2 and one error line naming ``path`` and the damage; no traceback."""
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith(f"deconoising {command}: ")]
    assert code == 2, err
    assert "Traceback" not in err
    assert len(errors) == 1 and errors[0].startswith(f"deconoising {command}: error:"), err
    assert str(path) in errors[0] and "damaged" in errors[0]


@pytest.mark.parametrize("cache", [[], ["--cache-mb", "1"]], ids=["in memory", "streamed"])
def test_train_on_a_damaged_compressed_tiff_is_one_error_line(
    capsys, tmp_path, damaged_stack, cache
):
    out = tmp_path / "model.pt"
    tiny = ["--steps", "2", "--patch-size", "32", "--batch-size", "2", "--axes", "SYX"]
    code = main(
        ["train", str(damaged_stack), "--out", str(out), "--psf-sigma", "1.5", *tiny, *cache]
    )
    assert_one_error_line(capsys, code, "train", damaged_stack)
    assert not out.exists()


@pytest.mark.parametrize("suffix", [".tif", ".zarr"], ids=["in memory", "block-wise"])
def test_predict_on_a_damaged_compressed_tiff_is_one_error_line(
    capsys, tmp_path, damaged_stack, model_path, suffix
):
    outputs = [tmp_path / f"denoised{suffix}", tmp_path / f"deconvolved{suffix}"]
    code = main(
        [
            "predict", str(damaged_stack), "--model", str(model_path), "--axes", "SYX",
            "--denoised", str(outputs[0]), "--deconvolved", str(outputs[1]),
        ]
    )  # fmt: skip
    # block-wise reading names the image (file stem) and the block
    assert_one_error_line(capsys, code, "predict", damaged_stack.stem)
    assert not any(p.exists() for p in outputs)


def test_compress_on_a_damaged_compressed_tiff_is_one_error_line(
    capsys, tmp_path, damaged_stack, model_path
):
    out = tmp_path / "small.pt"
    code = main(
        [
            "compress", "--model", str(model_path), "--images", str(damaged_stack),
            "--axes", "SYX", "--out", str(out),
        ]
    )  # fmt: skip
    assert_one_error_line(capsys, code, "compress", damaged_stack)
    assert not out.exists()
