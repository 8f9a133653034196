"""The PSF widget: make a point spread function (2D or 3D) and show it as the ``PSF`` layer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container
from qtpy.QtWidgets import QVBoxLayout

from napari_deconoising.config.settings import OpticsConfig
from napari_deconoising.errors import PSFError
from napari_deconoising.io import spacing_from_scale
from napari_deconoising.psf.core import (
    StackOpticsConfig,
    gaussian_psf,
    gaussian_psf_3d,
    gaussian_psf_3d_from_optics,
    gaussian_psf_from_optics,
    prepare_psf,
    psf_fwhm,
    psf_fwhm_z,
    widefield_psf,
    widefield_psf_3d,
)
from napari_deconoising.widgets._common import LayerChoices, check_image_layer, find_layer
from napari_deconoising.widgets._jobs import Finished, Job, JobRunner, JobWidget, Outcome
from napari_deconoising.widgets._settings import setting_box

if TYPE_CHECKING:
    import napari

PSF_LAYER = "PSF"
GAUSSIAN_SIGMA = "Gaussian, sigma in pixels"
GAUSSIAN_OPTICS = "Gaussian from optics"
WIDEFIELD = "Widefield from optics"
FROM_LAYER = "From an image layer"
MODES = (GAUSSIAN_SIGMA, GAUSSIAN_OPTICS, WIDEFIELD, FROM_LAYER)
PLANAR, VOLUME = "2D (Y, X)", "3D (Z, Y, X)"
#: The "planes" and "immersion index" boxes show this value for "automatic".
AUTOMATIC = 0


class PSFWidget(JobWidget):
    """Makes a PSF (Gaussian, widefield or measured) and shows it as the image layer ``PSF``.

    The layer is updated in place on every click; the Train widget uses it by default.
    The widefield model and measured PSFs are computed in a thread worker; a measured PSF is
    made by :func:`~napari_deconoising.psf.core.prepare_psf` (background removed, centred, cropped),
    exactly as the command line makes it from the same bead image. In the optics modes,
    "pixel size from" fills the pixel size (and, for a layer with Z, the z-step, switching to
    3D) from an image layer's scale and units.

    "dimensions" 3D makes a (Z, Y, X) PSF: from the optics with the z-step, the planes (0:
    enough for the axial spread) and the immersion index (0: from the NA), as a Gaussian with
    an axial sigma, or from a bead stack. A 3D PSF layer gets its voxel size as scale (µm) and,
    with "show in 3D", the viewer switches to its 3D view.
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
        self.dims = ComboBox(
            label="dimensions",
            choices=(PLANAR, VOLUME),
            value=PLANAR,
            tooltip="3D: a PSF stack for z-stacks (3D training); 2D: one plane",
        )
        self.sigma_z = setting_box(StackOpticsConfig, "sigma_z", "axial sigma (planes)", step=0.1)
        self.z_step = setting_box(
            StackOpticsConfig, "z_step_nm", "z-step (nm)", step=10.0,
            tooltip="Distance between the planes of the stack",
        )  # fmt: skip
        self.planes = setting_box(
            StackOpticsConfig, "planes", "planes", none_value=AUTOMATIC,
            tooltip="Planes of the PSF, odd (0: enough for its axial spread)",
        )  # fmt: skip
        self.immersion = setting_box(
            StackOpticsConfig, "immersion_index", "immersion index", value=float(AUTOMATIC),
            none_value=AUTOMATIC, step=0.01, resolution=0.001,
            tooltip="Refractive index of the immersion medium (0: from the NA: oil above "
            "1.33, water above 0.95, else air)",
        )  # fmt: skip
        self.view_3d = CheckBox(label="show in 3D", value=True)
        self._voxel_um: tuple[float | None, ...] | None = None  # of the 3D PSF being made
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
            self.dims,
            self.sigma,
            self.sigma_z,
            self.na,
            self.wavelength,
            self.pixel_size,
            self.z_step,
            self.planes,
            self.immersion,
            self.pixel_from,
            self.source,
            self.view_3d,
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
        self.dims.changed.connect(self._show_fields)
        self.pixel_from.changed.connect(self.fill_pixel_size)
        self._show_fields()

    # -- GUI ----------------------------------------------------------------------------------
    def _show_fields(self, *_: Any) -> None:
        mode, volume = self.mode.value, self.dims.value == VOLUME
        optics = mode in (GAUSSIAN_OPTICS, WIDEFIELD)
        self.sigma.visible = mode == GAUSSIAN_SIGMA
        self.sigma_z.visible = mode == GAUSSIAN_SIGMA and volume
        for widget in (self.na, self.wavelength, self.pixel_size, self.pixel_from):
            widget.visible = optics
        for widget in (self.z_step, self.immersion):
            widget.visible = optics and volume
        self.planes.visible = volume and mode != FROM_LAYER
        self.source.visible = mode == FROM_LAYER
        self.view_3d.visible = volume

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
        z_nm = layer_z_step_nm(layer)
        if z_nm is not None and self.z_step.min <= z_nm <= self.z_step.max:
            self.z_step.value = z_nm
            self.dims.value = VOLUME
            self.jobs.status.value = (
                f"Pixel size {nm:.4g} nm and z-step {z_nm:.4g} nm from layer '{layer.name}'"
            )
            return
        self.jobs.status.value = f"Pixel size {nm:.4g} nm from layer '{layer.name}'"

    def make_psf(self, *_: Any) -> None:
        """Compute the PSF for the current settings (in a worker when it may take a while)."""
        self.jobs.trigger()

    def _make(self) -> None:
        mode = self.mode.value
        if self.dims.value == VOLUME:
            self._make_3d(mode)
        elif mode == GAUSSIAN_SIGMA:
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

    def _make_3d(self, mode: str) -> None:
        planes = None if self.planes.value == AUTOMATIC else int(self.planes.value)
        if mode == GAUSSIAN_SIGMA:
            self.show_psf(gaussian_psf_3d(self.sigma.value, self.sigma_z.value, planes=planes))
            return
        if mode == FROM_LAYER:
            layer = self.source.value
            check_image_layer(layer, "the measured PSF")
            self._voxel_um = _layer_voxel_um(layer)
            self.jobs.start(
                _from_layer,
                layer.data,
                layer.name,
                3,
                status=f"Making a 3D PSF from '{layer.name}'…",
                on_done=self._done,
            )
            return
        immersion = None if self.immersion.value == AUTOMATIC else float(self.immersion.value)
        optics = (*self._optics(), self.z_step.value)
        settings = {"immersion_index": immersion, "planes": planes}
        self._voxel_um = (optics[3] / 1000, optics[2] / 1000, optics[2] / 1000)
        if mode == GAUSSIAN_OPTICS:
            self.show_psf(gaussian_psf_3d_from_optics(*optics, **settings), self._voxel_um)
            return
        self.jobs.start(
            _widefield_3d,
            optics,
            settings,
            status="Computing the 3D widefield PSF…",
            on_done=self._done,
        )

    def _optics(self) -> tuple[float, float, float]:
        return (self.na.value, self.wavelength.value, self.pixel_size.value)

    def _done(self, outcome: Outcome) -> None:
        if isinstance(outcome, Finished):
            psf = outcome.value
            self.show_psf(psf, self._voxel_um if psf.ndim == 3 else None)

    def show_psf(self, psf: np.ndarray, voxel_um: tuple[float, ...] | None = None) -> None:
        """Show ``psf`` in the ``PSF`` layer (created, updated in place, or replaced when its
        dimensionality changes) and its FWHM. A 3D PSF gets ``voxel_um`` (Z, Y, X) as its scale
        in µm and, with "show in 3D", the viewer's 3D view."""
        from napari.layers import Image

        layer = find_layer(self.viewer, PSF_LAYER)
        spatial = _layer_geometry(psf.ndim, voxel_um)
        if isinstance(layer, Image) and layer.ndim == psf.ndim:
            layer.data = psf
            for key, value in spatial.items():
                setattr(layer, key, value)
            layer.reset_contrast_limits()
        else:
            if layer is not None:
                self.viewer.layers.remove(layer)
            extra = {"rendering": "mip"} if psf.ndim == 3 else {}
            layer = self.viewer.add_image(psf, name=PSF_LAYER, colormap="magma", **spatial, **extra)
        fwhm = psf_fwhm(psf)
        if psf.ndim == 3:
            self.fwhm_label.value = (
                f"FWHM {fwhm:.2f} px × {psf_fwhm_z(psf):.2f} planes, kernel "
                f"{psf.shape[0]}×{psf.shape[1]}×{psf.shape[2]} (Z×Y×X)"
            )
            if self.view_3d.value:
                self.viewer.dims.ndisplay = 3
                self.viewer.reset_view()
            return
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


