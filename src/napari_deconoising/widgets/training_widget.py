"""The Train widget: settings, a Train/Stop button, progress with ETA and a live loss plot."""

from __future__ import annotations

import functools
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from magicgui.widgets import ComboBox, Container, FileEdit, Label, PushButton
from qtpy.QtWidgets import QProgressBar, QVBoxLayout, QWidget
from superqt import QCollapsible

from ..errors import ConfigError, DeconoisingError, PSFError
from ..training import (
    CheckpointSaved,
    Trainer,
    TrainingFinished,
    TrainingStarted,
    TrainingStep,
    ValidationResult,
)
from ._common import (
    LayerChoices,
    check_image_layer,
    error_message,
    file_text,
    layer_array,
    looks_like_psf_name,
    looks_like_raw_image,
    notify_error,
    same_layer,
)
from ._models import model_registry
from ._workers import Failed, Job, Throttle, WorkerSlot, on_close
from .loss_plot import LossPlot
from .training_form import TrainingSettings

if TYPE_CHECKING:
    import napari

DECONOISING, N2V = "DecoNoising (with PSF)", "Noise2Void (no PSF)"
PROGRESS_STEPS = 1000


@functools.cache
def warm_up_torch() -> None:
    """Make torch do its one-time lazy imports here, in the GUI thread, while the widget opens.

    The first optimiser torch builds imports ``torch._dynamo`` (and sympy), and the first
    convolution sets up its CPU kernels: about a second of work that, done in the training
    worker, blocks the event loop for 100-600 ms.
    """
    import torch

    layer = torch.nn.Conv2d(1, 4, 3, padding=1)
    optimiser = torch.optim.Adam(layer.parameters())
    layer(torch.zeros(1, 1, 16, 16)).mean().backward()
    optimiser.step()


def models_folder() -> Path:
    """Where the widget proposes to save models: ``~/deconoising-models``."""
    return Path.home() / "deconoising-models"


