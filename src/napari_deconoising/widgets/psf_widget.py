"""The PSF widget: make a point spread function and show it as the ``PSF`` layer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import ComboBox, Container
from qtpy.QtWidgets import QVBoxLayout

from ..config import OpticsConfig
from ..errors import PSFError
from ..io import spacing_from_scale
from ..psf import gaussian_psf, gaussian_psf_from_optics, prepare_psf, psf_fwhm, widefield_psf
from ._common import LayerChoices, check_image_layer, find_layer
from ._jobs import Finished, Job, JobRunner, JobWidget, Outcome
from ._settings import setting_box

if TYPE_CHECKING:
    import napari

PSF_LAYER = "PSF"
GAUSSIAN_SIGMA = "Gaussian, sigma in pixels"
GAUSSIAN_OPTICS = "Gaussian from optics"
WIDEFIELD = "Widefield from optics"
FROM_LAYER = "From an image layer"
MODES = (GAUSSIAN_SIGMA, GAUSSIAN_OPTICS, WIDEFIELD, FROM_LAYER)


class PSFWidget(JobWidget):
    """Makes a PSF (Gaussian, widefield or measured) and shows it as the image layer ``PSF``.

    The layer is updated in place on every click; the Train widget uses it by default.
    The widefield model and measured PSFs are computed in a thread worker; a measured PSF is
    made by :func:`~napari_deconoising.psf.prepare_psf` (background removed, centred, cropped),
    exactly as the command line makes it from the same bead image. In the optics modes,
    "pixel size from" fills the pixel size from an image layer's scale and units.
    """

    def __init__(self, napari_viewer: napari.Viewer):
        super().__init__()
        self.viewer = napari_viewer
        self._layers = LayerChoices(napari_viewer)
        self.mode = ComboBox(label="model", choices=MODES, value=GAUSSIAN_SIGMA)
        self.sigma = setting_box(OpticsConfig, "sigma", "sigma (px)", step=0.1)
        self.na = setting_box(OpticsConfig, "na", "NA", step=0.05)
        self.wavelength = setting_box(OpticsConfig, "wavelength_nm", "emission (nm)", step=10.0)
        self.pixel_size = setting_box(
            OpticsConfig,
            "pixel_size_nm",
            "pixel size (nm)",
            step=5.0,
            tooltip="Size of one camera pixel in the sample plane",
        )
        self.pixel_from = self._layers.combo(
            "pixel size from",
            optional=True,
            tooltip="An image layer whose scale and units give the pixel size",
        )
        self.source = self._layers.combo(
            "image layer", tooltip="A measured PSF (bead image), 2D or a z-stack"
        )
        self.jobs = JobRunner(
            self,
            action="Making the PSF",
            run_text="Make PSF",
            stop_text=None,
            busy_text="Computing…",
            on_run=self._make,
        )
        self.make_button = self.jobs.button
        self.fwhm_label = self.jobs.status
        fields = (
            self.mode,
            self.sigma,
            self.na,
            self.wavelength,
            self.pixel_size,
            self.pixel_from,
            self.source,
        )
        self.form = Container(widgets=[*fields, self.make_button])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.form.native)
        layout.addWidget(self.fwhm_label)
        layout.addStretch()
        self.jobs.lock(*fields)
        self.jobs.add_teardown(self._layers.disconnect)
        self.mode.changed.connect(self._show_fields)
        self.pixel_from.changed.connect(self.fill_pixel_size)
        self._show_fields()

    # -- GUI ----------------------------------------------------------------------------------
    def _show_fields(self, *_: Any) -> None:
        mode = self.mode.value
        self.sigma.visible = mode == GAUSSIAN_SIGMA
        for widget in (self.na, self.wavelength, self.pixel_size, self.pixel_from):
            widget.visible = mode in (GAUSSIAN_OPTICS, WIDEFIELD)
        self.source.visible = mode == FROM_LAYER

    def fill_pixel_size(self, *_: Any) -> None:
        """Set the pixel size from the layer chosen in "pixel size from", when its scale and
        units give one; else say why in the status line."""
        layer = self.pixel_from.value
        if layer is None:
            return
        nm = layer_pixel_size_nm(layer)
        if nm is None:
            self.jobs.status.value = (
                f"Layer '{layer.name}' has no physical pixel size (its scale is in pixels); "
                "type the pixel size"
            )
            return
        low, high = self.pixel_size.min, self.pixel_size.max
        if not low <= nm <= high:
            self.jobs.status.value = (
                f"Layer '{layer.name}' has {nm:.4g} nm pixels, outside {low:g}-{high:g} nm; "
                "check its scale and units"
            )
            return
        self.pixel_size.value = nm
        self.jobs.status.value = f"Pixel size {nm:.4g} nm from layer '{layer.name}'"

    def make_psf(self, *_: Any) -> None:
        """Compute the PSF for the current settings (in a worker when it may take a while)."""
        self.jobs.trigger()

    def _make(self) -> None:
        mode = self.mode.value
        if mode == GAUSSIAN_SIGMA:
            self.show_psf(gaussian_psf(self.sigma.value))
        elif mode == GAUSSIAN_OPTICS:
            self.show_psf(gaussian_psf_from_optics(*self._optics()))
        elif mode == WIDEFIELD:
            self.jobs.start(
                _widefield,
                self._optics(),
                status="Computing the widefield PSF…",
                on_done=self._done,
            )
        else:
            layer = self.source.value
            check_image_layer(layer, "the measured PSF")
            self.jobs.start(
                _from_layer,
                layer.data,
                layer.name,
                status=f"Making a PSF from '{layer.name}'…",
                on_done=self._done,
            )

    def _optics(self) -> tuple[float, float, float]:
        return (self.na.value, self.wavelength.value, self.pixel_size.value)

    def _done(self, outcome: Outcome) -> None:
        if isinstance(outcome, Finished):
            self.show_psf(outcome.value)

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


def layer_pixel_size_nm(layer: Any) -> float | None:
    """The X (else Y) pixel size of an image layer in nm, from its scale and units, or None
    when they give no physical size."""
    scale = tuple(layer.scale)[-2:]
    units = getattr(layer, "units", None)
    spacing = spacing_from_scale("YX", scale, None if units is None else tuple(units)[-2:])
    size_um = spacing.get("X", spacing.get("Y"))
    return None if size_um is None else round(size_um * 1000, 6)


def _widefield(job: Job, optics: tuple[float, float, float]) -> np.ndarray:
    """Worker: the widefield PSF."""
    return widefield_psf(*optics)


def _from_layer(job: Job, data, name: str) -> np.ndarray:
    """Worker: the PSF made from a layer's pixels, as :func:`prepare_psf` makes it."""
    try:
        return prepare_psf(np.asarray(data))
    except PSFError as err:
        raise PSFError(f"layer '{name}' is not usable as a PSF: {err}") from err
