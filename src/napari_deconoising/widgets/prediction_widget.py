"""The Denoise & Deconvolve widget: apply a model to an image layer, tile by tile."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import ComboBox, Container, FileEdit, Label, PushButton, SpinBox
from qtpy.QtWidgets import QProgressBar, QVBoxLayout, QWidget

from ..bundle import DecoNoisingModel, load_model
from ..config import PredictionConfig
from ..errors import Cancelled, DeconoisingError
from ..metrics import psnr
from ..prediction import PredictionProgress, PredictionResult, Predictor
from ._common import (
    LayerChoices,
    check_image_layer,
    file_text,
    layer_array,
    looks_like_raw_image,
    notify_error,
    same_layer,
    show_output,
)
from ._grid import SideBySide
from ._models import LOAD_FILE, chosen_model, model_choices, model_registry
from ._workers import Failed, Job, Throttle, WorkerSlot, on_close

if TYPE_CHECKING:
    import napari
    from napari.layers import Image

PROGRESS_STEPS = 1000
#: Above this many pixels the PSNR is not recomputed in the GUI thread when the reference changes.
SYNC_PSNR_PIXELS = 16_000_000


@dataclass
class Outcome:
    """What a prediction worker returns."""

    result: PredictionResult
    scores: str
    n2v: bool


@dataclass(frozen=True)
class Loaded:
    """Yielded when the worker has read a model file."""

    model: DecoNoisingModel
    path: str


class PredictionWidget(QWidget):
    """Runs a model on an image layer and shows "<raw> denoised" and "<raw> deconvolved".

    The output layers take the raw layer's scale, translate and contrast limits and are
    replaced in place by later runs. "Side by side" shows raw, denoised and deconvolved in
    napari's grid mode. With a reference layer, the PSNR of raw and denoised is shown.
    """

    def __init__(self, napari_viewer: napari.Viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.outputs: list[Image] = []
        self.raw: Image | None = None
        self._run_layer: Image | None = None
        self._slot = WorkerSlot()
        self._last_progress: PredictionProgress | None = None
        self._side_by_side = SideBySide(napari_viewer)
        self._layers = LayerChoices(napari_viewer)
        defaults = PredictionConfig()
        self.image = self._layers.combo("image", prefer=looks_like_raw_image)
        self.model = ComboBox(label="model", choices=model_choices)
        self.model_file = FileEdit(label="model file", mode="r", filter="*.pt")
        self.model_info = Label(value="")
        self.tile = SpinBox(label="tile (px)", value=defaults.tile, min=16, max=8192, step=16)
        self.overlap = SpinBox(label="overlap (px)", value=defaults.overlap, min=0, max=4000)
        self.reference = self._layers.combo(
            "reference",
            optional=True,
            tooltip="Optional ground truth (e.g. the mean of a static recording) for PSNR",
        )
        self.run_button = PushButton(text="Run")
        self.grid_button = PushButton(text="Side by side")
        self.status = Label(value="")
        self.scores = Label(value="")
        for label in (self.model_info, self.status, self.scores):
            label.native.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, PROGRESS_STEPS)
        self.progress.setFormat("idle")
        self._progress_throttle = Throttle(self._show_progress, parent=self)
        self.form = Container(
            widgets=[
                self.image,
                self.model,
                self.model_file,
                self.model_info,
                self.tile,
                self.overlap,
                self.reference,
                self.run_button,
            ]
        )
        after = Container(widgets=[self.status, self.scores, self.grid_button])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.form.native, self.progress, after.native):
            layout.addWidget(widget)
        layout.addStretch()
        self._after = after
        self.model.changed.connect(self._show_model)
        self.model_file.changed.connect(self._show_model)
        self.reference.changed.connect(self._rescore)
        self.run_button.changed.connect(self._on_button)
        self.grid_button.changed.connect(self.toggle_side_by_side)
        model_registry.changed.connect(self._on_models_changed)
        self._show_model()
        on_close(self, self._teardown)

    # -- models -------------------------------------------------------------------------------
    def _on_models_changed(self, name: str) -> None:
        """Relist the models, newest first, and select a newly added one."""
        previous = self.model.value
        with self.model.changed.blocked():
            self.model.native.clear()  # magicgui keeps old items in place: rebuild in order
            self.model.reset_choices()
            if name in model_registry and not self.running:
                self.model.value = name  # the newest model is the one to try
            elif previous in self.model.choices:
                self.model.value = previous
        self._show_model()

    def _show_model(self, *_: Any) -> None:
        from_file = self.model.value == LOAD_FILE
        self.model_file.visible = from_file
        if from_file:
            self.model_info.value = "Choose a model file (.pt) written by napari-deconoising"
            return
        info = model_registry.get(self.model.value).info()
        kind = "Noise2Void" if info["kind"] == "n2v" else "DecoNoising"
        psf = f", PSF {info['psf_shape'][0]} px" if info["psf_shape"] else ""
        self.model_info.value = f"{kind}, {info['parameters']:,} parameters{psf}"

    # -- running ------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while a prediction worker runs."""
        return self._slot.running

    def _on_button(self, *_: Any) -> None:
        if self.running:
            self.cancel()
        else:
            self.run()

    def run(self) -> None:
        """Check the inputs and start the prediction in a worker."""
        if self.running:
            return
        try:
            layer = self.image.value
            check_image_layer(layer, "denoising and deconvolution")
            config = PredictionConfig(tile=self.tile.value, overlap=self.overlap.value)
            model, path = self._chosen_model()
        except DeconoisingError as err:
            self._fail(str(err))
            return
        self._last_progress = None
        self._run_layer = layer
        self.progress.setValue(0)
        self.progress.setFormat("starting…")
        self.status.value = f"Running on '{layer.name}'…"
        self._set_running(True)
        self._slot.start(
            _predict,
            layer,
            model,
            path,
            config,
            self.reference.value,
            on_yield=self._on_event,
            on_return=self._on_result,
            on_finish=self._on_finish,
            action="Prediction",
        )

    def _chosen_model(self) -> tuple[DecoNoisingModel | None, str | None]:
        return chosen_model(self.model.value, file_text(self.model_file), "run")

    def cancel(self) -> None:
        """Stop at the next batch of tiles; no layers are added."""
        if self.running:
            self._slot.stop()
            self.run_button.text = "Cancelling…"
            self.run_button.enabled = False

    def _set_running(self, running: bool) -> None:
        self.run_button.text = "Cancel" if running else "Run"
        self.run_button.enabled = True
        for widget in (
            self.image,
            self.model,
            self.model_file,
            self.tile,
            self.overlap,
            self.reference,
        ):
            widget.enabled = not running

    def _on_event(self, event: Any) -> None:
        if isinstance(event, PredictionProgress):
            self._last_progress = event
            self._progress_throttle.request()
        elif isinstance(event, Loaded):
            model_registry.add(f"file: {Path(event.path).stem}", event.model, event.path)
        elif isinstance(event, Failed):
            self._fail(event.message)

    def _show_progress(self) -> None:
        event = self._last_progress
        if event is not None:
            self.progress.setValue(round(event.progress * PROGRESS_STEPS))
            self.progress.setFormat(
                f"frame {event.frame + 1}/{event.n_frames} · tiles {event.tiles_done}/"
                f"{event.tiles_total}"
            )

    def _on_result(self, outcome: Outcome | str | None) -> None:
        if outcome == "cancelled":
            self.status.value = "Cancelled; no layers were changed."
            self.progress.setFormat("cancelled")
            return
        if not isinstance(outcome, Outcome):
            return
        raw = self.raw = self._run_layer
        result = outcome.result
        self.outputs = [show_output(self.viewer, raw, f"{raw.name} denoised", result.denoised)]
        if not outcome.n2v:  # a Noise2Void model's "deconvolved" is its denoised image
            self.outputs.append(
                show_output(self.viewer, raw, f"{raw.name} deconvolved", result.deconvolved)
            )
        self.progress.setValue(PROGRESS_STEPS)
        self.progress.setFormat(f"done in {result.seconds:.1f} s")
        self.status.value = "Added " + " and ".join(f"'{layer.name}'" for layer in self.outputs)
        self.scores.value = outcome.scores

    def _fail(self, message: str) -> None:
        self.status.value = f"Error: {message}"
        notify_error(message)

    def _on_finish(self) -> None:
        self._progress_throttle.flush()
        self._set_running(False)

    # -- comparison -----------------------------------------------------------------------------
    def _rescore(self, *_: Any) -> None:
        """Recompute the PSNR when the reference changes after a run."""
        if self.running or self.raw is None or not self.outputs:
            return
        if self.raw.data.size > SYNC_PSNR_PIXELS:
            self.scores.value = "Run again to compare with this reference."
            return
        self.scores.value = scores_text(
            self.reference.value, layer_array(self.raw), layer_array(self.outputs[0])
        )

    def toggle_side_by_side(self, *_: Any) -> None:
        """Raw, denoised and deconvolved in a row (napari grid mode), or back to one view."""
        if self._side_by_side.active:
            self._side_by_side.leave()
            self.grid_button.text = "Side by side"
            return
        present = any(same_layer(self.raw, layer) for layer in self.viewer.layers)
        raw = self.raw if present else None
        names = [raw.name] if raw is not None else []
        names += [f"{raw.name} denoised", f"{raw.name} deconvolved"] if raw is not None else []
        layers = [self.viewer.layers[n] for n in names if n in self.viewer.layers]
        if len(layers) < 2:
            notify_error("Run Denoise & Deconvolve first: there is nothing to compare yet")
            return
        self._side_by_side.enter(layers)
        self.grid_button.text = "Single view"

    def _teardown(self) -> None:
        self._slot.quit()
        self._layers.disconnect()
        model_registry.changed.disconnect(self._on_models_changed)


