"""How an image layer's axes and pixel size are read, and the "axes" box that corrects them.

Everything here runs in the GUI thread: the layer's ``ndim``, ``rgb``, ``axis_labels``,
``scale`` and ``units`` are read into an :class:`~napari_deconoising.io.AxesImage` whose
``data`` is the layer's array, a plain value the workers may use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from magicgui.widgets import ComboBox, Label, LineEdit

from napari_deconoising.errors import DeconoisingError, ImageError
from napari_deconoising.io import (
    AXES,
    AxesImage,
    axes_from_layer,
    default_axes,
    default_axes_message,
    spacing_from_scale,
    validate_axes,
)
from napari_deconoising.widgets._common import check_layer_given, unwrap
from napari_deconoising.widgets._outputs import layer_source

if TYPE_CHECKING:
    from napari.layers import Image

#: The name of the box, as messages quote it.
AXES_BOX = "axes"
#: The layer events after which its axes are read again.
LAYER_EVENTS = ("data", "scale", "units", "axis_labels")
_SOURCES = {"layer": "from the layer", "user": f"as typed in '{AXES_BOX}'", "file": "from the file"}
_MARK = "\x00"


def layer_image(layer: Image | None, typed: str = "", purpose: str = "the image") -> AxesImage:
    """The layer as an :class:`AxesImage` (GUI thread): its array, axes and pixel sizes.

    The axes are ``typed`` when given (``"user"``), else the layer's axis labels when they name
    axes (``"layer"``), else the default guess for 2D and 3D layers (``"default"``); a layer
    of 4 or more dimensions without labels needs ``typed``. RGB layers are refused. Pixel
    sizes come from the layer's ``scale`` and ``units``; the image's ``path`` is the file napari
    opened the layer from (never written over). Raises :class:`ImageError`.
    """
    check_layer_given(layer, purpose)
    shape = tuple(int(n) for n in layer.data.shape)
    typed = (typed or "").strip()
    if typed:
        if layer.rgb:
            axes_from_layer(layer.ndim, True, None, shape)  # raises the engine's advice
        axes, source = validate_axes(typed, shape), "user"
    else:
        axes, source = axes_from_layer(
            layer.ndim, layer.rgb, getattr(layer, "axis_labels", None), shape
        )
        if source == "default" and len(shape) > 3:
            raise ImageError(
                f"layer '{layer.name}' is {len(shape)}D with shape {shape}; type its axes in "
                f"'{AXES_BOX}' (letters from {AXES}, e.g. {default_axes(shape)})"
            )
    spacing = spacing_from_scale(axes, tuple(layer.scale), getattr(layer, "units", None))
    return AxesImage(layer.data, axes, spacing, source, layer.name, layer_source(layer))


def axes_text(image: AxesImage) -> str:
    """How ``image`` is read, e.g. ``"3 channels × 512 × 512 (CYX) — from the layer"``, with
    its pixel size and z-step when known."""
    if image.axes_source == "default" and image.axes != "YX":  # letters beyond Y, X guessed
        text = default_axes_message(image.shape, image.axes, option=_MARK)
        text = text.replace(f"say {_MARK} ", "say ")
        text = text.replace(" if that is wrong", f" in '{AXES_BOX}' if that is wrong")
    else:
        source = _SOURCES.get(image.axes_source)
        text = image.describe() + (f" — {source}" if source else "")
    sizes = [
        f"{what} {image.spacing[axis]:.4g} µm"
        for what, axis in (("pixel", "X" if "X" in image.spacing else "Y"), ("z-step", "Z"))
        if axis in image.spacing
    ]
    return "; ".join([text, *sizes])


class AxesField:
    """The "axes" box (empty: automatic) and a line saying how the chosen layer is read.

    The line follows the layer ``combo`` chooses, its data, scale, units and axis labels, and
    the box; ``on_change`` is called after every new reading. :meth:`read` gives the image
    for a run (or raises). Call :meth:`disconnect` when the widget closes.
    """

    def __init__(
        self,
        combo: ComboBox,
        purpose: str,
        on_change: Callable[[], None] | None = None,
    ):
        self.combo, self.purpose, self.on_change = combo, purpose, on_change
        self.box = LineEdit(
            label=AXES_BOX,
            value="",
            tooltip=(
                f"Letters from {AXES}, one per dimension (S frames, T time, C channels, Z, Y, X),"
                " e.g. CYX; empty: read from the layer"
            ),
        )
        self.info = Label(value="")
        self.info.native.setWordWrap(True)
        self.image: AxesImage | None = None
        self._layer: Any = None
        combo.changed.connect(self.refresh)
        self.box.changed.connect(self.refresh)
        self.refresh()

    @property
    def n_channels(self) -> int:
        """Channels of the layer as last read (1 when it could not be read)."""
        return 1 if self.image is None else self.image.n_channels

    def read(self) -> AxesImage:
        """The chosen layer as an :class:`AxesImage`; :class:`ImageError` if it cannot be."""
        return layer_image(self.combo.value, self.box.value, self.purpose)

    def refresh(self, *_: Any) -> None:
        """Read the chosen layer again and say how."""
        self._follow(self.combo.value)
        try:
            self.image = self.read()
            self.info.value = axes_text(self.image)
        except DeconoisingError as err:
            self.image = None
            self.info.value = str(err)
        if self.on_change is not None:
            self.on_change()

    def disconnect(self) -> None:
        """Stop following the layer."""
        self._follow(None)

    def _follow(self, layer: Any) -> None:
        layer = None if layer is None else unwrap(layer)
        if layer is self._layer:
            return
        for emitter in _emitters(self._layer):
            emitter.disconnect(self.refresh)
        for emitter in _emitters(layer):
            emitter.connect(self.refresh)
        self._layer = layer


def _emitters(layer: Any) -> list[Any]:
    """The events of ``layer`` that change how it is read (those this napari has)."""
    if layer is None:
        return []
    found = (getattr(layer.events, name, None) for name in LAYER_EVENTS)
    return [emitter for emitter in found if emitter is not None]
