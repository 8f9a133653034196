"""The PSF widget: make a point spread function and show it as the ``PSF`` layer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import ComboBox, Container, FloatSpinBox, Label, PushButton
from qtpy.QtWidgets import QVBoxLayout, QWidget

from ..errors import DeconoisingError
from ..psf import gaussian_psf, gaussian_psf_from_optics, prepare_psf, psf_fwhm, widefield_psf
from ._common import (
    LayerChoices,
    check_image_layer,
    find_layer,
    layer_array,
    notify_error,
)
from ._workers import Failed, Job, WorkerSlot, on_close

if TYPE_CHECKING:
    import napari

PSF_LAYER = "PSF"
GAUSSIAN_SIGMA = "Gaussian, sigma in pixels"
GAUSSIAN_OPTICS = "Gaussian from optics"
WIDEFIELD = "Widefield from optics"
FROM_LAYER = "From an image layer"
MODES = (GAUSSIAN_SIGMA, GAUSSIAN_OPTICS, WIDEFIELD, FROM_LAYER)


class PSFWidget(QWidget):
    """Makes a PSF (Gaussian, widefield or measured) and shows it as the image layer ``PSF``.

    The layer is updated in place on every click; the Train widget uses it by default.
    The widefield model and measured PSFs are computed in a thread worker.
    """

    def __init__(self, napari_viewer: napari.Viewer):
        super().__init__()
        self.viewer = napari_viewer
        self._layers = LayerChoices(napari_viewer)
        self._slot = WorkerSlot()
        self.mode = ComboBox(label="model", choices=MODES, value=GAUSSIAN_SIGMA)
        self.sigma = FloatSpinBox(label="sigma (px)", value=1.5, min=0.1, max=50.0, step=0.1)
        self.na = FloatSpinBox(label="NA", value=1.4, min=0.05, max=1.7, step=0.05)
        self.wavelength = FloatSpinBox(
            label="emission (nm)", value=520.0, min=200.0, max=2000.0, step=10.0
        )
        self.pixel_size = FloatSpinBox(
            label="pixel size (nm)",
            value=100.0,
            min=1.0,
            max=10000.0,
            step=5.0,
            tooltip="Size of one camera pixel in the sample plane",
        )
        self.source = self._layers.combo(
            "image layer", tooltip="A measured PSF (bead image), 2D or a z-stack"
        )
        self.make_button = PushButton(text="Make PSF")
        self.fwhm_label = Label(value="")
        self.form = Container(
            widgets=[
                self.mode,
                self.sigma,
                self.na,
                self.wavelength,
                self.pixel_size,
                self.source,
                self.make_button,
                self.fwhm_label,
            ]
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.form.native)
        layout.addStretch()
        self.mode.changed.connect(self._show_fields)
        self.make_button.changed.connect(self.make_psf)
        self._show_fields()
        on_close(self, self._teardown)

    # -- GUI ----------------------------------------------------------------------------------
    def _show_fields(self, *_: Any) -> None:
        mode = self.mode.value
        self.sigma.visible = mode == GAUSSIAN_SIGMA
        for widget in (self.na, self.wavelength, self.pixel_size):
            widget.visible = mode in (GAUSSIAN_OPTICS, WIDEFIELD)
        self.source.visible = mode == FROM_LAYER

    def _set_busy(self, busy: bool) -> None:
        self.make_button.enabled = not busy
        self.make_button.text = "Computing…" if busy else "Make PSF"

    def make_psf(self, *_: Any) -> None:
        """Compute the PSF for the current settings (in a worker when it may take a while)."""
        if self._slot.running:
            return
        mode = self.mode.value
        try:
            if mode == GAUSSIAN_SIGMA:
                self.show_psf(gaussian_psf(self.sigma.value))
            elif mode == GAUSSIAN_OPTICS:
                self.show_psf(gaussian_psf_from_optics(*self._optics()))
            elif mode == WIDEFIELD:
                self._start(_widefield, self._optics())
            else:
                layer = self.source.value
                check_image_layer(layer, "the measured PSF")
                self._start(_from_layer, layer)
        except DeconoisingError as err:
            self._report(str(err))

    def _optics(self) -> tuple[float, float, float]:
        return (self.na.value, self.wavelength.value, self.pixel_size.value)

    def _start(self, function, argument) -> None:
        self._set_busy(True)
        self._slot.start(
            function,
            argument,
            on_return=self._done,
            on_finish=lambda: self._set_busy(False),
            action="Making the PSF",
        )

    def _done(self, result: np.ndarray | Failed) -> None:
        if isinstance(result, Failed):
            self._report(result.message)
        else:
            self.show_psf(result)

    def _report(self, message: str) -> None:
        self.fwhm_label.value = f"error: {message}"
        notify_error(message)

    def show_psf(self, psf: np.ndarray) -> None:
        """Show ``psf`` in the ``PSF`` layer (created or updated in place) and its FWHM."""
        from napari.layers import Image

        layer = find_layer(self.viewer, PSF_LAYER)
        if isinstance(layer, Image) and layer.ndim == 2:
            layer.data = psf
            layer.reset_contrast_limits()
        else:
            self.viewer.add_image(psf, name=PSF_LAYER, colormap="magma")
        fwhm = psf_fwhm(psf)
        self.fwhm_label.value = f"FWHM {fwhm:.2f} px, kernel {psf.shape[0]}×{psf.shape[1]} px"

    @property
    def fwhm_text(self) -> str:
        """The text under the button (FWHM, or the last error)."""
        return str(self.fwhm_label.value)

    def _teardown(self) -> None:
        self._slot.quit()
        self._layers.disconnect()


def _widefield(job: Job, optics: tuple[float, float, float]) -> np.ndarray | Failed:
    """Worker: the widefield PSF, or why not."""
    try:
        return widefield_psf(*optics)
    except DeconoisingError as err:
        return Failed(str(err))


def _from_layer(job: Job, layer) -> np.ndarray | Failed:
    """Worker: a PSF made from an image layer (background removed), or why not."""
    try:
        return prepare_psf(subtract_background(layer_array(layer)))
    except DeconoisingError as err:
        return Failed(f"layer '{layer.name}' is not usable as a PSF: {err}")


def subtract_background(image: np.ndarray) -> np.ndarray:
    """Subtract the median of the outermost pixels (the camera background of a bead image)
    and clip at zero; an image that is already background-free is left as it is."""
    data = np.asarray(image, dtype=np.float64)
    if data.ndim < 2 or not np.all(np.isfinite(data)):
        return data  # prepare_psf explains what is wrong
    border = np.concatenate(
        [
            data[..., 0, :].ravel(),
            data[..., -1, :].ravel(),
            data[..., :, 0].ravel(),
            data[..., :, -1].ravel(),
        ]
    )
    return np.clip(data - np.median(border), 0, None)
