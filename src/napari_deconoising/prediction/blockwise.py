"""Prediction of images of any size, block by block, straight to disk.

An image (read lazily: a memory-mapped or zarr-backed TIFF, a zarr/OME-Zarr store, a dask
array) is cut into blocks: a few frames (S, T, and Z planes for a 2D model) and a square of
``BlockConfig.block_size`` pixels in Y and X (and ``block_z`` planes for a 3D model), each read
with a halo of real neighbouring pixels, ``overlap + PSF radius`` wide. The halo gives every
output pixel the same context the whole-image prediction gives it and lets the PSF convolution
see the real deconvolved neighbours, so the cropped blocks fit together without seams and
match the whole-image prediction within float tolerance. Memory is bounded by the block size.

Each block's two results are written as they come to two OME-Zarr stores (``.zarr``: chunks =
blocks) or, for ``.tif`` outputs, to a hidden scratch store that is then copied plane by plane
into a BigTIFF (OME-TIFF) file. Outputs are built under a temporary name
(``NAME.incomplete``, with ``"deconoising": {"complete": false}`` in the store) and renamed
only at the end: a stopped, failed or cancelled run never leaves a result-looking output, and an
existing output is replaced only with ``overwrite=True``.

The blocks of all inputs are independent tasks. By default they run here, one after another
(:class:`BlockPredictor`); with ``scheduler="ADDRESS"`` they are sent as dask tasks to a running
``dask.distributed`` scheduler, where each worker loads the model once (cached by the hash of
the model file's bytes) and writes its blocks into the shared output stores. Both give
byte-identical outputs.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from napari_deconoising.config.settings import Config, PredictionConfig, setting
from napari_deconoising.data.channels import check_channel_count, pixel_size_warning
from napari_deconoising.data.images import pixel_source, read_pixels
from napari_deconoising.errors import Cancelled, ConfigError, DeconoisingError, ImageError
from napari_deconoising.io.axes import AxesImage, from_canonical
from napari_deconoising.io.outputs import (
    check_outputs,
    interrupts_deferred,
    remove_path,
    replace_all,
)
from napari_deconoising.io.zarr_io import (
    create_zarr,
    is_complete,
    is_zarr_path,
    mark_complete,
    store_axes,
)
from napari_deconoising.model.bundle import ChannelModels, DecoNoisingModel, load_model

OUTPUT_KINDS = ("denoised", "deconvolved")
INCOMPLETE_SUFFIX = ".incomplete"
"""Added to an output's name while it is being written."""
TIFF_SUFFIXES = (".tif", ".tiff")


@dataclass(frozen=True)
class BlockConfig(Config):
    """How a large image is cut into blocks (the unit of memory, of work and of the output's
    zarr chunks)."""

    block_size: int = setting(1024, low=64, high=65536, help="block side in Y and X (px)")
    block_z: int = setting(32, low=1, high=65536, help="planes per block for a 3D model")
    frames: int = setting(1, low=1, high=1_000_000, help="frames (S, T, 2D Z) per block")


@dataclass(frozen=True)
class Block:
    """One block: ``core`` is the part of the image it produces, ``read`` the part it reads
    (the core with its halo, clipped to the image); both index the image in store order."""

    index: int
    core: tuple[slice, ...]
    read: tuple[slice, ...]

    @property
    def crop(self) -> tuple[slice, ...]:
        """Where the core lies inside the read region."""
        return tuple(
            slice(c.start - r.start, c.stop - r.start)
            for c, r in zip(self.core, self.read, strict=True)
        )

    @property
    def pixels(self) -> int:
        """Number of output pixels of the block."""
        return math.prod(s.stop - s.start for s in self.core)


