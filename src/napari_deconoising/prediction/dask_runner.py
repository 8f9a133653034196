"""Block-wise prediction on a ``dask.distributed`` cluster.

The blocks of all inputs are independent tasks (:func:`remote_block`) sent to a running
scheduler; each worker loads the model once (cached by the hash of the model file's bytes),
opens each input once, and writes its blocks into the shared output stores. The outputs are
byte-identical to those of a run here (:class:`~napari_deconoising.prediction.BlockPredictor`).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from napari_deconoising.config.prediction import PredictionConfig
from napari_deconoising.errors import ConfigError, ImageError
from napari_deconoising.io.axes import AxesImage
from napari_deconoising.job_control import CancelToken
from napari_deconoising.model.bundle import AnyModel, load_model
from napari_deconoising.prediction.blocks import Block
from napari_deconoising.prediction.jobs import (
    BlockProgress,
    PlannedJob,
    ProgressTracker,
    in_store_order,
    predict_block,
)
from napari_deconoising.prediction.stores import OUTPUT_KINDS, JobOutputs, write_block


def run_on_cluster(
    scheduler: Any,
    model: AnyModel,
    config: PredictionConfig,
    planned: Sequence[PlannedJob],
    tracker: ProgressTracker,
    finish: Callable[[JobOutputs], None],
    cancelled: CancelToken,
) -> Iterator[BlockProgress]:
    """Predict the blocks of ``planned`` jobs as dask tasks, yielding progress as they finish.

    ``scheduler`` is the address of a ``dask.distributed`` scheduler (``tcp://host:8786``) or a
    ``distributed.Client``. Every job's outputs are opened first and, once all blocks are done,
    handed to ``finish``; a failure or a cancel of ``cancelled`` removes them all."""
    client_type, as_completed = _distributed()
    for item in planned:
        if item.job.path is None:
            raise ConfigError(
                f"{item.job.image.name}: a dask cluster predicts files only; save the image first"
            )
    owned = not isinstance(scheduler, client_type)
    client = client_type(scheduler) if owned else scheduler
    opened: list[JobOutputs] = []
    futures: list[Any] = []
    try:
        futures, pixels = _submit(client, model, config, planned, opened)
        for future in as_completed(futures):
            future.result()
            cancelled.check()
            tracker.done(pixels[future.key])
            yield tracker.event(len(planned) - 1)
        for outputs in opened:
            finish(outputs)
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


def _distributed() -> tuple[Any, Any]:
    """``distributed.Client`` and ``distributed.as_completed``; a clear error without them."""
    try:
        from distributed import Client, as_completed
    except ImportError as err:
        raise ConfigError(
            "predicting on a dask cluster needs dask.distributed: "
            "pip install 'napari-deconoising[cluster]'"
        ) from err
    return Client, as_completed


def _submit(
    client: Any,
    model: AnyModel,
    config: PredictionConfig,
    planned: Sequence[PlannedJob],
    opened: list[JobOutputs],
) -> tuple[list[Any], dict[Any, int]]:
    """Open every job's outputs (appended to ``opened``) and submit one task per block; the
    futures, and the output pixels of each by its key."""
    model_bytes = client.scatter(model.to_bytes(), broadcast=True)
    settings, threads = config.to_dict(), _torch_threads()
    futures, pixels = [], {}
    for item in planned:
        outputs = item.open_outputs()
        opened.append(outputs)
        stores = [str(outputs.stores[kind]) for kind in OUTPUT_KINDS]
        source = (str(item.job.path), item.job.axes)
        for block in item.blocks:
            future = client.submit(
                remote_block, model_bytes, settings, source, block, stores, threads, pure=False
            )
            futures.append(future)
            pixels[future.key] = block.pixels
    return futures, pixels


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
