"""The One-click widget: from a raw layer to denoised and deconvolved layers with one button."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from magicgui.widgets import CheckBox, Container, Label

from napari_deconoising.config.prediction import PredictionConfig
from napari_deconoising.config.training import TrainingConfig
from napari_deconoising.errors import DeconoisingError, ImageError
from napari_deconoising.io.axes import AxesImage
from napari_deconoising.job_control import known_eta
from napari_deconoising.prediction.predictor import PredictionProgress
from napari_deconoising.training.events import TrainingFinished, TrainingStarted, TrainingStep
from napari_deconoising.widgets._axes import AxesField
from napari_deconoising.widgets._common import (
    LayerChoices,
    looks_like_psf_name,
    looks_like_raw_image,
    models_folder,
    notify_warning,
    show_output,
)
from napari_deconoising.widgets._comparison import Comparison
from napari_deconoising.widgets._jobs import Finished, JobRunner, JobWidget, Outcome
from napari_deconoising.widgets._large_layers import LARGE_LAYER_PIXELS, is_large
from napari_deconoising.widgets._model_files import default_model_path, permission_to_save
from napari_deconoising.widgets._models import model_registry
from napari_deconoising.widgets._oneclick import (
    OneClickResult,
    Predicting,
    train_and_predict,
    training_config,
)
from napari_deconoising.widgets._outputs import ConfirmOverwrite, ask_to_replace
from napari_deconoising.widgets._qt import clock, scrolling_layout
from napari_deconoising.widgets._settings import setting_box
from napari_deconoising.widgets._training_events import step_text
from napari_deconoising.widgets._training_job import warm_up_torch
from napari_deconoising.widgets._used_psf import UsedPSF, automatic_psf, layer_psf

if TYPE_CHECKING:
    import napari
    from napari.layers import Image

#: The training budget the widget starts with (minutes): a first result within a coffee.
DEFAULT_MINUTES = 2.0
RUN_TEXT = "Denoise && deconvolve"  # "&&" shows one "&" on a Qt button
NOTHING_YET = "Click 'Denoise & deconvolve' first: there is nothing to compare yet"


class OneClickWidget(JobWidget):
    """Trains a DecoNoising network on a layer with the engine's defaults, then denoises and
    deconvolves the layer with it: ``<raw> denoised`` and ``<raw> deconvolved`` (replaced by a
    later run, never duplicated).

    The PSF is a PSF layer (the PSF widget's ``PSF``, a layer named like a PSF is chosen when
    there is one) or, with "(none)", an automatic one
    (:func:`~napari_deconoising.data.automatic_psf.automatic_psf`): a Gaussian for the optics the
    layer's OME-TIFF file records, else for typical optics, at the layer's pixel size and
    z-step; without a pixel size, a Gaussian whose width is estimated from the layer's
    spectrum. The line under the box says which, with its lateral and axial FWHM. A layer with
    Z and a 3D PSF trains a 3D network (``mode="auto"``, with the engine's 3D defaults).
    Training runs for "minutes" (the button turns into Cancel; a cancelled run changes no
    layer), then the prediction. The model is kept in memory and offered by Denoise &
    Deconvolve (for other layers) as ``one-click: <layer>``; it is written only with "save the
    model", to
    ``~/deconoising-models/<layer>-<time>.pt``, and the status says where. Afterwards, "Side by
    side" and, for a z-stack, "orthogonal views" compare raw, denoised and deconvolved.

    :attr:`settings` holds training settings put on top of the defaults (``steps`` replaces the
    minutes), for scripts and tests.
    """

    #: ``confirm_overwrite(paths)``: whether existing model files may be replaced.
    confirm_overwrite: ConfirmOverwrite

    def __init__(self, napari_viewer: napari.Viewer):
        super().__init__()
        warm_up_torch()
        self.viewer = napari_viewer
        self.settings: dict[str, Any] = {}
        self.outputs: list[Image] = []
        self.psf_used: UsedPSF | None = None
        self.finished: TrainingFinished | None = None
        self._run: tuple[Image, AxesImage, UsedPSF] | None = None
        self._mode = ""
        self._layers = LayerChoices(napari_viewer)
        self.image = self._layers.combo(
            "image", prefer=looks_like_raw_image, tooltip="The noisy recording: 2D, frames, z-stack"
        )
        self.psf = self._layers.combo(
            "PSF",
            optional=True,
            prefer=looks_like_psf_name,
            tooltip="A PSF layer (the PSF widget makes one); (none): a Gaussian for the file's or "
            "typical optics at the layer's pixel size, else estimated from the layer's spectrum",
        )
        self.psf_info = Label(value="")
        self.minutes = setting_box(
            TrainingConfig, "minutes", "training (minutes)", value=DEFAULT_MINUTES, step=0.5,
            resolution=0.01, tooltip="How long the network trains; longer is cleaner",
        )  # fmt: skip
        self.save_model = CheckBox(
            label="save the model",
            value=False,
            tooltip=f"Also write the model to {models_folder()} (else it is kept in memory only)",
        )
        self.confirm_overwrite = lambda paths: ask_to_replace(self, paths)
        self.jobs = JobRunner(
            self,
            action="Denoise & deconvolve",
            run_text=RUN_TEXT,
            cancelled_text="Cancelled; no layers were changed.",
            on_run=self._start,
        )
        self.run_button, self.progress, self.status = (
            self.jobs.button,
            self.jobs.progress,
            self.jobs.status,
        )
        self.axes = AxesField(self.image, "denoising and deconvolution")
        self.comparison = Comparison(napari_viewer, NOTHING_YET)
        self._build_layout()
        self.jobs.lock(self.image, self.axes.box, self.psf, self.minutes, self.save_model)
        self.jobs.add_teardown(self._layers.disconnect, self.axes.disconnect)
        self.psf.changed.connect(self._describe_psf)
        self.axes.on_change = self._describe_psf
        self._describe_psf()

    def _build_layout(self) -> None:
        self.psf_info.native.setWordWrap(True)
        intro = Label(value="Trains on the layer itself (no clean data needed), then adds the "
                      "denoised and deconvolved layers.")  # fmt: skip
        intro.native.setWordWrap(True)
        form = Container(
            widgets=[
                intro,
                self.image,
                self.axes.box,
                self.axes.info,
                self.psf,
                self.psf_info,
                self.minutes,
                self.save_model,
                self.run_button,
            ]
        )
        layout = scrolling_layout(self)
        for widget in (form.native, self.progress, self.status, self.comparison.container.native):
            layout.addWidget(widget)
        layout.addStretch()

    # -- the PSF ------------------------------------------------------------------------------
    def chosen_psf(self) -> UsedPSF:
        """The PSF a run would use now; :class:`ImageError` when the layer cannot be read."""
        layer = self.psf.value
        if layer is not None:
            return layer_psf(layer)
        return automatic_psf(self.axes.read())

    def _describe_psf(self, *_: Any) -> None:
        """Say which PSF a run would use (or why the layer cannot be used)."""
        try:
            self.psf_info.value = f"PSF: {self.chosen_psf().text}"
        except DeconoisingError as err:
            self.psf_info.value = f"PSF: none yet ({err})"

    # -- running ------------------------------------------------------------------------------
    def run(self) -> None:
        """Check the inputs and start training, then prediction, in a worker."""
        self.jobs.trigger()

    def cancel(self) -> None:
        """Stop at the next training step or batch of tiles; no layers are changed."""
        self.jobs.stop()

    def _start(self) -> None:
        """Read the form (GUI thread) and hand the worker plain values."""
        image = self.axes.read()
        layer = self.image.value
        if is_large(image, LARGE_LAYER_PIXELS):
            raise ImageError(
                f"layer '{layer.name}' is too large for one click (over {LARGE_LAYER_PIXELS:,} "
                "pixels, or not in memory): use Train, then Denoise & Deconvolve, which writes "
                "large outputs to disk block by block"
            )
        psf = self.chosen_psf()
        config = training_config(image, psf.pixels, self.minutes.value, self.settings)
        path, overwrite = self._model_output(layer)
        self._run, self._mode, self.finished = (layer, image, psf), config.mode, None
        self.jobs.start(
            train_and_predict,
            image,
            psf,
            config,
            None if path is None else str(path),
            overwrite,
            PredictionConfig(),
            status=f"Training on '{layer.name}' ({image.describe()}) with {psf.label}…",
            on_event=self._on_event,
            on_done=self._on_done,
        )

    def _model_output(self, layer: Image) -> tuple[Any, bool]:
        """The model file (None unless "save the model") and the engine's ``overwrite`` flag."""
        if not self.save_model.value:
            return None, False
        path = default_model_path(layer.name)
        layers = [layer, self.psf.value]
        return path, permission_to_save(path, layers, None, self.confirm_overwrite, _no_proposal)

    def _on_event(self, event: Any) -> None:
        if isinstance(event, TrainingStep):
            text = f"training {self._mode.upper()} (1/2): {step_text(event)}"
            self.jobs.show_progress(event.progress, text, event.eta_s)
        elif isinstance(event, TrainingStarted):
            self.jobs.status.value = f"Training a {event.mode.upper()} network on {event.device}…"
        elif isinstance(event, TrainingFinished):
            self.finished = event
        elif isinstance(event, Predicting):
            self.jobs.status.value = "Denoising and deconvolving…"
            self.jobs.show_progress(0.0, "predicting (2/2)")
        elif isinstance(event, PredictionProgress):
            eta = known_eta(event.elapsed_s, event.progress)
            tiles = f"tiles {event.tiles_done}/{event.tiles_total}"
            self.jobs.show_progress(event.progress, f"predicting (2/2): {tiles}", eta)

    def _on_done(self, outcome: Outcome) -> None:
        if not isinstance(outcome, Finished) or self._run is None:
            return
        raw, image, psf = self._run
        result: OneClickResult = outcome.value
        denoised = result.prediction.result
        self.outputs = [
            show_output(self.viewer, raw, f"{raw.name} denoised", denoised.denoised),
            show_output(self.viewer, raw, f"{raw.name} deconvolved", denoised.deconvolved),
        ]
        self.psf_used = psf
        model_name = f"one-click: {raw.name}"
        path = self.finished.model_path if self.finished else None
        model_registry.add(model_name, result.model, path)
        self.jobs.complete("done")
        self.comparison.follow(raw, image.axes)
        self.status.value = self._report(model_name, path)
        for warning in denoised.warnings:
            notify_warning(warning)

    def _report(self, model_name: str, path: str | None) -> str:
        """What the run did: the layers added, the training, the PSF, where the model is."""
        added = " and ".join(f"'{layer.name}'" for layer in self.outputs)
        finished = self.finished
        lines = [f"Added {added}."]
        if finished is not None:
            steps, time = finished.steps, clock(finished.seconds)
            lines.append(f"Trained {self._mode.upper()}: {steps} steps in {time}.")
        where = f"saved to {path}" if path else "not saved (tick 'save the model' to keep it)"
        lines += [
            f"PSF: {self.psf_used.text}.",
            f"Model {where}; Denoise & Deconvolve offers it as '{model_name}' for other layers.",
        ]
        return "\n".join(lines)


def _no_proposal(path: Any) -> None:
    """Nothing to propose: a new model never continues another (see ``permission_to_save``)."""