@dataclass
class PredictionJob:
    """One input and where its two outputs go (``.zarr`` or ``.tif``/``.tiff`` paths).

    ``image`` is an :class:`AxesImage` with lazy or in-memory data; ``path`` (with ``axes``, the
    user's axes) is the file it was read from, which the workers of a dask cluster reopen.
    """

    image: AxesImage
    denoised: Path
    deconvolved: Path
    path: Path | None = None
    axes: str | None = None

    def __post_init__(self) -> None:
        self.denoised, self.deconvolved = Path(self.denoised), Path(self.deconvolved)

    @property
    def outputs(self) -> dict[str, Path]:
        """Output paths by kind."""
        return {"denoised": self.denoised, "deconvolved": self.deconvolved}


@dataclass(frozen=True)
class BlockProgress:
    """Sent while predicting: blocks done of all jobs, and the share of all pixels done."""

    job: int
    n_jobs: int
    blocks_done: int
    blocks_total: int
    progress: float
    elapsed_s: float
    stage: str = "predicting"


@dataclass
class BlockwiseResult:
    """What a run wrote: output paths per job, and figures."""

    outputs: list[dict[str, Path]]
    seconds: float
    pixels: int
    warnings: list[str] = field(default_factory=list)


# ---- geometry -------------------------------------------------------------------------------


def model_spatial_dims(model: DecoNoisingModel | ChannelModels) -> int:
    """2 for a model applied plane by plane, 3 for a volumetric model."""
    dims = getattr(model, "spatial_dims", None)
    if dims is None:
        dims = getattr(model.channels[0], "spatial_dims", 2)
    return int(dims)


