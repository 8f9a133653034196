"""What a widget offers once outputs are shown: raw, denoised and deconvolved side by side, and for
z-stacks the orthogonal views (XY, XZ, YZ)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from magicgui.widgets import Container, PushButton, RadioButtons

from napari_deconoising.widgets._common import notify_error
from napari_deconoising.widgets._grid import PLANES, SideBySide, run_layers, show_plane

if TYPE_CHECKING:
    import napari
    from napari.layers import Image

SIDE_BY_SIDE, SINGLE_VIEW = "Side by side", "Single view"
XY = "XY"
NOTHING_YET = "Run Denoise & Deconvolve first: there is nothing to compare yet"


class Comparison:
    """The "Side by side" button and the "orthogonal views" choice (:attr:`planes`: XY, XZ or
    YZ), in :attr:`container`.

    :meth:`follow` names the raw layer of the last run and its axes. "Side by side" shows it
    with ``<raw> denoised`` and ``<raw> deconvolved`` in napari's grid mode (one shared camera),
    or goes back to one view. The orthogonal views are offered for a layer with a Z axis: XZ and
    YZ turn the viewer's dims so that Z is vertical on screen (in µm when the layers have a
    scale), through the middle of the stack until the slider moves, and show the layers side by
    side; XY turns back.
    """

    def __init__(self, viewer: napari.Viewer, nothing_yet: str = NOTHING_YET):
        self.viewer = viewer
        self.nothing_yet = nothing_yet
        self.raw: Image | None = None
        self.axes = ""
        self._side_by_side = SideBySide(viewer)
        self.grid_button = PushButton(text=SIDE_BY_SIDE)
        self.grid_button.tooltip = "Raw, denoised and deconvolved in a row, with one camera"
        self.planes = RadioButtons(
            label="orthogonal views",
            choices=tuple(PLANES),
            value=XY,
            orientation="horizontal",
            tooltip="The plane of the z-stack shown: XY, or XZ / YZ with Z vertical",
        )
        self.planes.visible = False
        self.container = Container(widgets=[self.grid_button, self.planes])
        self.grid_button.changed.connect(self.toggle_side_by_side)
        self.planes.changed.connect(self._plane_chosen)

    @property
    def side_by_side(self) -> bool:
        """True while raw, denoised and deconvolved are shown side by side."""
        return self._side_by_side.active

    def follow(self, raw: Image, axes: str) -> None:
        """Compare ``raw`` (whose dimensions are ``axes``) with its outputs from now on; the
        orthogonal views are offered when it has a Z axis (the plane shown is kept)."""
        self.raw, self.axes = raw, axes
        has_z = "Z" in axes
        self.planes.visible = has_z
        if self.planes.value == XY:
            return
        if has_z:
            show_plane(self.viewer, axes, self.planes.value)
            return
        with self.planes.changed.blocked():  # a 2D layer after a z-stack: back to XY
            self.planes.value = XY
        self.viewer.dims.order = tuple(range(self.viewer.dims.ndim))

    def toggle_side_by_side(self, *_: Any) -> None:
        """Raw, denoised and deconvolved in a row (napari grid mode), or back to one view."""
        if self._side_by_side.active:
            self._side_by_side.leave()
            self.grid_button.text = SIDE_BY_SIDE
            return
        self._enter()

    def show_plane(self, plane: str) -> None:
        """Show ``plane`` (``"XY"``, ``"XZ"`` or ``"YZ"``) of the last run's z-stack."""
        self.planes.value = plane

    def _enter(self) -> bool:
        layers = run_layers(self.viewer, self.raw)
        if len(layers) < 2:
            notify_error(self.nothing_yet)
            return False
        self._side_by_side.enter(layers)
        self.grid_button.text = SINGLE_VIEW
        return True

    def _plane_chosen(self, plane: str) -> None:
        if "Z" not in self.axes:
            return
        if plane != XY and not self._side_by_side.active and not self._enter():
            with self.planes.changed.blocked():
                self.planes.value = XY
            return
        show_plane(self.viewer, self.axes, plane)
