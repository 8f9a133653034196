"""The PSF widget: make a point spread function (2D or 3D) and show it as the ``PSF`` layer."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container

from napari_deconoising.config.psf import OpticsConfig, StackOpticsConfig
from napari_deconoising.errors import PSFError
from napari_deconoising.psf.recipe import GAUSSIAN, PSFRecipe, make_psf
from napari_deconoising.psf.recipe import WIDEFIELD as WIDEFIELD_MODEL
from napari_deconoising.widgets._axes import layer_image
from napari_deconoising.widgets._common import LayerChoices, check_image_layer, find_layer
from napari_deconoising.widgets._jobs import Finished, Job, JobRunner, JobWidget, Outcome
from napari_deconoising.widgets._psf_text import layer_spacing_um, widths_text
from napari_deconoising.widgets._qt import scrolling_layout
from napari_deconoising.widgets._settings import setting_box
from napari_deconoising.widgets._used_psf import automatic_psf

if TYPE_CHECKING:
    import napari

PSF_LAYER = "PSF"
GAUSSIAN_SIGMA = "Gaussian, sigma in pixels"
GAUSSIAN_OPTICS = "Gaussian from optics"
WIDEFIELD = "Widefield from optics"
FROM_LAYER = "From an image layer"
FROM_IMAGE = "Automatic, for an image layer"
MODES = (GAUSSIAN_SIGMA, GAUSSIAN_OPTICS, WIDEFIELD, FROM_LAYER, FROM_IMAGE)
PLANAR, VOLUME = "2D (Y, X)", "3D (Z, Y, X)"
#: The number of spatial dimensions of each "dimensions" choice.
SPATIAL_DIMS = {PLANAR: 2, VOLUME: 3}
#: The PSF model of each optics mode.
OPTICS_MODELS = {GAUSSIAN_OPTICS: GAUSSIAN, WIDEFIELD: WIDEFIELD_MODEL}
#: How the status line names a PSF of 2 or 3 spatial dimensions.
DIMS_PREFIX = {2: "", 3: "3D "}
#: The "planes" and "immersion index" boxes show this value for "automatic".
AUTOMATIC = 0


class PSFWidget(JobWidget):
    """Makes a PSF (Gaussian, widefield or measured) and shows it as the image layer ``PSF``.

    The layer is updated in place on every click; the Train widget uses it by default.
    Every PSF is made by :func:`~napari_deconoising.psf.recipe.make_psf`, as the command line
    makes it; the widefield model and measured PSFs (background removed, centred, cropped) are
    computed in a thread worker. In the optics modes, "pixel size from" fills the pixel size
    (and, for a layer with Z, the z-step, switching to 3D) from an image layer's scale and
    units.

    "dimensions" 3D makes a (Z, Y, X) PSF: from the optics with the z-step, the planes (0:
    enough for the axial spread) and the immersion index (0: from the NA), as a Gaussian with
    an axial sigma, or from a bead stack. A 3D PSF layer gets its voxel size as scale (µm) and,
    with "show in 3D", the viewer switches to its 3D view.

    "Automatic, for an image layer" makes the PSF the One-click widget assumes for that layer
    (:func:`~napari_deconoising.data.automatic_psf.automatic_psf`: its OME-TIFF file's optics, else
    typical optics at its pixel size, else a width estimated from its spectrum; 3D for a layer
    with Z) and says which. The estimate reads at most a 1024 x 1024 sample: it runs at once.
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
        self.for_image = self._layers.combo(
            "for image",
            tooltip="The PSF for this layer: its file's optics, else typical optics at its "
            "pixel size, else estimated from its spectrum",
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
            self.for_image,
            self.view_3d,
        )
        self.form = Container(widgets=[*fields, self.make_button])
        layout = scrolling_layout(self)
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
        self.dims.visible = mode != FROM_IMAGE  # the layer's Z axis decides
        self.planes.visible = volume and mode not in (FROM_LAYER, FROM_IMAGE)
        self.source.visible = mode == FROM_LAYER
        self.for_image.visible = mode == FROM_IMAGE
        self.view_3d.visible = volume or mode == FROM_IMAGE

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
        dims = SPATIAL_DIMS[self.dims.value]
        if self.mode.value == FROM_LAYER:
            self._make_from_layer(dims)
            return
        if self.mode.value == FROM_IMAGE:
            self._make_for_image()
            return
        recipe = self._recipe(dims)
        if recipe.model == WIDEFIELD_MODEL:
            self.jobs.start(
                _make_psf,
                recipe,
                status=f"Computing the {DIMS_PREFIX[dims]}widefield PSF…",
                on_done=partial(self._done, recipe.voxel_um),
            )
            return
        self.show_psf(make_psf(recipe), recipe.voxel_um)

    def _recipe(self, dims: int) -> PSFRecipe:
        """The recipe of the Gaussian or optics PSF the fields describe."""
        planes = None if self.planes.value == AUTOMATIC else int(self.planes.value)
        if self.mode.value == GAUSSIAN_SIGMA:
            sigmas = {"sigma": self.sigma.value, "sigma_z": self.sigma_z.value}
            return PSFRecipe(spatial_dims=dims, planes=planes, **sigmas)
        immersion = None if self.immersion.value == AUTOMATIC else float(self.immersion.value)
        pixel = self.pixel_size.value
        return PSFRecipe(
            spatial_dims=dims,
            model=OPTICS_MODELS[self.mode.value],
            na=self.na.value,
            wavelength_nm=self.wavelength.value,
            voxel_nm=(self.z_step.value,) * (dims - 2) + (pixel, pixel),
            immersion_index=immersion,
            planes=planes,
        )

    def _make_for_image(self) -> None:
        """Show the automatic PSF of the "for image" layer and what it was made from."""
        layer = self.for_image.value
        used = automatic_psf(layer_image(layer, purpose="the automatic PSF"))
        self.show_psf(used.pixels, used.voxel_um)
        widths = widths_text(used.pixels, used.voxel_um)
        self.fwhm_label.value = f"For layer '{layer.name}': {used.made_from}\n{widths}"

    def _make_from_layer(self, dims: int) -> None:
        layer = self.source.value
        check_image_layer(layer, "the measured PSF")
        spacing = layer_spacing_um(layer)
        self.jobs.start(
            _from_layer,
            layer.data,
            layer.name,
            dims,
            status=f"Making a {DIMS_PREFIX[dims]}PSF from '{layer.name}'…",
            on_done=partial(self._done, tuple(spacing.get(axis) for axis in "ZYX"[-dims:])),
        )

    def _done(self, voxel_um: tuple[float | None, ...] | None, outcome: Outcome) -> None:
        if isinstance(outcome, Finished):
            self.show_psf(outcome.value, voxel_um)

    def show_psf(self, psf: np.ndarray, voxel_um: tuple[float | None, ...] | None = None) -> None:
        """Show ``psf`` in the ``PSF`` layer (created, updated in place, or replaced when its
        dimensionality changes) and its widths: lateral FWHM in pixels and, for a 3D PSF, axial
        FWHM in planes, each also in µm where ``voxel_um`` (one size per axis, Z first; None
        where unknown) gives it. A 3D PSF gets ``voxel_um`` as its scale in µm and, with "show
        in 3D", the viewer's 3D view."""
        from napari.layers import Image

        layer = find_layer(self.viewer, PSF_LAYER)
        physical = _physical_size(psf, voxel_um)
        if isinstance(layer, Image) and layer.ndim == psf.ndim:
            layer.data = psf
            layer.reset_contrast_limits()
            for key, value in physical.items():
                setattr(layer, key, value)
        else:
            if layer is not None:
                self.viewer.layers.remove(layer)
            layer = self.viewer.add_image(
                psf, name=PSF_LAYER, colormap="magma", rendering="mip", **physical
            )
        self.fwhm_label.value = widths_text(psf, voxel_um)
        if psf.ndim == 3 and self.view_3d.value:
            self.viewer.dims.ndisplay = 3
            self.viewer.reset_view()

    @property
    def fwhm_text(self) -> str:
        """The text under the button (FWHM, or the last error)."""
        return str(self.fwhm_label.value)


