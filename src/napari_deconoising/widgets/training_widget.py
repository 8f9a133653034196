"""The Train widget: settings, a Train/Stop button, progress with ETA and a live loss plot."""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import ComboBox, Container, FileEdit
from qtpy.QtWidgets import QVBoxLayout
from superqt import QCollapsible

from ..errors import ConfigError, PSFError
from ..psf import prepare_psf
from ..training import (
    CheckpointSaved,
    Trainer,
    TrainingFinished,
    TrainingStarted,
    TrainingStep,
    ValidationResult,
)
from ._axes import AxesField
from ._channel_psfs import ChannelPSFs
from ._common import (
    LayerChoices,
    SuggestedPath,
    file_text,
    looks_like_psf_name,
    looks_like_raw_image,
    models_folder,
    safe_stem,
    same_layer,
)
from ._jobs import Finished, Job, JobRunner, JobWidget, Outcome
from ._models import model_registry
from ._qt import clock
from .loss_plot import LossPlot
from .training_form import TrainingSettings

if TYPE_CHECKING:
    import napari
    from napari.layers import Image

DECONOISING, N2V = "DecoNoising (with PSF)", "Noise2Void (no PSF)"


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


def default_model_path(layer_name: str) -> Path:
    """``~/deconoising-models/<layer>-<YYYYmmdd-HHMMSS>.pt`` (the name made file-safe)."""
    return models_folder() / f"{safe_stem(layer_name)}-{time.strftime('%Y%m%d-%H%M%S')}.pt"


