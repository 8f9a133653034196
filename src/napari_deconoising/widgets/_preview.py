"""The live preview of the Train widget: what the network makes of the part of the image in view.

The GUI thread reads a crop of the raw layer (the plane in view, at most
:data:`PREVIEW_SIDE` pixels square around the camera centre, with some real context around it;
for a layer with Z, the :data:`Z_CONTEXT` planes above and below too, which a 3D network needs)
into a :class:`PreviewRequest` and puts it in a :class:`PreviewSlot`. Between two training
events the worker takes the latest request, runs the current networks on it
(:func:`run_preview`) and yields a :class:`PreviewReady`, which the GUI thread shows in the
preview layers (:class:`~._preview_layers.LivePreview`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from napari_deconoising.config.prediction import PredictionConfig
from napari_deconoising.data.images import read_pixels
from napari_deconoising.errors import DeconoisingError
from napari_deconoising.io import AxesImage
from napari_deconoising.io.axes import reorder
from napari_deconoising.prediction.predictor import predict

_log = logging.getLogger(__name__)

#: Largest side of the previewed crop (pixels); rounded down to what the network accepts.
PREVIEW_SIDE = 256
#: Pixels of real image read on each side of the crop, so that its borders have context.
CONTEXT = 16
#: Planes read above and below the plane in view of a layer with Z (for 3D networks).
Z_CONTEXT = 8
#: Richardson-Lucy iterations of a two-stage model's preview at most (the preview pauses the
#: training; the outputs get the full, automatically stopped deconvolution).
PREVIEW_RL_ITERATIONS = 10


@dataclass(frozen=True)
class Placement:
    """Where a preview goes: the raw layer's data index of the crop's corner on every axis
    (the plane's index on the axes that are not Y or X) and the preview layer's shape
    (1 on those axes)."""

    corner: tuple[int, ...]
    shape: tuple[int, ...]
    x_before_y: bool = False

    def layer_data(self, crop: np.ndarray) -> np.ndarray:
        """A 2D (Y, X) crop in the raw layer's axis order, with length-1 axes elsewhere."""
        return (crop.T if self.x_before_y else crop).reshape(self.shape)


@dataclass(frozen=True)
class PreviewRequest:
    """A crop for the worker: ``window`` (Y, X, float32) is the crop with its context, and
    ``inner`` = (y, x, height, width) the crop inside it; ``channel`` picks the network. For a
    layer with Z, ``window`` is (Z, Y, X), planes around the one in view, which is ``plane``."""

    number: int
    window: np.ndarray
    inner: tuple[int, int, int, int]
    channel: int
    placement: Placement
    plane: int | None = None


@dataclass(frozen=True)
class PreviewReady:
    """What the worker made of a :class:`PreviewRequest` (the crop only, Y × X), after training
    ``step`` steps, in ``seconds``; ``error`` says why there is nothing, if so."""

    request: PreviewRequest
    deconvolved: np.ndarray | None
    denoised: np.ndarray | None
    step: int
    seconds: float
    error: str | None = None


class PreviewSlot:
    """The latest preview request: the GUI thread puts, the worker takes (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._request: PreviewRequest | None = None

    def put(self, request: PreviewRequest | None) -> None:
        """Replace the waiting request (None: withdraw it)."""
        with self._lock:
            self._request = request

    def take(self) -> PreviewRequest | None:
        """The waiting request, if any, which is then no longer waiting."""
        with self._lock:
            request, self._request = self._request, None
        return request

    @property
    def waiting(self) -> bool:
        """True while a request waits for the worker."""
        with self._lock:
            return self._request is not None


def run_preview(trainer: Any, request: PreviewRequest, step: int) -> PreviewReady:
    """Worker: the current networks applied to the request's crop.

    Call only from the thread that iterates ``trainer.run()``, between two events. Never
    raises: a failure comes back as :attr:`PreviewReady.error` (the training goes on).
    """
    start = time.perf_counter()
    try:
        model = trainer.current_model(request.channel)
        deconvolved, denoised = _predict_plane(model, request, trainer.config.device)
        y, x, height, width = request.inner
        cut = (slice(y, y + height), slice(x, x + width))
        deconvolved, denoised = deconvolved[cut], denoised[cut]
        error = None
    except Exception as err:  # a preview must never end the training
        if not isinstance(err, DeconoisingError):
            _log.warning("live preview failed", exc_info=err)
        deconvolved = denoised = None
        error = f"{type(err).__name__}: {err}"
    return PreviewReady(request, deconvolved, denoised, step, time.perf_counter() - start, error)


def _predict_plane(model: Any, request: PreviewRequest, device: str) -> tuple[np.ndarray, ...]:
    """(deconvolved, denoised) of the plane in view: a 3D network predicts the planes around
    it, a 2D one the plane alone."""
    window = request.window
    volume = request.plane is not None and getattr(model, "spatial_dims", 2) == 3
    if request.plane is not None and not volume:
        window = window[request.plane]
    config = PredictionConfig(
        tile=max(max(window.shape[-2:]), 16),
        overlap=0,
        device=device,
        rl_iterations=PREVIEW_RL_ITERATIONS,
    )
    if not volume:
        result = predict(model, window, config)
        return result.deconvolved, result.denoised
    result = predict(model, AxesImage(window, "ZYX"), config)
    return result.deconvolved[request.plane], result.denoised[request.plane]


# -- reading the crop (GUI thread) ------------------------------------------------------------
def view_point(viewer: Any, layer: Any) -> np.ndarray:
    """The layer's data coordinates of what is in view: the viewer's current plane on the
    axes not displayed, the camera centre on the displayed ones."""
    point = list(viewer.dims.point)
    displayed = list(viewer.dims.displayed)
    scene = getattr(viewer, "scene", None)  # napari 0.9 moved the camera there
    camera = scene.camera if scene is not None else viewer.camera
    centre = list(camera.center)[-len(displayed) :]
    for axis, value in zip(displayed, centre, strict=True):
        point[axis] = value
    return np.asarray(layer.world_to_data(point), dtype=float)


def crop_side(size: int, multiple: int) -> int:
    """The crop side along an axis of ``size`` pixels: at most :data:`PREVIEW_SIDE`, a multiple
    of ``multiple`` (what the network accepts) when the image is that large."""
    side = min(PREVIEW_SIDE, size) // multiple * multiple
    return side if side > 0 else size


def read_request(
    layer: Any, axes: str, point: np.ndarray, multiple: int, number: int
) -> PreviewRequest:
    """The request for the crop of ``layer`` (axes ``axes``) around ``point`` (data coords)."""
    shape = tuple(int(n) for n in layer.data.shape)
    if len(shape) != len(axes):
        raise ValueError(f"the layer is now {len(shape)}D, its axes were '{axes}'")
    y_axis, x_axis = axes.index("Y"), axes.index("X")
    index: list[Any] = []
    corner: list[int] = []
    inner: dict[int, tuple[int, int]] = {}
    plane = None
    for axis, size in enumerate(shape):
        centre = float(point[axis]) if math.isfinite(point[axis]) else size / 2
        if axis in (y_axis, x_axis):
            side = crop_side(size, multiple)
            start = min(max(round(centre - side / 2), 0), size - side)
            low, high = max(start - CONTEXT, 0), min(start + side + CONTEXT, size)
            index.append(slice(low, high))
            corner.append(start)
            inner[axis] = (start - low, side)
            continue
        at = min(max(round(centre), 0), size - 1)
        corner.append(at)
        if axes[axis] == "Z":
            low = max(at - Z_CONTEXT, 0)
            index.append(slice(low, min(at + Z_CONTEXT + 1, size)))
            plane = at - low
        else:
            index.append(at)
    window = read_pixels(layer.data, tuple(index), source=layer.name, dtype=np.float32)
    kept = "".join(axis for axis, item in zip(axes, index, strict=True) if isinstance(item, slice))
    window = reorder(window, kept, "".join(a for a in "ZYX" if a in kept))
    (y, height), (x, width) = inner[y_axis], inner[x_axis]
    sizes = [1] * len(shape)
    sizes[y_axis], sizes[x_axis] = height, width
    placement = Placement(tuple(corner), tuple(sizes), x_axis < y_axis)
    channel = corner[axes.index("C")] if "C" in axes else 0
    return PreviewRequest(
        number, np.ascontiguousarray(window), (y, x, height, width), channel, placement, plane
    )
