"""The Denoise & Deconvolve widget: apply a model to an image layer, tile by tile."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from magicgui.widgets import Container, Label, PushButton

from napari_deconoising.config.prediction import PredictionConfig
from napari_deconoising.data.channels import check_channel_count
from napari_deconoising.export.bioimageio import ExportProgress
from napari_deconoising.io.axes import AxesImage
from napari_deconoising.job_control import known_eta
from napari_deconoising.prediction.blockwise import BlockProgress, PredictionJob
from napari_deconoising.prediction.predictor import PredictionProgress
from napari_deconoising.widgets._axes import AxesField
from napari_deconoising.widgets._bioimageio_export import (
    export_package,
    package_target,
    suggested_package,
)
from napari_deconoising.widgets._common import (
    LayerChoices,
    layer_array,
    looks_like_raw_image,
    notify_warning,
    show_output,
)
from napari_deconoising.widgets._comparison import Comparison
from napari_deconoising.widgets._jobs import Finished, JobRunner, JobWidget, Outcome
from napari_deconoising.widgets._large_layers import (
    LARGE_LAYER_PIXELS,
    LargePrediction,
    ask_folder,
    is_large,
    output_stores,
    predict_large,
    show_stores,
)
from napari_deconoising.widgets._models import (
    LOAD_FILE,
    Loaded,
    ModelPicker,
    ask_package_path,
    model_registry,
    model_text,
)
from napari_deconoising.widgets._outputs import (
    ConfirmOverwrite,
    ask_to_replace,
    layer_source,
    permission_to_write,
)
from napari_deconoising.widgets._prediction_job import Prediction, predict, scores_text
from napari_deconoising.widgets._qt import scrolling_layout
from napari_deconoising.widgets._settings import choice_box, setting_box

if TYPE_CHECKING:
    import napari
    from napari.layers import Image

__all__ = ["LOAD_FILE", "PredictionWidget", "scores_text"]

#: Where a user without a model is sent.
ONE_CLICK_HINT = (
    "Plugins > DecoNoising > One-click Denoise & Deconvolve trains one on your layer and "
    "runs it, in minutes"
)
#: Above this many pixels the PSNR is not recomputed in the GUI thread when the reference changes.
SYNC_PSNR_PIXELS = 16_000_000


class PredictionWidget(JobWidget):
    """Runs a model on an image layer and shows "<raw> denoised" and "<raw> deconvolved".

    The layer is read with its axes (see :class:`~._axes.AxesField`); a multi-channel model
    takes each channel through its own network. The output layers have the raw layer's shape
    (its C axis kept) and take its scale, translate, units, axis labels and contrast limits;
    later runs replace them in place. Warnings of the run (a pixel size that differs from the
    model's) are shown as notifications. "Side by side" shows raw, denoised and deconvolved in
    napari's grid mode; for a z-stack, "orthogonal views" shows them in XY, XZ or YZ
    (:class:`~._comparison.Comparison`). With a reference layer, the PSNR of raw and denoised
    is shown. Without a model, the model line points to the One-click widget.

    "Export to bioimage.io…" asks for a ``.zip`` name (:attr:`ask_export_path`, replaceable in
    tests; the save dialog asks before replacing a file, :attr:`confirm_overwrite` when the
    widget had to add ".zip") and writes the chosen model as a bioimage.io package in the
    worker; the model's own file is never written over.

    A layer larger than :attr:`large_pixels` pixels, or one not held in memory (dask, zarr), is
    predicted block by block (:class:`~napari_deconoising.prediction.BlockPredictor`) into two
    OME-Zarr stores, ``<layer>_denoised.zarr`` and ``<layer>_deconvolved.zarr``, in a folder
    the user picks (:attr:`ask_output_folder`); replacing existing stores needs a confirmation
    (:attr:`confirm_overwrite`), and the layer's own file or store is never written over. The
    output layers read the stores lazily. A cancelled or failed run removes its stores.
    """

    #: ``ask_export_path(suggested)``: the package to write, or None when the user cancels.
    ask_export_path: Callable[[str], str | None]
    #: ``ask_output_folder(title)``: the folder for a large layer's outputs, or None.
    ask_output_folder: Callable[[str], str | None]
    #: ``confirm_overwrite(paths)``: whether existing outputs may be replaced.
    confirm_overwrite: ConfirmOverwrite

    def __init__(self, napari_viewer: napari.Viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.outputs: list[Image] = []
        self.raw: Image | None = None
        self._run_layer: Image | None = None
        self._last_progress: PredictionProgress | None = None
        self.comparison = Comparison(napari_viewer)
        self._run_axes = ""
        self._layers = LayerChoices(napari_viewer)
        self.image = self._layers.combo("image", prefer=looks_like_raw_image)
        self.axes = AxesField(self.image, "denoising and deconvolution")
        self.jobs = JobRunner(
            self,
            action="Prediction",
            run_text="Run",
            cancelled_text="Cancelled; no layers were changed.",
            on_run=self._start,
        )
        self._models = ModelPicker(self._show_model, busy=lambda: self.jobs.running)
        self.model, self.model_file = self._models.combo, self._models.file
        self.model_info = Label(value="")
        self.export_button = PushButton(text="Export to bioimage.io…")
        self.export_button.tooltip = (
            "Write the model as a BioImage Model Zoo package (.zip) for deepImageJ, QuPath, "
            "ilastik and bioimageio.core"
        )
        self.ask_export_path = lambda suggested: ask_package_path(self, suggested)
        self.ask_output_folder = lambda title: ask_folder(self, title)
        self.confirm_overwrite = lambda paths: ask_to_replace(self, paths)
        self.large_pixels = LARGE_LAYER_PIXELS
        self.tile = setting_box(PredictionConfig, "tile", "tile (px)", step=16)
        self.overlap = setting_box(PredictionConfig, "overlap", "overlap (px)")
        self.precision = choice_box(PredictionConfig, "precision", "precision")
        self.reference = self._layers.combo(
            "reference",
            optional=True,
            tooltip="Optional ground truth (e.g. the mean of a static recording) for PSNR",
        )
        self.run_button, self.progress, self.status = (
            self.jobs.button,
            self.jobs.progress,
            self.jobs.status,
        )
        self.grid_button = self.comparison.grid_button
        self.scores = Label(value="")
        for label in (self.model_info, self.scores):
            label.native.setWordWrap(True)
        self.form = Container(
            widgets=[
                self.image,
                self.axes.box,
                self.axes.info,
                self.model,
                self.model_file,
                self.model_info,
                self.export_button,
                self.tile,
                self.overlap,
                self.precision,
                self.reference,
                self.run_button,
            ]
        )
        after = Container(widgets=[self.scores, self.comparison.container])
        layout = scrolling_layout(self)
        for widget in (self.form.native, self.progress, self.status, after.native):
            layout.addWidget(widget)
        layout.addStretch()
        self._after = after
        self.jobs.lock(
            self.image,
            self.axes.box,
            self.model,
            self.model_file,
            self.export_button,
            self.tile,
            self.overlap,
            self.precision,
            self.reference,
        )
        self.jobs.add_teardown(
            self._layers.disconnect, self._models.disconnect, self.axes.disconnect
        )
        self.reference.changed.connect(self._rescore)
        self.export_button.changed.connect(lambda *_: self.export_bioimageio())
        self._show_model()

    # -- models -------------------------------------------------------------------------------
    def _show_model(self) -> None:
        if self._models.from_file:
            self.model_info.value = (
                "Choose a model file (.pt) written by napari-deconoising, or a bioimage.io "
                "package (.zip) it exported"
            )
            if not len(model_registry):
                self.model_info.value += f". No model yet? {ONE_CLICK_HINT}"
            return
        self.model_info.value = model_text(model_registry.get(self.model.value).info())

    # -- running ------------------------------------------------------------------------------
    def run(self) -> None:
        """Check the inputs and start the prediction in a worker."""
        self.jobs.trigger()

    def cancel(self) -> None:
        """Stop at the next batch of tiles; no layers are added."""
        self.jobs.stop()

    def _start(self) -> None:
        """Read the form (GUI thread) and hand the worker plain values."""
        image = self.axes.read()
        layer = self.image.value
        config = PredictionConfig(
            tile=self.tile.value, overlap=self.overlap.value, precision=self.precision.value
        )
        model, path = self._models.chosen("run")
        if model is not None:
            check_channel_count(model.n_channels, image)
        reference = self.reference.value
        truth, reference_name = (
            (None, "") if reference is None else (reference.data, reference.name)
        )
        self._last_progress = None
        if is_large(image, self.large_pixels):
            self._start_large(image, layer, model, path, config)
            return
        self._run_layer, self._run_axes = layer, image.axes
        self.jobs.start(
            predict,
            image,
            model,
            path,
            config,
            truth,
            reference_name,
            status=f"Running on '{layer.name}'…",
            on_event=self._on_event,
            on_done=self._on_done,
        )

    def _start_large(self, image: AxesImage, layer, model, path, config) -> None:
        """Ask for a folder (and, for existing outputs, a confirmation), then predict to disk."""
        folder = self.ask_output_folder(f"Folder for the outputs of '{layer.name}'")
        if not folder:
            self.status.value = "No folder chosen; nothing was run."
            return
        outputs = output_stores(folder, layer.name)
        inputs = [layer_source(layer), path]  # the layer's file or store, the model file
        overwrite = permission_to_write(outputs, inputs, self.confirm_overwrite)
        self._run_layer, self._run_axes = layer, image.axes
        self.jobs.start(
            predict_large,
            PredictionJob(image, *outputs),
            model,
            path,
            config,
            overwrite,
            status=f"Running on '{layer.name}', writing to {folder}…",
            on_event=self._on_event,
            on_done=self._on_large_done,
        )

    def _on_large_done(self, outcome: Outcome) -> None:
        if not isinstance(outcome, Finished):
            return
        prediction: LargePrediction = outcome.value
        self.raw = self._run_layer
        self.outputs = show_stores(self.viewer, self.raw, prediction)
        self.comparison.follow(self.raw, self._run_axes)
        self._report(prediction.result, f", read from {prediction.job.denoised.parent}")
        self.scores.value = ""

    def _on_event(self, event: Any) -> None:
        if isinstance(event, BlockProgress):
            done = event.progress
            eta = known_eta(event.elapsed_s, done)
            self.jobs.show_progress(done, f"block {event.blocks_done}/{event.blocks_total}", eta)
        elif isinstance(event, PredictionProgress):
            self._last_progress = event
            done = event.progress
            eta = known_eta(event.elapsed_s, done)
            self.jobs.show_progress(
                done,
                f"frame {event.frame + 1}/{event.n_frames} · tiles {event.tiles_done}/"
                f"{event.tiles_total}",
                eta,
            )
        elif isinstance(event, Loaded):
            event.register()

    def _on_done(self, outcome: Outcome) -> None:
        if not isinstance(outcome, Finished):
            return
        raw = self.raw = self._run_layer
        prediction: Prediction = outcome.value
        result = prediction.result
        self.outputs = [show_output(self.viewer, raw, f"{raw.name} denoised", result.denoised)]
        if not prediction.n2v:  # a Noise2Void model's "deconvolved" is its denoised image
            self.outputs.append(
                show_output(self.viewer, raw, f"{raw.name} deconvolved", result.deconvolved)
            )
        self.comparison.follow(raw, self._run_axes)
        self._report(result)
        self.scores.value = prediction.scores

    def _report(self, result: Any, where: str = "") -> None:
        """Say which layers were added (``where`` from), and the run's warnings."""
        self.jobs.complete(f"done in {result.seconds:.1f} s")
        added = " and ".join(f"'{layer.name}'" for layer in self.outputs)
        self.status.value = f"Added {added}{where}"
        for warning in result.warnings:
            notify_warning(warning)
            self.status.value += f". Warning: {warning}"

    # -- bioimage.io export ------------------------------------------------------------------
    def export_bioimageio(self, path: str | None = None) -> None:
        """Export the chosen model as a bioimage.io package to ``path`` (asked when None; an
        existing file given here is replaced only after a Yes to :attr:`confirm_overwrite`)."""
        self.jobs.trigger(lambda: self._start_export(path))

    def _start_export(self, path: str | None) -> None:
        model, model_path = self._models.chosen("export")
        suggested = suggested_package(self.model.value if model is not None else None, model_path)
        chosen = package_target(path, self.ask_export_path, suggested)
        if chosen is None:
            return
        target, confirmed = chosen
        confirm = (lambda paths: True) if confirmed else self.confirm_overwrite
        overwrite = permission_to_write([target], [model_path], confirm)
        self.jobs.start(
            export_package,
            model,
            model_path,
            str(target),
            overwrite,
            status=f"Exporting to {target.name}…",
            on_event=self._on_export_event,
            on_done=self._on_export_done,
        )

    def _on_export_event(self, event: Any) -> None:
        if isinstance(event, ExportProgress):
            self.jobs.show_progress(event.fraction, event.text)
        elif isinstance(event, Loaded):
            event.register()

    def _on_export_done(self, outcome: Outcome) -> None:
        if not isinstance(outcome, Finished):
            return
        from napari.utils.notifications import show_info

        export = outcome.value
        self.jobs.complete("exported")
        self.status.value = f"Exported '{export.name}' to {export.path}"
        show_info(f"bioimage.io package written: {export.path}")

    # -- comparison -----------------------------------------------------------------------------
    def _rescore(self, *_: Any) -> None:
        """Recompute the PSNR when the reference changes after a run."""
        if self.running or self.raw is None or not self.outputs:
            return
        if self.raw.data.size > SYNC_PSNR_PIXELS:
            self.scores.value = "Run again to compare with this reference."
            return
        reference = self.reference.value
        self.scores.value = scores_text(
            None if reference is None else layer_array(reference),
            "" if reference is None else reference.name,
            layer_array(self.raw),
            layer_array(self.outputs[0]),
        )

    def toggle_side_by_side(self, *_: Any) -> None:
        """Raw, denoised and deconvolved in a row (napari grid mode), or back to one view."""
        self.comparison.toggle_side_by_side()