def default_model_path(layer_name: str) -> Path:
    """``~/deconoising-models/<layer>-<YYYYmmdd-HHMMSS>.pt`` (the name made file-safe)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", layer_name).strip("-.") or "model"
    return models_folder() / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}.pt"


class TrainingWidget(QWidget):
    """Trains a DecoNoising (or Noise2Void) network on an image layer in a thread worker.

    The Train button turns into Stop while training runs; the progress bar shows the step and
    the ETA; the loss plot follows training and validation loss. When training ends (or is
    stopped) the best network is added to the shared model registry, where the
    Denoise & Deconvolve widget finds it.
    """

    def __init__(self, napari_viewer: napari.Viewer):
        super().__init__()
        warm_up_torch()
        self.viewer = napari_viewer
        self.model_name: str | None = None
        self.finished: TrainingFinished | None = None
        self._slot = WorkerSlot()
        self._last_step: TrainingStep | None = None
        self._auto_path = ""
        self._layers = LayerChoices(napari_viewer)
        self.image = self._layers.combo(
            "image", prefer=looks_like_raw_image, tooltip="A 2D image or a stack of 2D frames"
        )
        self.mode = ComboBox(label="method", choices=(DECONOISING, N2V), value=DECONOISING)
        self.psf = self._layers.combo(
            "PSF",
            optional=True,
            prefer=looks_like_psf_name,
            tooltip="The PSF layer (make one with the PSF widget)",
        )
        self.settings = TrainingSettings()
        self.model_file = FileEdit(label="save model to", mode="w", filter="*.pt")
        self.train_button = PushButton(text="Train")
        self.status = Label(value="")
        self.status.native.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, PROGRESS_STEPS)
        self.progress.setTextVisible(True)
        self.progress.setFormat("idle")
        self.loss_plot = LossPlot()
        self._progress_throttle = Throttle(self._show_progress, parent=self)
        self._build_layout()
        self.image.changed.connect(self._propose_path)
        self.mode.changed.connect(self._show_mode)
        self.train_button.changed.connect(self._on_button)
        self._propose_path()
        self._show_mode()
        on_close(self, self._teardown)

    def _build_layout(self) -> None:
        top = Container(widgets=[self.image, self.mode, self.psf])
        advanced = QCollapsible("Advanced settings")
        advanced.addWidget(self.settings.advanced.native)
        bottom = Container(widgets=[self.model_file, self.train_button])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (
            top.native,
            self.settings.main.native,
            advanced,
            bottom.native,
            self.progress,
            self.status.native,
            self.loss_plot,
        ):
            layout.addWidget(widget)
        self._containers = (top, bottom)

    # -- state --------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while a training worker runs."""
        return self._slot.running

    def _show_mode(self, *_: Any) -> None:
        n2v = self.mode.value == N2V
        self.psf.enabled = not n2v
        self.settings.positivity_weight.enabled = not n2v

    def _propose_path(self, *_: Any) -> None:
        """Suggest a new default file name unless the user typed their own."""
        current = file_text(self.model_file)
        if current in ("", self._auto_path):
            layer = self.image.value
            self._auto_path = str(default_model_path(layer.name if layer else "model"))
            self.model_file.value = self._auto_path

    def _set_running(self, running: bool) -> None:
        self.train_button.text = "Stop" if running else "Train"
        self.train_button.enabled = True
        for widget in (self.image, self.mode, self.psf, self.model_file):
            widget.enabled = not running
        self.settings.main.enabled = not running
        self.settings.advanced.enabled = not running
        if not running:
            self._show_mode()

    def _on_button(self, *_: Any) -> None:
        if self.running:
            self.stop()
        else:
            self.start()

    # -- actions ------------------------------------------------------------------------------
    def start(self) -> None:
        """Check the inputs and start training (a clear notification if they are unusable)."""
        if self.running:
            return
        try:
            layer, psf_layer, config, path = self._inputs()
        except (DeconoisingError, OSError) as err:
            self._fail(error_message(err, "Training"))
            return
        self.finished, self._last_step, self.model_name = None, None, None
        self.loss_plot.clear()
        self.progress.setValue(0)
        self.progress.setFormat("starting…")
        self.status.value = f"Preparing '{layer.name}'…"
        self._set_running(True)
        self._slot.start(
            _train,
            layer,
            psf_layer,
            config,
            path,
            layer.name,
            on_yield=self._on_event,
            on_return=self._on_model,
            on_finish=self._on_finish,
            action="Training",
        )

    def _inputs(self):
        layer = self.image.value
        check_image_layer(layer, "training")
        n2v = self.mode.value == N2V
        psf_layer = None if n2v else self.psf.value
        if not n2v and psf_layer is None:
            raise PSFError(
                "choose a PSF layer (make one with the PSF widget), or train in Noise2Void mode"
            )
        if same_layer(psf_layer, layer):
            raise PSFError(f"the PSF layer and the image are the same layer ('{layer.name}')")
        config = self.settings.config(n2v=n2v)
        if file_text(self.model_file) == self._auto_path:
            self._auto_path = ""
            self._propose_path()  # a fresh time stamp: runs never overwrite each other
        path = Path(file_text(self.model_file)).expanduser() if file_text(self.model_file) else None
        if path is not None:
            if path.is_dir():
                raise ConfigError(f"'{path}' is a folder; give a model file name")
            path.parent.mkdir(parents=True, exist_ok=True)
        return layer, psf_layer, config, path

    def stop(self) -> None:
        """End training at the next batch; the best network so far is kept."""
        if self.running:
            self._slot.stop()
            self.train_button.text = "Stopping…"
            self.train_button.enabled = False

    # -- worker events (GUI thread) -------------------------------------------------------------
    def _on_event(self, event: Any) -> None:
        if isinstance(event, TrainingStep):
            self._last_step = event
            self.loss_plot.add_train(event.step, event.train_loss)
            self._progress_throttle.request()
        elif isinstance(event, ValidationResult):
            self.loss_plot.add_validation(event.step, event.validation_loss)
        elif isinstance(event, TrainingStarted):
            self.status.value = (
                f"Training on {event.device}: {event.parameters:,} parameters, "
                f"{event.train_frames} training and {event.validation_frames} validation frames"
            )
        elif isinstance(event, CheckpointSaved):
            self.status.value = f"Saved the {event.kind} network (step {event.step})"
        elif isinstance(event, TrainingFinished):
            self.finished = event
        elif isinstance(event, Failed):
            self._fail(event.message)

    def _show_progress(self) -> None:
        event = self._last_step
        if event is None:
            return
        self.progress.setValue(round(event.progress * PROGRESS_STEPS))
        total = f"/{event.total_steps}" if event.total_steps else ""
        self.progress.setFormat(
            f"step {event.step}{total} · loss {event.train_loss:.3g} · ETA {_clock(event.eta_s)}"
        )

    def _on_model(self, result: tuple[Any, str] | None) -> None:
        if result is None:
            return
        model, name = result
        finished = self.finished
        path = finished.model_path if finished else None
        self.model_name = f"trained: {Path(path).stem if path else name}"
        model_registry.add(self.model_name, model, path)
        how = "stopped" if finished and finished.stopped else "done"
        summary = f"Training {how}"
        if finished is not None:
            summary += f": {finished.steps} steps in {_clock(finished.seconds)}"
            if finished.best_validation_loss is not None:
                summary += f", best validation loss {finished.best_validation_loss:.4g}"
        where = f"; saved to {path}" if path else ""
        ready = f"Ready in Denoise & Deconvolve as '{self.model_name}'."
        self.status.value = f"{summary}{where}. {ready}"

    def _fail(self, message: str) -> None:
        self.status.value = f"Error: {message}"
        notify_error(message)

    def _on_finish(self) -> None:
        self._progress_throttle.flush()
        self.loss_plot.update()
        if self.finished is not None and not self.finished.stopped:
            self.progress.setValue(PROGRESS_STEPS)
        if self.finished is None:
            self.progress.setFormat("idle")
        self._set_running(False)

    def _teardown(self) -> None:
        self._slot.quit()
        self._layers.disconnect()


def _train(job: Job, layer, psf_layer, config, path, name: str):
    """Worker: train, yielding engine events; return (model, name), or None after a failure."""
    try:
        images = layer_array(layer)
        psf = None if psf_layer is None else layer_array(psf_layer)
        trainer = Trainer(images, psf, config, path)
    except PSFError as err:
        label = f"PSF layer '{psf_layer.name}'" if psf_layer is not None else "PSF"
        yield Failed(f"{label} is not usable as a PSF: {err}")
        return None
    except DeconoisingError as err:
        yield Failed(str(err))
        return None
    job.bind(trainer.stop)
    try:
        yield from trainer.run()
    except DeconoisingError as err:
        yield Failed(str(err))
        return None
    return trainer.model, name


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
