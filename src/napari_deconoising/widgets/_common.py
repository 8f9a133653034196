"""Helpers shared by the widgets: notifications, layer checks, output layers, layer pickers and
suggested file names."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import ComboBox

from napari_deconoising.data.images import read_pixels
from napari_deconoising.errors import ImageError

if TYPE_CHECKING:
    import napari
    from napari.layers import Image

NO_LAYER = "(none)"


def notify_error(message: str) -> None:
    """Show ``message`` as a napari error notification."""
    from napari.utils.notifications import show_error

    show_error(message)


def notify_warning(message: str) -> None:
    """Show ``message`` as a napari warning notification."""
    from napari.utils.notifications import show_warning

    show_warning(message)


def unwrap(obj: Any) -> Any:
    """The napari object behind the ``PublicOnlyProxy`` napari gives plugin widgets."""
    return getattr(obj, "__wrapped__", obj)


def same_layer(a: Any, b: Any) -> bool:
    """Identity of layers, seeing through napari's proxies (each access makes a new proxy)."""
    return a is not None and b is not None and unwrap(a) is unwrap(b)


def file_text(file_edit: Any) -> str:
    """What the user typed in a magicgui FileEdit ("" when empty, where ``.value`` gives ".")."""
    return str(file_edit.line_edit.value).strip()


def models_folder() -> Path:
    """Where the widgets propose to save models: ``~/deconoising-models``."""
    return Path.home() / "deconoising-models"


def safe_stem(name: str) -> str:
    """``name`` made file-safe (other characters become "-"), or "model" if nothing is left."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "model"


def free_path(path: Path, taken: Callable[[Path], bool] = Path.exists) -> Path:
    """``path``, or the first of ``<stem>-2<suffix>``, ``<stem>-3<suffix>``... not ``taken``."""
    candidate, number = path, 1
    while taken(candidate):
        number += 1
        candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
    return candidate


class SuggestedPath:
    """Keeps a magicgui FileEdit on a suggested file name until the user types their own."""

    def __init__(self, file_edit: Any, suggest: Callable[[], Path]):
        self.file_edit = file_edit
        self._suggest = suggest
        self._suggested = ""

    def update(self, *_: Any) -> None:
        """Suggest a name unless the box holds one the user typed."""
        if file_text(self.file_edit) in ("", self._suggested):
            self._suggest_now()

    def renew(self) -> None:
        """A fresh suggestion (e.g. a new time stamp) if the box still holds the last one."""
        if self._suggested and file_text(self.file_edit) == self._suggested:
            self._suggest_now()

    def _suggest_now(self) -> None:
        self._suggested = str(self._suggest())
        self.file_edit.value = self._suggested


def image_layers(viewer: napari.Viewer) -> list[Image]:
    """The viewer's image layers, bottom first."""
    from napari.layers import Image

    return [layer for layer in viewer.layers if isinstance(layer, Image)]


def check_layer_given(layer: Image | None, purpose: str = "the image") -> None:
    """Raise :class:`ImageError` unless ``layer`` is a single-resolution image layer."""
    if layer is None:
        raise ImageError(
            f"choose an image layer for {purpose} (open one, or File > Open Sample > "
            "napari-deconoising > Synthetic cell walls)"
        )
    if getattr(layer, "multiscale", False):
        raise ImageError(f"layer '{layer.name}' is multiscale; give a single-resolution image")


def check_image_layer(layer: Image | None, purpose: str = "the image") -> None:
    """Raise :class:`ImageError` unless ``layer`` holds one 2D image or a stack of 2D frames
    (for images read without axes: a measured PSF)."""
    check_layer_given(layer, purpose)
    if getattr(layer, "rgb", False):
        raise ImageError(
            f"layer '{layer.name}' is an RGB image; give one channel, a 2D image (Y, X) or a "
            "stack of 2D frames (N, Y, X)"
        )
    if layer.ndim not in (2, 3):
        raise ImageError(
            f"layer '{layer.name}' is {layer.ndim}D with shape {tuple(layer.data.shape)}; give a "
            "2D image (Y, X) or a stack of 2D frames (N, Y, X)"
        )


def layer_array(layer: Image) -> np.ndarray:
    """The layer's pixels as a numpy array (reads lazy arrays: GUI thread, small layers only)."""
    return read_pixels(layer.data, source=layer.name)


def find_layer(viewer: napari.Viewer, name: str) -> Any:
    """The layer called ``name``, or None."""
    try:
        return viewer.layers[name]
    except KeyError:
        return None


#: What output layers copy from the raw layer, besides contrast and colormap (those the
#: installed napari has: ``units`` and ``axis_labels`` came with napari 0.6).
COPIED = ("scale", "translate", "units", "axis_labels")


