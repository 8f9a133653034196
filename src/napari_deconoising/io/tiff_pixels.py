"""Reading the pixels of a TIFF file's first series: a memory map, an array, or a lazy dask
array that reads only what is indexed (:func:`read_pixels`). The metadata (axes, pixel sizes)
is read by :mod:`.tiff_read`."""

from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from napari_deconoising.errors import ImageError

#: Bytes of one dask chunk (a band of rows of one plane) over uncompressed TIFF data: dask
#: reads whole chunks, so a small window costs at most a few bands, never a whole plane.
CHUNK_BYTES = 4 * 2**20


def read_pixels(path: Path, tif: tifffile.TiffFile, lazy: bool = False) -> Any:
    """Return the pixels of the first series: the one place that reads image data.

    A read-only ``numpy.memmap`` when the data are uncompressed and contiguous (nothing is read
    until used), else the whole array. With ``lazy``, a dask array that reads what is indexed
    on demand: uncompressed contiguous data by plain file reads of the rows needed (a memory
    map would keep every page it touched resident), anything else through tifffile's zarr view.
    """
    series = tif.series[0]
    if lazy and importlib.util.find_spec("zarr") is not None:
        if _whole_contiguous(path, series):
            return _contiguous_array(path, series)
        if series.dataoffset is None and series.nbytes > 0:
            return _lazy_array(tif)
        # empty or cut contiguous data: the eager path below says what is wrong
    try:
        return tifffile.memmap(path, series=0, mode="r")
    except ValueError:  # compressed, tiled, scattered, or the file is too short
        _check_fits_in_memory(path, series.nbytes)
        return series.asarray()


def _check_fits_in_memory(path: Path, nbytes: int) -> None:
    """Refuse to decode ``nbytes`` of pixels into memory when the machine has less (a damaged
    header may declare absurd sizes; a real image that large is opened lazily instead)."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX: let the allocation decide
        return
    if nbytes > memory:
        raise ImageError(
            f"cannot read {path}: its pixels would take {nbytes / 2**30:.1f} GiB, more than this "
            f"machine's {memory / 2**30:.1f} GiB of memory (is the file damaged?)"
        )


class _FileRows:
    """Uncompressed contiguous pixels in a file: indexing reads only the rows it needs."""

    def __init__(self, path: Path, offset: int, shape: tuple[int, ...], dtype: np.dtype):
        self.path, self.offset = str(path), int(offset)
        self.shape, self.dtype, self.ndim = tuple(shape), np.dtype(dtype), len(shape)

    def __getitem__(self, key: Any) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        key = key + (slice(None),) * (self.ndim - len(key))
        ranges = [
            range(*k.indices(n)) if isinstance(k, slice) else range(k, k + 1)
            for k, n in zip(key, self.shape, strict=True)
        ]
        rows, columns = ranges[-2], ranges[-1]
        out = np.empty([len(r) for r in ranges], self.dtype)
        row_bytes = self.shape[-1] * self.dtype.itemsize
        # planes before a plane, per step along each leading axis
        plane_strides = [math.prod(self.shape[axis + 1 : -2]) for axis in range(self.ndim - 2)]
        with open(self.path, "rb", buffering=0) as handle:
            for index in np.ndindex(*out.shape[:-2]):
                plane = sum(int(ranges[d][i]) * int(plane_strides[d]) for d, i in enumerate(index))
                start = self.offset + (plane * self.shape[-2] + rows.start) * row_bytes
                count = (rows.stop - rows.start) if rows.step == 1 else (rows[-1] - rows.start + 1)
                handle.seek(start)
                buffer = np.frombuffer(handle.read(count * row_bytes), self.dtype)
                block = buffer.reshape(count, self.shape[-1])[:: rows.step]
                out[index] = block[:, columns.start : columns.stop : columns.step][: len(rows)]
        return out


def _whole_contiguous(path: Path, series: Any) -> bool:
    """Uncompressed contiguous pixel data that the file holds completely."""
    offset = series.dataoffset
    return (
        offset is not None
        and series.nbytes > 0
        and not series.levels[1:]
        and offset + series.nbytes <= path.stat().st_size
    )


def _contiguous_array(path: Path, series: Any) -> Any:
    """A dask array over :class:`_FileRows`, in chunks of bands of rows (see
    :data:`CHUNK_BYTES`)."""
    import dask.array as da

    dtype = np.dtype(series.dtype).newbyteorder(series.parent.byteorder)
    shape = tuple(series.shape)
    planar = (1,) * max(0, 2 - len(shape)) + shape  # a one-row image (tifffile squeezes it)
    rows = _FileRows(path, series.dataoffset, planar, dtype)
    height = max(1, min(rows.shape[-2], CHUNK_BYTES // max(rows.shape[-1] * dtype.itemsize, 1)))
    chunks = (1,) * (rows.ndim - 2) + (height, rows.shape[-1])
    array = da.from_array(rows, chunks=chunks, asarray=False, fancy=False)
    return array.astype(dtype.newbyteorder("=")).reshape(shape)


def _lazy_array(tif: tifffile.TiffFile) -> Any:
    """The first series as a dask array over tifffile's zarr store (reopens the file itself)."""
    import dask.array as da
    import zarr

    store = tif.series[0].aszarr(level=0)
    return da.from_zarr(zarr.open_array(store, mode="r"))