class TrainingWidget(JobWidget):
    """Trains a DecoNoising (or Noise2Void) network on an image layer in a thread worker.

    The Train button turns into Stop while training runs; the progress bar shows the step and
    the ETA; the loss plot follows training and validation loss. When training ends (or is
    stopped) the best network is added to the shared model registry, where the
    Denoise & Deconvolve widget finds it.

    The layer is read with its axes and pixel size (see :class:`~._axes.AxesField`). A layer
    with several channels trains one network per channel, each with the PSF chosen in its own
    "PSF channel N" dropdown (:class:`~._channel_psfs.ChannelPSFs`).
    """

    def __init__(self, napari_viewer: napari.Viewer):
        super().__init__()
        warm_up_torch()
        self.viewer = napari_viewer
        self.model_name: str | None = None
        self.finished: TrainingFinished | None = None
        self._last_step: TrainingStep | None = None
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
        self.settings = TrainingSettings()
        self.model_file = FileEdit(label="save model to", mode="w", filter="*.pt")
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
        self.channel_psfs = ChannelPSFs(self._layers, self._top, self.psf, self.jobs.lock)
        self.jobs.lock(
            self.image,
            self.axes.box,
            self.mode,
            self.psf,
            self.model_file,
            self.settings.main,
            self.settings.advanced,
        )
        self.jobs.add_teardown(self._layers.disconnect, self.axes.disconnect)
        self.image.changed.connect(self._path.update)
        self.mode.changed.connect(self._show_mode)
        self.axes.on_change = self._show_channels
        self._path.update()
        self._show_channels()

    def _build_layout(self) -> None:
        self.loss_plot = LossPlot()
        top = self._top = Container(
            widgets=[self.image, self.axes.box, self.axes.info, self.mode, self.psf]
        )
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
            self.status,
            self.loss_plot,
        ):
            layout.addWidget(widget)
        self._containers = (top, bottom)

    # -- state --------------------------------------------------------------------------------
    def _show_mode(self, *_: Any) -> None:
        n2v = self.mode.value == N2V
        self.psf.enabled = not n2v
        self.channel_psfs.set_enabled(not n2v)
        self.settings.positivity_weight.enabled = not n2v

    def _show_channels(self) -> None:
        self.channel_psfs.show(self.axes.n_channels)
        self._show_mode()

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

    def _start(self) -> None:
        """Read the form (GUI thread) and hand the worker plain values."""
        image = self.axes.read()
        layer = self.image.value
        n2v = self.mode.value == N2V
        psfs = [] if n2v else self._psfs(layer, image.n_channels)
        config = self.settings.config(n2v=n2v)
        self._path.renew()  # a fresh time stamp: runs never overwrite each other
        path = Path(file_text(self.model_file)).expanduser() if file_text(self.model_file) else None
        if path is not None:
            if path.is_dir():
                raise ConfigError(f"'{path}' is a folder; give a model file name")
            path.parent.mkdir(parents=True, exist_ok=True)
        self.finished, self._last_step, self.model_name = None, None, None
        self.loss_plot.clear()
        self.jobs.start(
            _train,
            image,
            psfs,
            config,
            path,
            layer.name,
            status=f"Preparing '{layer.name}' ({image.describe()})…",
            on_event=self._on_event,
            on_done=self._on_done,
        )

    def _psfs(self, layer: Image, n_channels: int) -> list[tuple[str, Any]]:
        """(label, pixels) of the PSF layer of each channel (one for a single channel)."""
        if n_channels > 1:
            self.channel_psfs.show(n_channels)
            chosen = self.channel_psfs.chosen(layer)
            return [
                (f"PSF layer '{psf.name}' (channel {channel})", psf.data)
                for channel, psf in enumerate(chosen)
            ]
        psf = self.psf.value
        if psf is None:
            raise PSFError(
                "choose a PSF layer (make one with the PSF widget), or train in Noise2Void mode"
            )
        if same_layer(psf, layer):
            raise PSFError(f"the PSF layer and the image are the same layer ('{layer.name}')")
        return [(f"PSF layer '{psf.name}'", psf.data)]

    # -- worker events (GUI thread) -------------------------------------------------------------
    def _on_event(self, event: Any) -> None:
        if isinstance(event, TrainingStep):
            self._last_step = event
            self.loss_plot.add_train(event.step, event.train_loss)
            total = f"/{event.total_steps}" if event.total_steps else ""
            self.jobs.show_progress(
                event.progress,
                f"step {event.step}{total} · loss {event.train_loss:.3g}",
                event.eta_s,
            )
        elif isinstance(event, ValidationResult):
            self.loss_plot.add_validation(event.step, event.validation_loss)
        elif isinstance(event, TrainingStarted):
            several = event.channels > 1
            networks = f"{event.channels} networks (one per channel), " if several else ""
            per_channel = " per channel" if several else ""
            self.jobs.status.value = (
                f"Training on {event.device}: {networks}{event.parameters:,} parameters, "
                f"{event.train_frames} training and {event.validation_frames} validation "
                f"frames{per_channel}"
            )
        elif isinstance(event, CheckpointSaved):
            self.jobs.status.value = f"Saved the {event.kind} network (step {event.step})"
        elif isinstance(event, TrainingFinished):
            self.finished = event

    def _on_done(self, outcome: Outcome) -> None:
        self.loss_plot.update()
        self._show_mode()
        if not isinstance(outcome, Finished):
            return
        model, name = outcome.value
        finished = self.finished
        if finished is not None and not finished.stopped:
            self.jobs.complete()
        path = finished.model_path if finished else None
        self.model_name = f"trained: {Path(path).stem if path else name}"
        model_registry.add(self.model_name, model, path)
        how = "stopped" if finished and finished.stopped else "done"
        summary = f"Training {how}"
        if finished is not None:
            summary += f": {finished.steps} steps in {clock(finished.seconds)}"
            if finished.best_validation_loss is not None:
                summary += f", best validation loss {finished.best_validation_loss:.4g}"
        where = f"; saved to {path}" if path else ""
        ready = f"Ready in Denoise & Deconvolve as '{self.model_name}'."
        self.jobs.status.value = f"{summary}{where}. {ready}"


def _train(job: Job, image, psfs: list[tuple[str, Any]], config, path, name: str):
    """Worker: train, yielding engine events; return (model, name)."""
    arrays = [np.asarray(pixels) for _, pixels in psfs]
    try:
        trainer = Trainer(image, arrays or None, config, path)
    except PSFError as err:
        raise PSFError(f"{_culprit(psfs, arrays)} is not usable as a PSF: {err}") from err
    job.bind(trainer.stop)
    yield from trainer.run()
    return trainer.model, name


def _culprit(psfs: list[tuple[str, Any]], arrays: list[np.ndarray]) -> str:
    """The label of the PSF that the engine refused (the first one it cannot prepare)."""
    for (label, _), array in zip(psfs, arrays, strict=True):
        try:
            prepare_psf(array)
        except PSFError:
            return label
    if len(psfs) == 1:
        return psfs[0][0]
    return "one of the PSF layers (" + ", ".join(label for label, _ in psfs) + ")"