def scores_text(reference, raw: np.ndarray, denoised: np.ndarray) -> str:
    """'PSNR against <ref>: raw .. dB, denoised .. dB', or why it cannot be computed."""
    if reference is None:
        return ""
    truth = layer_array(reference)
    try:
        raw_db, denoised_db = psnr(truth, raw), psnr(truth, denoised)
    except ValueError:
        return (
            f"PSNR: reference '{reference.name}' has shape {truth.shape}, the image "
            f"{np.shape(raw)}; they must match (or the reference be one frame)"
        )
    return (
        f"PSNR against '{reference.name}': raw {raw_db:.2f} dB, denoised {denoised_db:.2f} dB "
        f"({denoised_db - raw_db:+.2f} dB)"
    )


def _predict(job: Job, layer, model, path, config: PredictionConfig, reference):
    """Worker: load the model if needed, predict, and score against the reference."""
    try:
        if model is None:
            model = load_model(path)
            yield Loaded(model, path)
        image = layer_array(layer)
        predictor = Predictor(model, config)
        job.bind(predictor.cancel)
        result = None
        for item in predictor.run(image):
            if job.stopping:
                raise Cancelled("prediction cancelled")
            if isinstance(item, PredictionResult):
                result = item
            else:
                yield item
    except Cancelled:
        return "cancelled"
    except DeconoisingError as err:
        yield Failed(str(err))
        return None
    return Outcome(result, scores_text(reference, image, result.denoised), model.is_n2v)
