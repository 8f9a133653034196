"""From an axes-aware image to the per-channel stacks the engine works on, and back.

The engine trains and predicts on stacks of items, one stack per channel. An item has the
model's number of spatial dimensions: the last ``spatial_dims`` axes of ``ZYX`` (a 2D frame
``YX``, or a 3D volume ``ZYX``); every other axis but C only numbers independent items, in the
input's order (S and T, and Z for frames). :func:`channel_stacks` splits an
:class:`~napari_deconoising.io.AxesImage` into those stacks, read into memory (float32 arrays
of shape (N, *item)) or lazily (:class:`LazyFrame` handles that read only the windows asked
for); :func:`merge_channel_stacks` puts per-item results back into the input's shape and axes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from napari_deconoising.data.images import as_frames, pixel_source, read_pixels
from napari_deconoising.errors import ImageError
from napari_deconoising.io.axes import SPATIAL_AXES, AxesImage, reorder


def spatial_axes(spatial_dims: int) -> str:
    """The axes of one item: ``"YX"`` for 2 spatial dimensions, ``"ZYX"`` for 3."""
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
    return SPATIAL_AXES[-spatial_dims:]


def stack_axes(image: AxesImage, spatial_dims: int) -> str:
    """``image``'s axes in stack order: C (when it has one), the axes that number the items (in
    the input's order), then the item's spatial axes.

    Raises :class:`ImageError` when ``image`` lacks a spatial axis (a z-stack without Z).
    """
    spatial = spatial_axes(spatial_dims)
    missing = "".join(axis for axis in spatial if axis not in image.axes)
    if missing:
        raise ImageError(
            f"{image.name} ({image.describe()}) has no {missing} axis; 3D models and 3D training "
            f"need a z-stack (give its axes with {missing}, e.g. '{spatial}', or use 2D mode)"
        )
    numbering = "".join(axis for axis in image.axes if axis not in "C" + spatial)
    channel = "C" if "C" in image.axes else ""
    return channel + numbering + spatial


def channel_stacks(image: AxesImage, spatial_dims: int = 2, *, lazy: bool = False) -> list[Any]:
    """One stack per channel of ``image``'s items with ``spatial_dims`` spatial dimensions.

    In memory (default) a stack is a float32 array (N, Y, X) or (N, Z, Y, X); with ``lazy`` it
    is a list of :class:`LazyFrame` handles, one per item, nothing read yet. Items follow the
    input's order. Raises :class:`ImageError` when ``image`` lacks a spatial axis, or (in
    memory) holds no numbers, NaN or infinite values.
    """
    axes = stack_axes(image, spatial_dims)
    split = _lazy_stacks if lazy else _read_stacks
    return split(image, axes, spatial_dims)


def merge_channel_stacks(
    stacks: Sequence[np.ndarray], image: AxesImage, spatial_dims: int = 2
) -> np.ndarray:
    """Put per-channel stacks (as :func:`channel_stacks` gives, in memory) back into ``image``'s
    shape and axes order."""
    axes = stack_axes(image, spatial_dims)
    sizes = image.sizes
    items = tuple(sizes[axis] for axis in axes if axis != "C")
    merged = np.stack([np.asarray(stack).reshape(items) for stack in stacks])
    merged = merged.reshape(tuple(sizes[axis] for axis in axes))
    return reorder(merged, axes, image.axes)


def _channel_name(image: AxesImage, channel: int, n_channels: int) -> str:
    return image.name if n_channels == 1 else f"{image.name}, channel {channel}"


def _read_stacks(image: AxesImage, axes: str, spatial_dims: int) -> list[np.ndarray]:
    """The stacks read into memory, checked (:func:`~.images.as_frames`) and as float32."""
    data = reorder(image.data, image.axes, axes)
    data = data if "C" in image.axes else data[None]
    n_channels, stacks = data.shape[0], []
    for index in range(n_channels):
        channel = read_pixels(data, index, source=pixel_source(image))
        name = _channel_name(image, index, n_channels)
        frames = as_frames(channel.reshape((-1, *channel.shape[-2:])), name=name)
        stacks.append(frames.reshape((-1, *channel.shape[-spatial_dims:])))
    return stacks


def _lazy_stacks(image: AxesImage, axes: str, spatial_dims: int) -> list[list[LazyFrame]]:
    """Per channel, a :class:`LazyFrame` handle for every item."""
    dtype = np.dtype(image.data.dtype)
    if dtype.kind not in "uif":
        raise ImageError(f"{image.name}: expected real numbers, got dtype {dtype}")
    sizes, spatial = image.sizes, axes[-spatial_dims:]
    numbering = [axis for axis in axes if axis not in "C" + spatial]
    mapping = tuple(
        image.axes.index(axis) if axis in image.axes else None
        for axis in ["C", *numbering, *spatial]
    )
    region = tuple(sizes[axis] for axis in spatial)
    n_channels, source, origin = sizes.get("C", 1), pixel_source(image), (0,) * spatial_dims
    stacks = []
    for channel in range(n_channels):
        name = _channel_name(image, channel, n_channels)
        stacks.append(
            [
                LazyFrame(image.data, mapping, (channel, *index), origin, region, name, source)
                for index in np.ndindex(*[sizes[axis] for axis in numbering])
            ]
        )
    return stacks


@dataclass(frozen=True)
class LazyFrame:
    """One 2D frame (Y, X) or 3D volume (Z, Y, X) of a lazily read array, or a region of it.

    ``data`` is the image's array as given (any axis order); ``axes`` maps this frame's
    ``index`` followed by its spatial axes to positions in ``data`` (None: an axis ``data`` does
    not have). ``origin`` and ``shape`` give the region of the frame this handle covers (the
    whole frame unless it was cut by :meth:`region`). Reads index ``data`` directly, so a dask,
    zarr or file-backed array reads only the window's pixels. ``source`` (the file, or the
    image's name) is what a read error names.
    """

    data: Any
    axes: tuple[int | None, ...]
    index: tuple[int, ...]
    origin: tuple[int, ...]
    shape: tuple[int, ...]
    name: str = "image"
    source: str = "image"

    @property
    def ndim(self) -> int:
        """2 for frames, 3 for volumes."""
        return len(self.shape)

    @property
    def size(self) -> int:
        """Pixels (voxels) in the region."""
        return math.prod(self.shape)

    def read(self, starts: Sequence[int], sizes: Sequence[int]) -> np.ndarray:
        """The float32 window ``starts`` .. ``starts + sizes`` (relative to the region), with
        its axes in Z, Y, X order. Raises :class:`ImageError` when the file is damaged or
        unreadable there, or the window holds NaN or infinite values."""
        windows = [
            slice(o + s, o + s + n) for o, s, n in zip(self.origin, starts, sizes, strict=True)
        ]
        key: list[Any] = [slice(None)] * len(self.data.shape)
        for position, item in zip(self.axes, [*self.index, *windows], strict=True):
            if position is not None:
                key[position] = item
        block = read_pixels(self.data, tuple(key), source=self.source, dtype=np.float32)
        spatial = list(self.axes[len(self.index) :])
        block = np.transpose(block, [sorted(spatial).index(p) for p in spatial])
        if not np.all(np.isfinite(block)):
            raise ImageError(f"{self.name}: the image contains NaN or infinite values")
        return block

    def region(self, axis: int, start: int, stop: int) -> LazyFrame:
        """The part of this region from ``start`` to ``stop`` along spatial ``axis``."""
        origin, shape = list(self.origin), list(self.shape)
        origin[axis] += start
        shape[axis] = stop - start
        return replace(self, origin=tuple(origin), shape=tuple(shape))