def halo_sizes(model: DecoNoisingModel | ChannelModels, config: PredictionConfig) -> dict[str, int]:
    """Context read around a block per spatial axis: the prediction's overlap plus the PSF
    radius (the convolution of the deconvolved image needs real neighbours), rounded up to the
    network's size multiple so that a block's tiles pool on the same grid as the whole image's."""
    radius_y = radius_x = radius_z = 0
    for channel in model.channels:
        if channel.psf is None:
            continue
        shape = np.shape(channel.psf)
        radius_y, radius_x = max(radius_y, shape[-2] // 2), max(radius_x, shape[-1] // 2)
        if len(shape) == 3:
            radius_z = max(radius_z, shape[0] // 2)
    axes = "ZYX" if model_spatial_dims(model) == 3 else "YX"
    multiples = {axis: 1 for axis in axes}
    for channel in model.channels:
        for axis, multiple in zip(axes, _size_multiples(channel.network, len(axes)), strict=True):
            multiples[axis] = max(multiples[axis], multiple)
    halo = {"Y": config.overlap + radius_y, "X": config.overlap + radius_x}
    if "Z" in axes:
        halo["Z"] = int(getattr(config, "overlap_z", config.overlap)) + radius_z
    return {axis: _round_up(size, multiples[axis]) for axis, size in halo.items()}


def _size_multiples(network: Any, n_axes: int) -> tuple[int, ...]:
    """What a network's input sizes must be multiples of, per spatial axis."""
    multiples = getattr(network, "size_multiples", None)
    if multiples is None:
        return (int(getattr(network, "size_multiple", 1)),) * n_axes
    return tuple(int(m) for m in multiples)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def plan_blocks(
    shape: Sequence[int], axes: str, halo: dict[str, int], blocks: BlockConfig
) -> list[Block]:
    """Cut an image of ``shape`` and ``axes`` into blocks (the last axes vary fastest).

    C is never split (a channel model needs all channels); Y and X get ``block_size``, Z
    ``block_z`` when it has a halo (a 3D model) else ``frames``, like S and T.
    """
    ranges = []
    for axis, size in zip(axes, shape, strict=True):
        step = _block_step(axis, int(size), halo, blocks)
        margin = halo.get(axis, 0)
        ranges.append(
            [
                (slice(start, min(start + step, size)), _widened(start, step, size, margin))
                for start in range(0, size, step)
            ]
        )
    return [
        Block(index, tuple(r[0] for r in combo), tuple(r[1] for r in combo))
        for index, combo in enumerate(itertools.product(*ranges))
    ]


def block_chunks(
    shape: Sequence[int], axes: str, halo: dict[str, int], blocks: BlockConfig
) -> tuple[int, ...]:
    """The chunk shape of an output store: one chunk per block core."""
    return tuple(
        min(_block_step(a, int(n), halo, blocks), int(n)) for a, n in zip(axes, shape, strict=True)
    )


def _block_step(axis: str, size: int, halo: dict[str, int], blocks: BlockConfig) -> int:
    if axis == "C":
        return size
    if axis in "YX":
        return blocks.block_size
    if axis == "Z" and "Z" in halo:
        return blocks.block_z
    return blocks.frames


def _widened(start: int, step: int, size: int, margin: int) -> slice:
    return slice(max(start - margin, 0), min(start + step + margin, size))


# ---- output paths ---------------------------------------------------------------------------


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


def check_output_paths(jobs: Sequence[PredictionJob], overwrite: bool = False) -> list[Path]:
    """Refuse, before any work, outputs that cannot or may not be written: an unknown suffix,
    and whatever the output policy refuses (:func:`~napari_deconoising.io.outputs.check_outputs`:
    an output that is, holds or lies inside an input, an output given twice, an existing output
    without ``overwrite``, a place with no writable folder)."""
    outputs = [path for job in jobs for path in job.outputs.values()]
    for path in outputs:
        output_kind(path)
    return check_outputs(outputs, [job.path for job in jobs], overwrite=overwrite)


# ---- one block ------------------------------------------------------------------------------


def read_block(image: AxesImage, region: tuple[slice, ...]) -> np.ndarray:
    """The pixels of ``region`` as a numpy array; a damaged file gives :class:`ImageError`
    naming the file and the region (:func:`~napari_deconoising.data.images.read_pixels`).

    A dask array is computed here, in this thread (also on a dask worker, where it would
    otherwise be sent back to the cluster)."""
    where = ", ".join(f"{a} {s.start}:{s.stop}" for a, s in zip(image.axes, region, strict=True))
    source = f"{pixel_source(image)} at {where}"
    return read_pixels(image.data, region, source=source, scheduler="synchronous")


def predict_block(
    predictor: Any,
    image: AxesImage,
    block: Block,
    on_progress: Callable[[float], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Predict one block (read with its halo) and return the (denoised, deconvolved) core."""
    pixels = read_block(image, block.read)
    part = AxesImage(pixels, image.axes, dict(image.spacing), image.axes_source, image.name)
    show = None if on_progress is None else (lambda event: on_progress(event.progress))
    result = predictor.predict(part, show)
    crop = block.crop
    return result.denoised[crop], result.deconvolved[crop]


def convert_block(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Cast a float32 result to the output type (integers rounded and clipped)."""
    if dtype == np.float32:
        return np.asarray(values, dtype=np.float32)
    info = np.iinfo(dtype)
    return np.clip(np.rint(np.nan_to_num(values)), info.min, info.max).astype(dtype)


def write_block(arrays: Sequence[Any], block: Block, values: Sequence[np.ndarray]) -> None:
    """Store a block's results in the output arrays (zarr arrays, in store order)."""
    for array, value in zip(arrays, values, strict=True):
        array[block.core] = convert_block(value, np.dtype(array.dtype))


# ---- outputs --------------------------------------------------------------------------------


@dataclass
class _JobOutputs:
    """The stores a job writes into: one per output kind, under temporary names."""

    job: PredictionJob
    stores: dict[str, Path]
    arrays: dict[str, Any]

    def finish(self, overwrite: bool, on_plane: Callable[[], None] | None = None) -> None:
        """Mark the stores complete, build every output under its temporary name (TIFFs copied
        out of their stores; ``on_plane`` is called after each plane and may raise to stop), then
        move them all into place at once (:func:`~napari_deconoising.io.outputs.replace_all`)."""
        moves = []
        for kind, target in self.job.outputs.items():
            store = self.stores[kind]
            mark_complete(store)
            if output_kind(target) == "tiff":
                _zarr_to_tiff(self.arrays[kind], store, incomplete_path(target), on_plane)
            moves.append((incomplete_path(target), target))
        for _, target in moves:
            if not overwrite and (target.exists() or target.is_symlink()):
                raise ImageError(f"{target} appeared during the run; it was left as it was")
        replace_all(moves)
        for kind, target in self.job.outputs.items():
            if output_kind(target) == "tiff":
                remove_path(self.stores[kind])

    def abort(self) -> None:
        """Remove everything written so far (never a finished output); a Ctrl-C meanwhile is
        held back until the clean-up is done."""
        with interrupts_deferred():
            for kind, store in self.stores.items():
                remove_path(store)
                remove_path(incomplete_path(self.job.outputs[kind]))


def _scratch_store(target: Path) -> Path:
    """A hidden zarr store beside a TIFF output, to collect its blocks."""
    return target.with_name(f".{target.name}.blocks.zarr{INCOMPLETE_SUFFIX}")


def _store_for(target: Path) -> Path:
    if output_kind(target) == "zarr":
        return incomplete_path(target)
    return _scratch_store(target)


def _open_outputs(
    job: PredictionJob, image: AxesImage, chunks: tuple[int, ...], dtype: np.dtype
) -> _JobOutputs:
    stores, arrays = {}, {}
    outputs = _JobOutputs(job, stores, arrays)
    try:
        for kind, target in job.outputs.items():
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


# ---- running --------------------------------------------------------------------------------


def in_store_order(image: AxesImage) -> AxesImage:
    """The image with its (lazy) data transposed to the order outputs are stored in."""
    axes = store_axes(image.axes)
    data = from_canonical(image.data, image.axes, axes) if axes != image.axes else image.data
    return AxesImage(data, axes, dict(image.spacing), image.axes_source, image.name, image.path)


def output_dtype(dtype: str, image: AxesImage) -> np.dtype:
    """``"float32"`` or ``"input"`` (the input's integer type, float32 for float inputs)."""
    if dtype == "float32":
        return np.dtype(np.float32)
    if dtype == "input":
        kind = image.dtype
        return (
            kind.newbyteorder("=")
            if kind.kind in "iu" and kind.itemsize <= 4
            else (np.dtype(np.float32))
        )
    raise ConfigError(f"dtype must be float32 or input, got {dtype!r}")


class BlockPredictor:
    """Predicts :class:`PredictionJob` s block by block, writing the outputs as it goes.

    :meth:`run` yields :class:`BlockProgress` events and finally a :class:`BlockwiseResult`;
    :meth:`cancel` stops it at the next batch of tiles (the outputs are then removed and
    :class:`Cancelled` is raised). ``scheduler`` is None (here, in this process) or the address
    of a ``dask.distributed`` scheduler (``tcp://host:8786``) or a ``distributed.Client``.
    """

    def __init__(
        self,
        model: DecoNoisingModel | ChannelModels,
        config: PredictionConfig | None = None,
        blocks: BlockConfig | None = None,
        *,
        dtype: str = "float32",
        overwrite: bool = False,
        scheduler: Any = None,
    ):
        self.model = model
        self.config = config or PredictionConfig()
        self.blocks = blocks or BlockConfig()
        self.dtype = dtype
        self.overwrite = overwrite
        self.scheduler = scheduler
        self.halo = halo_sizes(model, self.config)
        self._cancel = threading.Event()
        self._predictor: Any = None

    def cancel(self) -> None:
        """Stop at the next batch of tiles."""
        self._cancel.set()
        if self._predictor is not None:
            self._predictor.cancel()

    def _check_cancel(self) -> None:
        """Raise :class:`Cancelled` once a stop was asked (also while outputs are finalised)."""
        if self._cancel.is_set():
            raise Cancelled("prediction cancelled")

    def predict(
        self,
        jobs: Sequence[PredictionJob],
        on_progress: Callable[[BlockProgress], None] | None = None,
    ) -> BlockwiseResult:
        """Run to the end and return what was written."""
        for item in self.run(jobs):
            if isinstance(item, BlockwiseResult):
                return item
            if on_progress is not None:
                on_progress(item)
        raise RuntimeError("prediction produced no result")  # pragma: no cover

    def run(self, jobs: Sequence[PredictionJob]) -> Iterator[BlockProgress | BlockwiseResult]:
        """Predict every job, yielding progress, then the :class:`BlockwiseResult`."""
        self._cancel.clear()
        check_output_paths(jobs, self.overwrite)
        images = [in_store_order(job.image) for job in jobs]
        warnings = []
        for image in images:
            check_channel_count(len(self.model.channels), image)
            warning = pixel_size_warning(self.model.pixel_size_um, image)
            if warning:
                warnings.append(warning)
        plans = [plan_blocks(im.shape, im.axes, self.halo, self.blocks) for im in images]
        tracker = _Tracker(len(jobs), sum(map(len, plans)), [p.pixels for pl in plans for p in pl])
        if self.scheduler is None:
            yield from self._run_here(jobs, images, plans, tracker)
        else:
            yield from self._run_on_cluster(jobs, images, plans, tracker)
        yield BlockwiseResult(
            [job.outputs for job in jobs],
            tracker.elapsed(),
            sum(math.prod(im.shape) for im in images),
            warnings,
        )

    def _open(self, job: PredictionJob, image: AxesImage) -> _JobOutputs:
        chunks = block_chunks(image.shape, image.axes, self.halo, self.blocks)
        return _open_outputs(job, image, chunks, output_dtype(self.dtype, image))

    def _run_here(self, jobs, images, plans, tracker) -> Iterator[BlockProgress]:
        from napari_deconoising.prediction.predictor import Predictor

        self._predictor = Predictor(self.model, self.config)
        if self._cancel.is_set():
            self._predictor.cancel()
        for number, (job, image, plan) in enumerate(zip(jobs, images, plans, strict=True)):
            outputs = self._open(job, image)
            try:
                for block in plan:
                    values = predict_block(self._predictor, image, block)
                    self._write(outputs, job, block, values)
                    tracker.done(block)
                    yield tracker.event(number)
                    if self._cancel.is_set():
                        raise Cancelled("prediction cancelled")
                yield tracker.event(number, "writing")
                outputs.finish(self.overwrite, self._check_cancel)
            except BaseException:
                outputs.abort()
                raise

    def _write(self, outputs: _JobOutputs, job: PredictionJob, block: Block, values) -> None:
        arrays = [outputs.arrays[kind] for kind in OUTPUT_KINDS]
        try:
            write_block(arrays, block, values)
        except OSError as err:
            raise ImageError(
                f"cannot write the outputs of {job.image.name}: {err.strerror or err}; "
                "the incomplete outputs were removed"
            ) from err

    def _run_on_cluster(self, jobs, images, plans, tracker) -> Iterator[BlockProgress]:
        try:
            from distributed import Client, as_completed
        except ImportError as err:
            raise ConfigError(
                "predicting on a dask cluster needs dask.distributed: "
                "pip install 'napari-deconoising[cluster]'"
            ) from err

        for job in jobs:
            if job.path is None:
                raise ConfigError(
                    f"{job.image.name}: a dask cluster predicts files only; save the image first"
                )
        owned = not isinstance(self.scheduler, Client)
        client = Client(self.scheduler) if owned else self.scheduler
        opened: list[_JobOutputs] = []
        futures: list[Any] = []
        try:
            model_bytes = client.scatter(self.model.to_bytes(), broadcast=True)
            settings = self.config.to_dict()
            threads = _torch_threads()
            for job, image, plan in zip(jobs, images, plans, strict=True):
                outputs = self._open(job, image)
                opened.append(outputs)
                stores = [str(outputs.stores[kind]) for kind in OUTPUT_KINDS]
                source = (str(job.path), job.axes)
                futures += [
                    client.submit(
                        remote_block,
                        model_bytes,
                        settings,
                        source,
                        block,
                        stores,
                        threads,
                        pure=False,
                    )
                    for block in plan
                ]
            pixels = {f.key: b.pixels for f, b in zip(futures, _flat(plans), strict=True)}
            for future in as_completed(futures):
                future.result()
                if self._cancel.is_set():
                    raise Cancelled("prediction cancelled")
                tracker.done_pixels(pixels[future.key])
                yield tracker.event(len(jobs) - 1)
            for outputs in opened:
                outputs.finish(self.overwrite, self._check_cancel)
        except BaseException as err:
            client.cancel(futures)
            for outputs in opened:
                outputs.abort()
            if isinstance(err, OSError):
                raise ImageError(f"cannot write the outputs: {err}") from err
            raise
        finally:
            if owned:
                client.close()


def _flat(plans: Sequence[Sequence[Block]]) -> list[Block]:
    return [block for plan in plans for block in plan]


class _Tracker:
    """Counts blocks and pixels done; makes :class:`BlockProgress` events."""

    def __init__(self, n_jobs: int, n_blocks: int, block_pixels: list[int]):
        self.n_jobs, self.n_blocks = n_jobs, n_blocks
        self.total = max(sum(block_pixels), 1)
        self.blocks = self.pixels = 0
        self.start = time.perf_counter()

    def done(self, block: Block) -> None:
        self.blocks += 1
        self.pixels += block.pixels

    def done_pixels(self, pixels: int) -> None:
        self.blocks += 1
        self.pixels += pixels

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def event(self, job: int, stage: str = "predicting") -> BlockProgress:
        return BlockProgress(
            job,
            self.n_jobs,
            self.blocks,
            self.n_blocks,
            self.pixels / self.total,
            self.elapsed(),
            stage,
        )


# ---- on a dask worker -----------------------------------------------------------------------

_WORKER_CACHE: dict[Any, Any] = {}
_WORKER_LOCK = threading.Lock()


def _cached(key: Any, make: Callable[[], Any]) -> Any:
    with _WORKER_LOCK:
        if key not in _WORKER_CACHE:
            _WORKER_CACHE[key] = make()
        return _WORKER_CACHE[key]


def _predictor_from_bytes(model_bytes: bytes, settings: dict[str, Any]) -> Any:
    """A :class:`~napari_deconoising.prediction.Predictor` for a model file's bytes, made once
    per worker process (keyed by the bytes' SHA-256 and the settings)."""
    from napari_deconoising.prediction.predictor import Predictor

    digest = hashlib.sha256(model_bytes).hexdigest()

    def make() -> Any:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.pt"
            path.write_bytes(model_bytes)
            model = load_model(path)
        return Predictor(model, PredictionConfig.from_dict(settings))

    return _cached(("predictor", digest, repr(sorted(settings.items()))), make)


def _source_image(source: tuple[str, str | None]) -> AxesImage:
    """The input, opened lazily once per worker (again when the file changed)."""
    from napari_deconoising.io.lazy import open_image

    stat = os.stat(source[0])
    key = ("image", source, stat.st_mtime_ns, stat.st_size)
    return _cached(key, lambda: in_store_order(open_image(source[0], source[1])))


def _store_array(store: str) -> Any:
    import zarr

    return zarr.open_array(f"{store}/0", mode="r+")


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def remote_block(
    model_bytes: bytes,
    settings: dict[str, Any],
    source: tuple[str, str | None],
    block: Block,
    stores: Sequence[str],
    threads: int,
) -> int:
    """One block as a dask task: predict it and write it into the (shared) output stores.

    ``threads`` is the client's number of torch threads: a CPU convolution's rounding depends
    on how its sums are split between threads, so the worker uses the same number to give
    byte-identical results. Returns the number of output pixels."""
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    predictor = _predictor_from_bytes(model_bytes, settings)
    image = _source_image(source)
    values = predict_block(predictor, image, block)
    write_block([_store_array(s) for s in stores], block, values)
    return block.pixels