def layer_z_step_nm(layer: Any) -> float | None:
    """The Z step of an image layer in nm, when it has a Z axis (axis labels, else its third
    last dimension of a 3D layer) with a physical scale; else None."""
    voxel = _layer_voxel_um(layer)
    return None if voxel is None or voxel[0] is None else round(voxel[0] * 1000, 6)


def _layer_voxel_um(layer: Any) -> tuple[float | None, float | None, float | None] | None:
    """(Z, Y, X) sizes in µm from a 3D (or more) layer's last three scale entries and units,
    None for a 2D layer."""
    if layer.ndim < 3:
        return None
    scale = tuple(layer.scale)[-3:]
    units = getattr(layer, "units", None)
    spacing = spacing_from_scale("ZYX", scale, None if units is None else tuple(units)[-3:])
    return tuple(spacing.get(axis) for axis in "ZYX")  # type: ignore[return-value]


def _layer_geometry(ndim: int, voxel_um: tuple[float | None, ...] | None) -> dict[str, Any]:
    """The scale and units a PSF layer gets: its voxel size in µm when it is known."""
    if ndim != 3 or voxel_um is None or any(size is None for size in voxel_um):
        return {}
    return {"scale": tuple(voxel_um), "units": ("µm",) * 3}


def _widefield(job: Job, optics: tuple[float, float, float]) -> np.ndarray:
    """Worker: the widefield PSF."""
    return widefield_psf(*optics)


def _widefield_3d(job: Job, optics: tuple[float, ...], settings: dict[str, Any]) -> np.ndarray:
    """Worker: the 3D widefield PSF."""
    return widefield_psf_3d(*optics, **settings)


def _from_layer(job: Job, data, name: str, spatial_dims: int = 2) -> np.ndarray:
    """Worker: the PSF made from a layer's pixels, as :func:`prepare_psf` makes it (a 3D one
    from a bead stack with ``spatial_dims`` 3)."""
    try:
        return prepare_psf(np.asarray(data), spatial_dims=spatial_dims)
    except PSFError as err:
        raise PSFError(f"layer '{name}' is not usable as a PSF: {err}") from err
