"""The output stores of block-wise prediction: built under temporary names, finished or removed.

Each block's two results are written as they come to two OME-Zarr stores (``.zarr``: chunks =
blocks) or, for ``.tif`` outputs, to a hidden scratch store that is then copied plane by plane
into a BigTIFF (OME-TIFF) file. Outputs are built under a temporary name (``NAME.incomplete``,
with ``"deconoising": {"complete": false}`` in the store) and renamed only at the end
(:meth:`JobOutputs.finish`): a stopped, failed or cancelled run never leaves a result-looking
output (:meth:`JobOutputs.abort`), and an existing output is replaced only with ``overwrite``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from napari_deconoising.errors import ConfigError, DeconoisingError, ImageError
from napari_deconoising.io.axes import AxesImage
from napari_deconoising.io.dtypes import convert_values, output_dtype
from napari_deconoising.io.outputs import interrupts_deferred, remove_path, replace_all
from napari_deconoising.io.zarr_io import create_zarr, is_complete, is_zarr_path, mark_complete
from napari_deconoising.prediction.blocks import Block

OUTPUT_KINDS = ("denoised", "deconvolved")
INCOMPLETE_SUFFIX = ".incomplete"
"""Added to an output's name while it is being written."""
TIFF_SUFFIXES = (".tif", ".tiff")


def output_kind(path: Path) -> str:
    """``"zarr"`` or ``"tiff"`` by the name's suffix; anything else is refused."""
    if is_zarr_path(path):
        return "zarr"
    if path.name.lower().endswith(TIFF_SUFFIXES):
        return "tiff"
    raise ImageError(f"cannot write {path}: the name must end with .zarr, .tif or .tiff")


def incomplete_path(path: Path) -> Path:
    """Where an output is built before it is renamed into place."""
    return path.with_name(path.name + INCOMPLETE_SUFFIX)


# ---- values ---------------------------------------------------------------------------------


def block_dtype(dtype: str, image: AxesImage) -> np.dtype:
    """The stores' type, ``"float32"`` or ``"input"``: the rule of TIFF outputs
    (:func:`napari_deconoising.io.dtypes.output_dtype`)."""
    if dtype not in ("float32", "input"):
        raise ConfigError(f"dtype must be float32 or input, got {dtype!r}")
    return output_dtype(dtype, image.dtype)


def write_block(arrays: Sequence[Any], block: Block, values: Sequence[np.ndarray]) -> None:
    """Store a block's results in the output arrays (zarr arrays, in store order)."""
    for array, value in zip(arrays, values, strict=True):
        array[block.core] = convert_values(value, np.dtype(array.dtype))


# ---- stores ---------------------------------------------------------------------------------


@dataclass
class JobOutputs:
    """The stores one input's outputs are built in: one per output kind (``targets``: the final
    paths by kind), under temporary names."""

    targets: Mapping[str, Path]
    stores: dict[str, Path]
    arrays: dict[str, Any]

    def finish(self, overwrite: bool, on_plane: Callable[[], None] | None = None) -> None:
        """Mark the stores complete, build every output under its temporary name (TIFFs copied
        out of their stores; ``on_plane`` is called after each plane and may raise to stop), then
        move them all into place at once (:func:`~napari_deconoising.io.outputs.replace_all`)."""
        moves = []
        for kind, target in self.targets.items():
            store = self.stores[kind]
            mark_complete(store)
            if output_kind(target) == "tiff":
                _zarr_to_tiff(self.arrays[kind], store, incomplete_path(target), on_plane)
            moves.append((incomplete_path(target), target))
        for _, target in moves:
            if not overwrite and (target.exists() or target.is_symlink()):
                raise ImageError(f"{target} appeared during the run; it was left as it was")
        replace_all(moves)
        for kind, target in self.targets.items():
            if output_kind(target) == "tiff":
                remove_path(self.stores[kind])

    def abort(self) -> None:
        """Remove everything written so far (never a finished output); a Ctrl-C meanwhile is
        held back until the clean-up is done."""
        with interrupts_deferred():
            for kind, store in self.stores.items():
                remove_path(store)
                remove_path(incomplete_path(self.targets[kind]))


def open_outputs(
    targets: Mapping[str, Path], image: AxesImage, chunks: tuple[int, ...], dtype: np.dtype
) -> JobOutputs:
    """Create the stores for the outputs ``targets`` (paths by kind) of ``image`` (in store
    order), chunked by ``chunks``; what an earlier stopped run left under the temporary names
    is removed first. Whatever was created is removed again when one cannot be created."""
    stores: dict[str, Path] = {}
    arrays: dict[str, Any] = {}
    outputs = JobOutputs(targets, stores, arrays)
    try:
        for kind, target in targets.items():
            store = _store_for(target)
            _clear_leftover(store)
            _clear_leftover(incomplete_path(target))
            target.parent.mkdir(parents=True, exist_ok=True)
            stores[kind] = store
            arrays[kind] = _created_store(store, target, image, chunks, dtype, kind)
    except BaseException:
        outputs.abort()
        raise
    return outputs


def _scratch_store(target: Path) -> Path:
    """A hidden zarr store beside a TIFF output, to collect its blocks."""
    return target.with_name(f".{target.name}.blocks.zarr{INCOMPLETE_SUFFIX}")


def _store_for(target: Path) -> Path:
    if output_kind(target) == "zarr":
        return incomplete_path(target)
    return _scratch_store(target)


def _created_store(
    store: Path, target: Path, image: AxesImage, chunks: tuple[int, ...], dtype: np.dtype, kind: str
) -> Any:
    """A new zarr array at ``store``; what cannot be created is an :class:`ImageError`."""
    try:
        return create_zarr(
            store, image.shape, image.axes, chunks, image.spacing, dtype, f"{image.name} {kind}"
        )
    except DeconoisingError:
        raise
    except Exception as err:
        raise ImageError(f"cannot create {target}: {err}") from err


def _clear_leftover(path: Path) -> None:
    """Remove what a stopped earlier run left under a temporary name."""
    if path.exists():
        if path.is_dir() and is_complete(path) is True:
            raise ImageError(f"{path} holds a finished result; move it away first")
        remove_path(path)


def _zarr_to_tiff(array: Any, store: Path, path: Path, on_plane: Callable[[], None] | None) -> None:
    """Copy a store's array into a BigTIFF file plane by plane (bounded memory)."""
    from napari_deconoising.io.tiff_write import write_tiff_planes
    from napari_deconoising.io.zarr_io import read_zarr

    image = read_zarr(store)
    n_planes = math.prod(image.shape[:-2])
    index_shape = image.shape[:-2]

    def planes() -> Iterator[np.ndarray]:
        for flat in range(n_planes):
            yield np.asarray(array[np.unravel_index(flat, index_shape)])
            if on_plane is not None:
                on_plane()

    write_tiff_planes(path, image.shape, image.axes, image.spacing, image.dtype, planes())