def show_output(viewer: napari.Viewer, raw: Image, name: str, data: np.ndarray) -> Image:
    """Put ``data`` in the image layer called ``name``, creating it if needed.

    ``data`` has the raw layer's shape; the layer gets the raw layer's scale, translate, units,
    axis labels, contrast limits and colormap, so that raw and output compare directly; an
    existing layer of that name is updated in place.
    """
    from napari.layers import Image

    settings: dict[str, Any] = {key: getattr(raw, key) for key in COPIED if hasattr(raw, key)}
    settings["contrast_limits"] = list(raw.contrast_limits)
    existing = find_layer(viewer, name)
    if isinstance(existing, Image) and existing.ndim == np.ndim(data):
        existing.data = data
        for key, value in settings.items():
            if not _same(getattr(existing, key), value):  # each change redraws the canvas
                setattr(existing, key, value)
        return existing
    return viewer.add_image(data, name=name, colormap=raw.colormap, **settings)


def _same(current: Any, wanted: Any) -> bool:
    """Whether a layer setting already holds ``wanted`` (sequences compared item by item)."""
    try:
        return bool(
            np.array_equal(np.asarray(current, dtype=object), np.asarray(wanted, dtype=object))
        )
    except (TypeError, ValueError):
        return False


class LayerChoices:
    """Makes magicgui combo boxes listing the viewer's image layers and keeps them current.

    The boxes are refreshed when layers are added, removed, moved or renamed, until
    :meth:`disconnect` is called (when the owning widget closes).
    """

    def __init__(self, viewer: napari.Viewer):
        self.viewer = viewer
        self._combos: list[ComboBox] = []
        self._events = [
            viewer.layers.events.inserted,
            viewer.layers.events.removed,
            viewer.layers.events.moved,
            viewer.layers.events.renamed,
        ]
        for emitter in self._events:
            emitter.connect(self.refresh)

    def combo(
        self,
        label: str,
        optional: bool = False,
        tooltip: str | None = None,
        prefer: Callable[[Image], bool] | None = None,
    ) -> ComboBox:
        """A box of image layers; ``optional`` adds a "(none)" entry (value None).

        Layers for which ``prefer`` is true are listed first (bottom first), so a fresh box starts
        on one of them; an optional box whose value is None takes the topmost preferred layer,
        and any box switches to a preferred layer as soon as it is added to the viewer.
        """

        def choices(_widget: Any = None) -> list[tuple[str, Any]]:
            layers = image_layers(self.viewer)
            if prefer is not None:
                layers = [x for x in layers if prefer(x)] + [x for x in layers if not prefer(x)]
            items: list[tuple[str, Any]] = [(NO_LAYER, None)] if optional else []
            return items + [(layer.name, layer) for layer in layers]

        combo = ComboBox(label=label, choices=choices, nullable=optional, tooltip=tooltip)
        combo._deconoising_prefer = prefer  # type: ignore[attr-defined]
        self._combos.append(combo)
        self._apply_preference(combo)
        return combo

    def refresh(self, event: Any = None) -> None:
        """Re-read the layers into every box (keeping each current choice when it still exists)."""
        added = getattr(event, "value", None) if getattr(event, "type", "") == "inserted" else None
        for combo in self._combos:
            combo.reset_choices()
            self._apply_preference(combo, added)

    def _apply_preference(self, combo: ComboBox, added: Any = None) -> None:
        prefer = combo._deconoising_prefer  # type: ignore[attr-defined]
        if prefer is None:
            return
        if added is not None and any(same_layer(added, c) for c in combo.choices) and prefer(added):
            combo.value = added
        elif combo.value is None:
            for layer in reversed(image_layers(self.viewer)):
                if prefer(layer):
                    combo.value = layer
                    return

    def disconnect(self) -> None:
        """Stop following the viewer's layers."""
        for emitter in self._events:
            emitter.disconnect(self.refresh)
        self._combos.clear()


@contextmanager
def rebuilt_choices(combo: ComboBox) -> Iterator[None]:
    """Re-read ``combo``'s choices, in order, with its ``changed`` signal blocked: set its value
    inside the block. (magicgui keeps old items in place, so they are cleared first.)"""
    with combo.changed.blocked():
        combo.native.clear()
        combo.reset_choices()
        yield


def looks_like_psf_name(layer: Image) -> bool:
    """True for layers whose name mentions a PSF (e.g. "PSF", "true PSF", "psf_488")."""
    return "psf" in layer.name.lower()


OUTPUT_SUFFIXES = (" denoised", " deconvolved")


def looks_like_raw_image(layer: Image) -> bool:
    """True for layers that are neither PSFs nor outputs of this plugin nor ground truth."""
    name = layer.name.lower()
    return not (
        looks_like_psf_name(layer)
        or name.endswith(OUTPUT_SUFFIXES)
        or "truth" in name
        or layer.ndim < 2
    )
