"""The "live preview" checkbox of the Train widget and the preview layer it keeps up to date.

While training runs, :class:`LivePreview` asks for a preview every :attr:`~LivePreview.interval_s`
seconds, and never sooner than ten times what the last one cost (reading the crop, the worker's
prediction and updating the layer, together), so that previews take at most about a tenth of the
training's time. Each result replaces the data of one layer, ``<raw> preview deconvolved`` (for
a Noise2Void network ``<raw> preview denoised``), placed with the raw layer's scale and a
translate at the crop's corner so that it overlays the raw image exactly, on the plane in view
only.

The layer is made when training starts (adding a napari layer pauses the event loop for some
0.2 s, better at the click than mid-training), hidden, not removed, while the box is unchecked
during training (removing a napari layer runs a full garbage collection, 0.5 s here, and checking
the box again reuses the layer), and removed when training ends (finished, stopped, failed or
cancelled) or the widget closes, so that only the real outputs remain: it shows the last network
of the run, not the best one that was kept; Denoise & Deconvolve makes the real outputs.

All of this runs in the GUI thread.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import CheckBox
from qtpy.QtCore import QTimer

from napari_deconoising.widgets._common import COPIED, notify_warning, unwrap
from napari_deconoising.widgets._preview import (
    Placement,
    PreviewReady,
    PreviewSlot,
    read_request,
    view_point,
)

if TYPE_CHECKING:
    import napari
    from napari.layers import Image

    from napari_deconoising.io import AxesImage

_log = logging.getLogger(__name__)

#: Default time between two previews (seconds).
INTERVAL_S = 5.0
#: A preview is asked for at most once per this many times the last one's cost.
COST_FACTOR = 10.0
DECONVOLVED, DENOISED = "deconvolved", "denoised"


class LivePreview:
    """The "live preview" checkbox and the preview layer of one training run at a time.

    :meth:`begin` when training starts (it returns the :class:`PreviewSlot` for the worker),
    :meth:`show` for every :class:`PreviewReady`, :meth:`end` when training ends and
    :meth:`disconnect` when the widget closes. ``refreshes`` counts the previews shown,
    ``costs_s`` what each cost (seconds), ``last`` is the last one shown.
    """

    def __init__(self, viewer: napari.Viewer, interval_s: float = INTERVAL_S):
        self.viewer = viewer
        self.interval_s = interval_s
        self.checkbox = CheckBox(
            label="live preview",
            value=True,
            tooltip="While training, show what the network makes of the part of the image in "
            "view (the plane shown, up to 256 × 256 pixels around the centre), every few seconds",
        )
        self.slot = PreviewSlot()
        self.layer: Image | None = None
        self.refreshes = 0
        self.costs_s: list[float] = []
        self.last: PreviewReady | None = None
        self._raw: Image | None = None
        self._made_for: Image | None = None  # the raw layer the preview layer was made for
        self._axes = ""
        self._multiple = 1
        self._kind = DECONVOLVED
        self._number = 0
        self._read_s = 0.0
        self._next_allowed = 0.0
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._ask)
        self.checkbox.changed.connect(self._toggled)
        viewer.layers.events.removed.connect(self._layer_removed)

    @property
    def active(self) -> bool:
        """True while a run is previewed (begun, not ended, box checked)."""
        return self._raw is not None and self.checkbox.value

    @property
    def name(self) -> str:
        """The preview layer's name for the run."""
        raw = self._raw or self._made_for
        return f"{raw.name if raw is not None else 'image'} preview {self._kind}"

    # -- the run ----------------------------------------------------------------------------------
    def begin(self, raw: Image, image: AxesImage, multiple: int, n2v: bool) -> PreviewSlot:
        """Preview the training on ``raw`` (read as ``image``) by a network that takes sizes
        that are multiples of ``multiple``; the layer is made (or reused) now, hidden until the
        first preview."""
        self._stop_asking()
        self._raw, self._axes, self._multiple = unwrap(raw), image.axes, multiple
        self._kind = DENOISED if n2v else DECONVOLVED
        self._next_allowed = time.monotonic() + self.interval_s
        if self.checkbox.value:
            self._prepare()
            self._schedule()
        return self.slot

    def set_n2v(self, n2v: bool) -> None:
        """Say whether the network is a Noise2Void one (known once a model file is read)."""
        self._kind = DENOISED if n2v else DECONVOLVED
        if self.layer is not None and self._raw is not None:
            self.layer.name = self.name

    def end(self) -> None:
        """Stop previewing; the layer is removed from the viewer (see the module's notes)."""
        self._stop_asking()
        self._raw = None
        self._remove()

    def disconnect(self) -> None:
        """Stop everything, remove the layer and stop following the viewer (the widget closes)."""
        self._stop_asking()
        self._raw = None
        self.viewer.layers.events.removed.disconnect(self._layer_removed)
        with contextlib.suppress(RuntimeError):  # the viewer may be half closed
            self._remove()

    def show(self, ready: PreviewReady) -> None:
        """Put a result in the preview layer (results of withdrawn requests are dropped)."""
        if not self.active or ready.request.number != self._number:
            return
        if ready.error is not None:
            notify_warning(f"The live preview stopped: {ready.error}")
            self.checkbox.value = False
            return
        start = time.perf_counter()
        crop = ready.denoised if self._kind == DENOISED else ready.deconvolved
        if crop is not None:
            self._put(ready.request.placement.layer_data(crop), ready.request.placement)
        self.refreshes += 1
        self.last = ready
        self._cost(self._read_s + ready.seconds + time.perf_counter() - start)
        self._schedule()

    # -- asking -----------------------------------------------------------------------------------
    def _schedule(self) -> None:
        delay = max(self._next_allowed - time.monotonic(), 0.0)
        self._timer.start(round(delay * 1000))

    def _cost(self, seconds: float) -> None:
        """Record what a preview cost; the next comes after the interval, or ten times that."""
        self.costs_s.append(seconds)
        wait = max(self.interval_s, COST_FACTOR * seconds)
        self._next_allowed = max(self._next_allowed, time.monotonic() + wait)

    def _read(self) -> Any:
        """The request for the crop in view, or None (logged) when it cannot be read."""
        raw = self._raw
        if raw is None or not any(unwrap(layer) is raw for layer in self.viewer.layers):
            return None  # the raw layer was removed: nothing to overlay
        self._number += 1
        try:
            point = view_point(self.viewer, raw)
            return read_request(raw, self._axes, point, self._multiple, self._number)
        except Exception as err:  # e.g. the layer's data changed shape
            _log.warning("live preview: could not read the crop in view: %s", err)
            return None

    def _ask(self) -> None:
        """Read the crop in view and leave it for the worker."""
        if not self.active:
            return
        start = time.perf_counter()
        request = self._read()
        self._read_s = time.perf_counter() - start
        if request is None:
            self._cost(self._read_s)
            self._schedule()
            return
        self.slot.put(request)

    def _stop_asking(self) -> None:
        self._timer.stop()
        self.slot.put(None)
        self._number += 1  # results still on their way are dropped

    # -- the layer --------------------------------------------------------------------------------
    def _prepare(self) -> None:
        """Make (or reuse) the layer, placed at the crop in view, hidden until a preview comes."""
        request = self._read()
        if request is not None:
            placement = request.placement
            self._put(np.zeros(placement.shape, np.float32), placement, visible=False)

    def _put(self, data: np.ndarray, placement: Placement, visible: bool = True) -> None:
        raw = self._raw
        if raw is None:
            return
        translate = _translate(raw, placement.corner)
        layer = self.layer
        if self._present(layer) and layer.ndim == data.ndim:
            if self._made_for is not raw:
                self._copy_looks(layer, raw)
            if layer.name != self.name:
                layer.name = self.name
            if not np.allclose(layer.translate, translate):
                layer.translate = translate
            layer.data = data
            if layer.visible != visible:
                layer.visible = visible
            return
        settings: dict[str, Any] = {key: getattr(raw, key) for key in COPIED if hasattr(raw, key)}
        settings.update(translate=translate, rotate=raw.rotate, shear=raw.shear, affine=raw.affine)
        selection = list(self.viewer.layers.selection)
        active = self.viewer.layers.selection.active
        self.layer = unwrap(
            self.viewer.add_image(
                data,
                name=self.name,
                colormap=raw.colormap,
                contrast_limits=list(raw.contrast_limits),
                visible=visible,
                **settings,
            )
        )
        self._made_for = raw
        # adding a layer selects it: give the user's selection back
        self.viewer.layers.selection.clear()
        self.viewer.layers.selection.update(selection)
        if active is not None:
            self.viewer.layers.selection.active = active

    def _present(self, layer: Image | None) -> bool:
        return layer is not None and any(unwrap(x) is layer for x in self.viewer.layers)

    def _copy_looks(self, layer: Image, raw: Image) -> None:
        """A layer made for another raw layer takes this one's scale, colours and contrast."""
        for key in (*COPIED, "rotate", "shear"):
            if key != "translate" and hasattr(raw, key):
                setattr(layer, key, getattr(raw, key))
        layer.colormap = raw.colormap
        layer.contrast_limits = list(raw.contrast_limits)
        self._made_for = raw

    def _hide(self) -> None:
        layer = self.layer
        if self._present(layer) and layer.visible:
            layer.visible = False

    def _remove(self) -> None:
        """Take the preview layer out of the viewer (forgotten first: no "removed" reaction)."""
        layer, self.layer, self._made_for = self.layer, None, None
        if layer is None:
            return
        for item in list(self.viewer.layers):
            if unwrap(item) is layer:
                self.viewer.layers.remove(item)

    def _toggled(self, checked: bool) -> None:
        if self._raw is None:
            return
        if checked:
            self._prepare()
            self._schedule()
        else:
            self._stop_asking()
            self._hide()

    def _layer_removed(self, event: Any) -> None:
        """The user removed the preview layer: no preview until the box is checked again."""
        if self.layer is not None and unwrap(getattr(event, "value", None)) is self.layer:
            self.layer = None
            if self._raw is not None:
                self.checkbox.value = False


def _translate(raw: Image, corner: tuple[int, ...]) -> np.ndarray:
    """The translate that puts data index 0 of the preview at data index ``corner`` of ``raw``
    (through the raw layer's scale, rotation and shear)."""
    corner_array = np.asarray(corner, dtype=float)
    try:
        linear = raw._transforms["data2physical"].linear_matrix
    except (AttributeError, KeyError, TypeError):  # another napari: scale only
        linear = np.diag(np.asarray(raw.scale, dtype=float))
    return np.asarray(raw.translate, dtype=float) + linear @ corner_array
