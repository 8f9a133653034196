"""Raw, denoised and deconvolved side by side (napari's grid mode, restored on the way out), and
the plane of a z-stack the viewer shows (XY, XZ or YZ: the orthogonal views)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from napari_deconoising.widgets._common import same_layer, unwrap

if TYPE_CHECKING:
    import napari
    from napari.layers import Layer


class SideBySide:
    """Shows only the given layers, one per grid cell in a row, with one shared camera.

    In grid mode napari draws every cell with the same camera, so panning and zooming one
    panel moves all of them: the cameras are linked. :meth:`leave` restores the grid
    settings and the layers' visibility.
    """

    def __init__(self, viewer: napari.Viewer):
        self.viewer = viewer
        self._saved: dict[str, Any] | None = None

    @property
    def active(self) -> bool:
        """True while the viewer is in the grid this object set up."""
        return self._saved is not None and _grid(self.viewer).enabled

    def enter(self, layers: list[Layer]) -> None:
        """Grid mode with ``layers`` left to right (in the order given) and all others hidden."""
        viewer, grid = self.viewer, _grid(self.viewer)
        if self._saved is None:
            self._saved = {
                "visible": {id(unwrap(x)): (x, x.visible) for x in viewer.layers},
                "shape": grid.shape,
                "stride": grid.stride,
            }
        for layer in viewer.layers:
            layer.visible = any(same_layer(layer, wanted) for wanted in layers)
        # napari fills the grid from the bottom of the layer list up (stride 1) or from the
        # top down (stride -1): pick the direction that gives the order asked for.
        indices = [viewer.layers.index(layer) for layer in layers]
        if indices != sorted(indices) and indices != sorted(indices, reverse=True):
            for layer in layers:  # make them consecutive, in order, at the top of the list
                viewer.layers.move(viewer.layers.index(layer), len(viewer.layers))
            indices = [viewer.layers.index(layer) for layer in layers]
        grid.stride = 1 if indices == sorted(indices) else -1
        grid.shape = (1, len(layers))
        grid.enabled = True
        viewer.reset_view()

    def leave(self) -> None:
        """Back to one view, with the visibility and grid settings from before :meth:`enter`."""
        grid = _grid(self.viewer)
        grid.enabled = False
        if self._saved is not None:
            grid.shape = self._saved["shape"]
            grid.stride = self._saved["stride"]
            present = {id(unwrap(layer)) for layer in self.viewer.layers}
            for key, (layer, visible) in self._saved["visible"].items():
                if key in present:
                    layer.visible = visible
            self._saved = None
        self.viewer.reset_view()


def run_layers(viewer: napari.Viewer, raw: Layer | None) -> list[Layer]:
    """``raw`` and its outputs ``"<raw> denoised"`` and ``"<raw> deconvolved"``, those still in
    the viewer, in that order; none when ``raw`` is not there."""
    if raw is None or not any(same_layer(raw, layer) for layer in viewer.layers):
        return []
    names = [raw.name, f"{raw.name} denoised", f"{raw.name} deconvolved"]
    return [viewer.layers[name] for name in names if name in viewer.layers]


#: The orthogonal views: the spatial axes each shows on screen, (vertical, horizontal); the
#: third axis is the slider. Z is vertical in both side views.
PLANES: dict[str, tuple[str, str]] = {"XY": ("Y", "X"), "XZ": ("Z", "X"), "YZ": ("Z", "Y")}
SPATIAL = "ZYX"


def plane_order(order: tuple[int, ...], layer_axes: str, plane: str) -> tuple[int, ...]:
    """The viewer's dims order that shows ``plane`` (a key of :data:`PLANES`) of a layer whose
    dimensions are ``layer_axes`` (one letter each, with Z, Y and X), given the current
    ``order``: the other dims keep their order in front; the axis across the plane is the last
    slider. (napari aligns a layer's dims with the viewer's last ones.)"""
    offset = len(order) - len(layer_axes)
    world = {axis: offset + layer_axes.index(axis) for axis in SPATIAL}
    vertical, horizontal = PLANES[plane]
    across = next(axis for axis in SPATIAL if axis not in (vertical, horizontal))
    shown = (world[across], world[vertical], world[horizontal])
    return (*(dim for dim in order if dim not in shown), *shown)


def show_plane(viewer: napari.Viewer, layer_axes: str, plane: str) -> None:
    """Show ``plane`` of layers with ``layer_axes`` in the 2D view (see :func:`plane_order`),
    through the slider's current position, and fit the view."""
    viewer.dims.ndisplay = 2
    viewer.dims.order = plane_order(tuple(viewer.dims.order), layer_axes, plane)
    viewer.reset_view()


def _grid(viewer: napari.Viewer) -> Any:
    """The grid settings (``viewer.canvas.grid`` since napari 0.9, ``viewer.grid`` before)."""
    canvas = getattr(viewer, "canvas", None)
    return canvas.grid if canvas is not None and hasattr(canvas, "grid") else viewer.grid