def layer_pixel_size_nm(layer: Any) -> float | None:
    """The X (else Y) pixel size of an image layer in nm, from its scale and units, or None
    when they give no physical size."""
    spacing = layer_spacing_um(layer)
    size_um = spacing.get("X", spacing.get("Y"))
    return None if size_um is None else round(size_um * 1000, 6)


def layer_z_step_nm(layer: Any) -> float | None:
    """The Z step of an image layer in nm, when it has a Z axis (the third last dimension of a
    3D or larger layer) with a physical scale; else None."""
    z_um = layer_spacing_um(layer).get("Z")
    return None if z_um is None else round(z_um * 1000, 6)


def _physical_size(psf: np.ndarray, voxel_um: tuple[float | None, ...] | None) -> dict[str, Any]:
    """The scale (µm) and units of a 3D PSF layer when ``voxel_um`` gives every size, else none.
    (A layer added with them keeps napari from warning about layers in other units.)"""
    if psf.ndim != 3 or voxel_um is None or None in voxel_um:
        return {}
    return {"scale": tuple(voxel_um), "units": ("µm",) * psf.ndim}


def _make_psf(job: Job, recipe: PSFRecipe) -> np.ndarray:
    """Worker: the PSF of ``recipe``."""
    return make_psf(recipe)


def _from_layer(job: Job, data, name: str, spatial_dims: int = 2) -> np.ndarray:
    """Worker: the PSF made from a layer's pixels (a 3D one from a bead stack with
    ``spatial_dims`` 3), as the command line makes it from a bead file."""
    try:
        return make_psf(PSFRecipe(spatial_dims=spatial_dims, bead=np.asarray(data)))
    except PSFError as err:
        raise PSFError(f"layer '{name}' is not usable as a PSF: {err}") from err
