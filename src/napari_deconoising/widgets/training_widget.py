"""The Train widget: settings, a Train/Stop button, progress with ETA, a live loss plot and a
live preview; a new network or one whose training goes on."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from magicgui.widgets import ComboBox, Container, FileEdit, PushButton
from superqt import QCollapsible

from napari_deconoising.training.events import (
    CheckpointSaved,
    TrainingFinished,
    TrainingStarted,
    TrainingStep,
    ValidationResult,
)
from napari_deconoising.training.inputs import check_continuation
from napari_deconoising.widgets._axes import AxesField
from napari_deconoising.widgets._channel_psfs import ChannelPSFs
from napari_deconoising.widgets._common import (
    LayerChoices,
    SuggestedPath,
    file_text,
    looks_like_psf_name,
    looks_like_raw_image,
)
from napari_deconoising.widgets._continue import (
    ContinueFrom,
    model_psf_choice,
    relabel_psf_choices,
)
from napari_deconoising.widgets._jobs import Finished, JobRunner, JobWidget, Outcome
from napari_deconoising.widgets._model_files import default_model_path, permission_to_save
from napari_deconoising.widgets._models import Loaded, model_registry
from napari_deconoising.widgets._outputs import ConfirmOverwrite, ask_to_replace, file_output
from napari_deconoising.widgets._preview import PreviewReady
from napari_deconoising.widgets._preview_layers import LivePreview
from napari_deconoising.widgets._qt import TextLabel, scrolling_layout
from napari_deconoising.widgets._remembered import Remembered
from napari_deconoising.widgets._training_events import (
    finished_text,
    notes_text,
    registry_name,
    started_text,
    step_text,
)
from napari_deconoising.widgets._training_job import size_multiple, train_job, warm_up_torch
from napari_deconoising.widgets.loss_plot import LossPlot
from napari_deconoising.widgets.training_form import TrainingSettings

if TYPE_CHECKING:
    import napari
    from napari.layers import Image

DECONOISING, N2V = "DecoNoising (with PSF)", "Noise2Void (no PSF)"
#: The file (in the config folder) of the settings remembered between napari sessions.
REMEMBERED_NAME = "train-widget"
#: Its entry for whether "Advanced settings" is open.
ADVANCED_OPEN = "advanced_open"


class TrainingWidget(JobWidget):
    """Trains a DecoNoising (or Noise2Void) network on an image layer in a thread worker.

    The Train button turns into Stop while training runs; the progress bar shows the step and
    the ETA; the loss plot follows training and validation loss. When training ends (or is
    stopped) the best network is added to the shared model registry, where the
    Denoise & Deconvolve widget finds it.

    The layer is read with its axes and pixel size (see :class:`~._axes.AxesField`). A layer
    with several channels trains one network per channel, each with the PSF chosen in its own
    "PSF channel N" dropdown (:class:`~._channel_psfs.ChannelPSFs`).

    "continue from" (:class:`~._continue.ContinueFrom`) goes on training a model: its method
    and architecture are shown and fixed, its PSF is kept unless a PSF layer is chosen, and the
    step count and loss plot go on. While training, "live preview"
    (:class:`~._preview_layers.LivePreview`) shows the current network's output on the part of
    the image in view.

    Before training starts, the model file and its ``.last`` sibling are checked
    (:func:`~._model_files.permission_to_save`): the files of the image and PSF layers and that
    of the model being continued are never written over (for the latter a new name is proposed
    in "save model to"), and existing files are replaced only after a Yes to
    :attr:`confirm_overwrite`.

    The budget and the advanced settings are remembered the next time napari starts (stored on
    Train and on closing, see :meth:`_state`); "Reset to defaults" forgets them.
    """

    #: ``confirm_overwrite(paths)``: whether existing model files may be replaced.
    confirm_overwrite: ConfirmOverwrite

    def __init__(self, napari_viewer: napari.Viewer):
        super().__init__()
        warm_up_torch()
        self.viewer = napari_viewer
        self.model_name: str | None = None
        self.finished: TrainingFinished | None = None
        self._plotted: str | None = None  # the model whose training the loss plot shows
        self._continuing_shown = False
        self._before: tuple[str, Any] | None = None  # the method and PSF before continuing
        self._layers = LayerChoices(napari_viewer)
        self.image = self._layers.combo(
            "image",
            prefer=looks_like_raw_image,
            tooltip="A 2D image, a stack of frames, a volume or channels (see 'axes')",
        )
        self.mode = ComboBox(label="method", choices=(DECONOISING, N2V), value=DECONOISING)
        self.psf = self._layers.combo(
            "PSF",
            optional=True,
            prefer=looks_like_psf_name,
            tooltip="The PSF layer (make one with the PSF widget); with several channels, the "
            "PSF of every channel until set per channel below",
        )
        self.continue_from = ContinueFrom(self._show_form)
        self.settings = TrainingSettings()
        self.memory = Remembered(REMEMBERED_NAME)
        stored = self.memory.load()
        self.settings.recall({k: v for k, v in stored.items() if k != ADVANCED_OPEN})
        self.preview = LivePreview(napari_viewer)
        self.model_file = FileEdit(label="save model to", mode="w", filter="*.pt")
        self.confirm_overwrite = lambda paths: ask_to_replace(self, paths)
        self._path = SuggestedPath(self.model_file, self._suggested_path)
        self.jobs = JobRunner(
            self,
            action="Training",
            run_text="Train",
            stop_text="Stop",
            stopping_text="Stopping…",
            cancelled_text="Stopped before training began.",
            on_run=self._start,
        )
        self.train_button, self.progress, self.status = (
            self.jobs.button,
            self.jobs.progress,
            self.jobs.status,
        )
        self.axes = AxesField(self.image, "training")
        self._build_layout()
        if stored.get(ADVANCED_OPEN) is True:
            self.advanced.expand(animate=False)
        self.channel_psfs = ChannelPSFs(self._layers, self._top, self.psf, self._new_psf_combo)
        model_psf_choice(self.psf, lambda: self.continue_from.continuing)
        self.jobs.lock(
            self.image,
            self.axes.box,
            self.continue_from.combo,
            self.continue_from.file,
            self.mode,
            self.psf,
            self.model_file,
            self.settings.main,
            self.settings.advanced,
            self.reset_button,
        )
        self.jobs.add_teardown(
            self._remember_last,
            self._layers.disconnect,
            self.axes.disconnect,
            self.continue_from.disconnect,
            self.preview.disconnect,
        )
        self.image.changed.connect(self._path.update)
        self.mode.changed.connect(self._show_form)
        self.psf.changed.connect(self._show_form)
        self.settings.mode.changed.connect(self._show_form)
        self.axes.on_change = self._show_channels
        self._last_state = self._state()
        for signal in (self.settings.main.changed, self.settings.advanced.changed):
            signal.connect(self._note_state)
        self.advanced.toggled.connect(self._note_state)
        self.reset_button.changed.connect(self.reset_settings)
        self._path.update()
        self._show_channels()

    def _build_layout(self) -> None:
        self.loss_plot = LossPlot()
        #: What the run's notes say (the images' noise, the blind spot...), kept while it runs.
        self.notes = TextLabel()
        picker = self.continue_from
        top = self._top = Container(
            widgets=[
                self.image,
                self.axes.box,
                self.axes.info,
                picker.combo,
                picker.file,
                picker.info,
                self.mode,
                self.psf,
            ]
        )
        advanced = self.advanced = QCollapsible("Advanced settings")
        advanced.addWidget(self.settings.advanced.native)
        self.reset_button = PushButton(
            text="Reset to defaults",
            tooltip="Put the budget and the advanced settings back to their defaults and "
            "forget the ones remembered for the next time napari starts",
        )
        advanced.addWidget(self.reset_button.native)
        bottom = Container(widgets=[self.model_file, self.preview.checkbox, self.train_button])
        layout = scrolling_layout(self)
        for widget in (
            top.native,
            self.settings.main.native,
            advanced,
            bottom.native,
            self.progress,
            self.status,
            self.notes,
            self.loss_plot,
        ):
            layout.addWidget(widget)
        self._containers = (top, bottom)

    # -- state --------------------------------------------------------------------------------
    def _show_form(self, *_: Any) -> None:
        """Enable what the method and the "continue from" choice leave to the user."""
        picker = self.continue_from
        if picker.continuing != self._continuing_shown:
            self._switch_continuing(picker.continuing)
        model = picker.model
        self.settings.follow_model(None if model is None else model.channels[0], picker.continuing)
        if model is not None:
            mode = N2V if model.is_n2v else DECONOISING
            if self.mode.value != mode:
                self.mode.value = mode  # calls this again
                return
        if self.jobs.running:  # the job runner enables the locked widgets when it ends
            return
        n2v = self.mode.value == N2V
        self.mode.enabled = not picker.continuing
        self.psf.enabled = not n2v
        self.channel_psfs.set_enabled(not n2v)
        self.settings.positivity_weight.enabled = not n2v
        self.settings.design.enabled = not (n2v or picker.continuing)
        self._show_volume(n2v)

    def _show_volume(self, n2v: bool) -> None:
        """The 2D/3D settings follow the layer (Z or not) and the PSFs, as the engine decides
        (:meth:`~.training_form.TrainingSettings.follow_layer`)."""
        psfs = [] if n2v else self.channel_psfs.in_use()
        shapes = [tuple(psf.data.shape) for psf in psfs if psf is not None]
        self.settings.follow_layer(self.axes.image, shapes)

    def _show_channels(self) -> None:
        self.channel_psfs.show(self.axes.n_channels)
        self._show_form()

    def _switch_continuing(self, continuing: bool) -> None:
        """While continuing, an empty PSF dropdown reads "model's PSF" and is the default; the
        method and PSF the user had chosen come back afterwards."""
        self._continuing_shown = continuing
        if continuing:
            self._before = (self.mode.value, self.psf.value)
            self.psf.value = None
        relabel_psf_choices((self.psf, *self.channel_psfs.combos), continuing)
        if not continuing and self._before is not None:
            mode, psf = self._before
            self._before = None
            if psf is not None and psf in self.psf.choices:
                self.psf.value = psf
            self.mode.value = mode

    def _new_psf_combo(self, combo: Any) -> None:
        model_psf_choice(combo, lambda: self.continue_from.continuing)
        self.jobs.lock(combo)

    def _state(self) -> dict[str, Any]:
        """What is remembered between napari sessions (see :class:`TrainingWidget`)."""
        return {**self.settings.remembered(), ADVANCED_OPEN: self.advanced.isExpanded()}

    def _note_state(self, *_: Any) -> None:
        """Keep :meth:`_state` at hand for when the widget closes (its boxes may be gone)."""
        self._last_state = self._state()

    def _remember_last(self) -> None:
        """Store the last noted :meth:`_state` for the next time napari starts."""
        self.memory.save(self._last_state)

    def _suggested_path(self) -> Path:
        layer = self.image.value
        return default_model_path(layer.name if layer else "model")

    # -- actions ------------------------------------------------------------------------------
    def start(self) -> None:
        """Check the inputs and start training (a clear notification if they are unusable)."""
        self.jobs.trigger()

    def stop(self) -> None:
        """End training at the next batch; the best network so far is kept."""
        self.jobs.stop()

    def reset_settings(self, *_: Any) -> None:
        """Put the budget and the advanced settings back to their defaults and forget the
        remembered ones."""
        self.settings.reset()
        self.memory.forget()
        self._note_state()

    def _start(self) -> None:
        """Remember the settings, read the form (GUI thread) and hand the worker plain
        values."""
        self._note_state()
        self._remember_last()
        image = self.axes.read()
        layer = self.image.value
        init, init_path = self.continue_from.chosen()
        if init is not None:
            check_continuation(init, image.n_channels)  # the engine's message, before any work
        n2v = self.mode.value == N2V if init is None else init.is_n2v
        continuing = self.continue_from.continuing
        psfs = [] if n2v else self.channel_psfs.training_psfs(layer, image.n_channels, continuing)
        config = self.settings.config(n2v=n2v)
        path, overwrite = self._model_output(layer)
        self._new_run(continuing)
        multiple = size_multiple(init, init_path, config)
        slot = self.preview.begin(layer, image, multiple, n2v)
        self.jobs.start(
            train_job,
            image,
            psfs,
            config,
            path,
            overwrite,
            layer.name,
            init,
            init_path,
            slot,
            status=f"Preparing '{layer.name}' ({image.describe()})…",
            on_event=self._on_event,
            on_done=self._on_done,
        )

    def _model_output(self, layer: Image) -> tuple[Path | None, bool]:
        """The model file to save to (a fresh time stamp: runs never overwrite each other) and
        the engine's ``overwrite`` flag for it (see :class:`TrainingWidget`)."""
        self._path.renew()
        path = file_output(file_text(self.model_file))
        layers = [layer, self.psf.value, *(combo.value for combo in self.channel_psfs.active)]
        continued = self.continue_from.source_file
        return path, permission_to_save(
            path, layers, continued, self.confirm_overwrite, self._propose
        )

    def _new_run(self, continuing: bool) -> None:
        """Forget the last run; the loss plot goes on only for the model it shows."""
        self.finished, self.model_name = None, None
        self.notes.value = ""
        if not (continuing and self.continue_from.name == self._plotted):
            self.loss_plot.clear()
        self._plotted = None

    def _propose(self, path: Path) -> None:
        """Put a free model name in "save model to" (the one asked would write over an input)."""
        self.model_file.value = str(path)

    # -- worker events (GUI thread) -------------------------------------------------------------
    def _on_event(self, event: Any) -> None:
        if isinstance(event, TrainingStep):
            self.loss_plot.add_train(event.step, event.train_loss)
            self.jobs.show_progress(event.progress, step_text(event), event.eta_s)
        elif isinstance(event, PreviewReady):
            self.preview.show(event)
        elif isinstance(event, ValidationResult):
            self.loss_plot.add_validation(event.step, event.validation_loss)
        elif isinstance(event, TrainingStarted):
            self.jobs.status.value = started_text(event)
            self.notes.value = notes_text(event.notes)
            if event.first_step:
                self.loss_plot.mark(event.first_step)
        elif isinstance(event, Loaded):  # the model file to continue, read by the worker
            event.register()
            self.continue_from.select(f"file: {Path(event.path).stem}")
            self.preview.set_n2v(event.model.is_n2v)
        elif isinstance(event, CheckpointSaved):
            self.jobs.status.value = f"Saved the {event.kind} network (step {event.step})"
        elif isinstance(event, TrainingFinished):
            self.finished = event

    def _on_done(self, outcome: Outcome) -> None:
        self.preview.end()
        self.loss_plot.refresh()
        self._show_form()
        if not isinstance(outcome, Finished):
            return
        model, name = outcome.value
        finished = self.finished
        if finished is not None and not finished.stopped:
            self.jobs.complete()
        self.model_name = registry_name(finished, name)
        model_registry.add(self.model_name, model, finished.model_path if finished else None)
        self._plotted = self.model_name
        if self.continue_from.continuing:  # a later run goes on from where this one ended
            self.continue_from.select(self.model_name)
        self.jobs.status.value = finished_text(finished, self.model_name)
