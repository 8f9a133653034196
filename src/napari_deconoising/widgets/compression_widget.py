"""The Compress widget: make a trained model smaller and faster, fine-tuned on an image layer."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from magicgui.widgets import ComboBox, Container, FileEdit, PushButton
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QLabel, QProgressBar, QVBoxLayout, QWidget

from ..bundle import DecoNoisingModel, load_model
from ..compression import (
    PRESET_DESCRIPTIONS,
    PRESETS,
    CompressionFinished,
    CompressionReport,
    CompressionResult,
    CompressionStage,
    CompressionStep,
    Compressor,
)
from ..errors import Cancelled, ConfigError, DeconoisingError
from ._common import (
    LayerChoices,
    check_image_layer,
    error_message,
    file_text,
    layer_array,
    looks_like_raw_image,
    notify_error,
)
from ._models import LOAD_FILE, chosen_model, model_choices, model_registry
from ._workers import Failed, Job, Throttle, WorkerSlot, on_close
from .training_widget import models_folder

if TYPE_CHECKING:
    import napari

PROGRESS_STEPS = 1000
DEFAULT_PRESET = "balanced"


@dataclass(frozen=True)
class Loaded:
    """Yielded when the worker has read the model file."""

    model: DecoNoisingModel
    path: str


def compressed_path(source: str, preset: str) -> Path:
    """``~/deconoising-models/<source>-<preset>.pt`` (the name made file-safe)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", source).strip("-.") or "model"
    return models_folder() / f"{stem}-{preset}.pt"


def _plain_name(name: str) -> str:
    """A registry name without its "trained: "/"file: " prefix."""
    return name.split(": ", 1)[1] if ": " in name else name


class CompressionWidget(QWidget):
    """Compresses a model (just trained, or from a file) by pruning and fine-tuning on a layer.

    The Compress button turns into Cancel while the worker runs. At the end the report (size,
    speed and fidelity, measured in the run) is shown here, the model is saved to the chosen file
    and added to the shared model registry as "compressed: <name>", where the
    Denoise & Deconvolve widget finds it. A cancelled run writes nothing.
    """

    def __init__(self, napari_viewer: napari.Viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.result: CompressionResult | None = None
        self.model_name: str | None = None
        self._slot = WorkerSlot()
        self._last_event: Any = None
        self._auto_path = ""
        self._layers = LayerChoices(napari_viewer)
        self.model = ComboBox(label="model", choices=model_choices)
        self.model_file = FileEdit(label="model file", mode="r", filter="*.pt")
        self.image = self._layers.combo(
            "fine-tune on",
            prefer=looks_like_raw_image,
            tooltip="Images like those the model is for (no ground truth needed)",
        )
        self.preset = ComboBox(label="preset", choices=list(PRESETS), value=DEFAULT_PRESET)
        self.out_file = FileEdit(label="save to", mode="w", filter="*.pt")
        self.compress_button = PushButton(text="Compress")
        self.status = QLabel("")
        self.report = QLabel("")
        for label in (self.status, self.report):
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QProgressBar()
        self.progress.setRange(0, PROGRESS_STEPS)
        self.progress.setFormat("idle")
        self._throttle = Throttle(self._show_progress, parent=self)
        self._build_layout()
        self.model.changed.connect(self._on_model_choice)
        self.model_file.changed.connect(self._on_model_choice)
        self.preset.changed.connect(self._on_preset)
        self.compress_button.changed.connect(self._on_button)
        model_registry.changed.connect(self._on_models_changed)
        self._on_model_choice()
        self._on_preset()
        on_close(self, self._teardown)

    def _build_layout(self) -> None:
        self.form = Container(
            widgets=[
                self.model,
                self.model_file,
                self.image,
                self.preset,
                self.out_file,
                self.compress_button,
            ]
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.form.native, self.progress, self.status, self.report):
            layout.addWidget(widget)
        layout.addStretch()

    # -- choices ------------------------------------------------------------------------------
    def _on_models_changed(self, name: str) -> None:
        self.model.reset_choices()
        if name in model_registry and not self.running and not name.startswith("compressed: "):
            self.model.value = name  # a newly trained model is the one to compress
        self._on_model_choice()

    def _source_label(self) -> str:
        if self.model.value == LOAD_FILE:
            value = self.model_file.value
            return Path(value).stem if value and str(value).strip() else "model"
        return _plain_name(str(self.model.value))

    def _on_model_choice(self, *_: Any) -> None:
        self.model_file.visible = self.model.value == LOAD_FILE
        self._propose_path()

    def _on_preset(self, *_: Any) -> None:
        self.preset.tooltip = PRESET_DESCRIPTIONS[self.preset.value]
        self._propose_path()

    def _propose_path(self) -> None:
        """Suggest where to save unless the user typed their own file name."""
        current = file_text(self.out_file)
        if current in ("", self._auto_path):
            self._auto_path = str(compressed_path(self._source_label(), self.preset.value))
            self.out_file.value = self._auto_path

    def _chosen_model(self) -> tuple[DecoNoisingModel | None, str | None]:
        """(registered model, its file) or (None, path of a file to load in the worker)."""
        return chosen_model(self.model.value, file_text(self.model_file), "compress")

    # -- running ------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while a compression worker runs."""
        return self._slot.running

    def _on_button(self, *_: Any) -> None:
        if self.running:
            self.cancel()
        else:
            self.start()

    def start(self) -> None:
        """Check the inputs and start compressing in a worker."""
        if self.running:
            return
        try:
            layer = self.image.value
            check_image_layer(layer, "fine-tuning")
            model, source = self._chosen_model()
            out = file_text(self.out_file) or None
            if out is not None and source is not None and _same_file(out, source):
                raise ConfigError("save to another file: the original model is never overwritten")
        except DeconoisingError as err:
            self._fail(str(err))
            return
        self.result, self._last_event = None, None
        self.report.setText("")
        self.progress.setValue(0)
        self.progress.setFormat("starting…")
        self.status.setText(f"Compressing with preset {self.preset.value} on '{layer.name}'…")
        self._set_running(True)
        self._slot.start(
            _compress,
            model,
            source,
            layer,
            self.preset.value,
            out,
            self._source_label(),
            on_yield=self._on_event,
            on_return=self._on_result,
            on_error=self._on_error,
            on_finish=self._on_finish,
            action="Compression",
        )

    def cancel(self) -> None:
        """Stop at the next batch; nothing is saved or added."""
        if self.running:
            self._slot.stop()
            self.compress_button.text = "Cancelling…"
            self.compress_button.enabled = False

    def _set_running(self, running: bool) -> None:
        self.compress_button.text = "Cancel" if running else "Compress"
        self.compress_button.enabled = True
        for widget in (self.model, self.model_file, self.image, self.preset, self.out_file):
            widget.enabled = not running

    def _on_event(self, event: Any) -> None:
        if isinstance(event, (CompressionStep, CompressionStage, CompressionFinished)):
            self._last_event = event
            self._throttle.request()
        elif isinstance(event, Loaded):
            model_registry.add(f"file: {Path(event.path).stem}", event.model, event.path)
        elif isinstance(event, Failed):
            self._fail(event.message)

    def _show_progress(self) -> None:
        event = self._last_event
        if event is None:
            return
        self.progress.setValue(round(event.progress * PROGRESS_STEPS))
        if isinstance(event, CompressionStep):
            self.progress.setFormat(
                f"fine-tuning step {event.step} · about {event.eta_s:.0f} s left"
            )
        elif isinstance(event, CompressionStage):
            self.progress.setFormat(event.message)

    def _on_result(self, outcome: tuple[CompressionResult, str] | str | None) -> None:
        if outcome == "cancelled":
            self.status.setText("Cancelled; nothing was saved.")
            self.progress.setFormat("cancelled")
            return
        if not isinstance(outcome, tuple):
            return
        result, label = outcome
        self.result = result
        self.model_name = f"compressed: {label} ({result.report.preset})"
        path = None if result.path is None else str(result.path)
        model_registry.add(self.model_name, result.model, path)
        self.progress.setValue(PROGRESS_STEPS)
        self.progress.setFormat(f"done in {result.report.seconds:.0f} s")
        where = f"; saved to {path}" if path else ""
        self.status.setText(f"'{self.model_name}' is ready in Denoise & Deconvolve{where}")
        self.report.setText(report_html(result.report))

    def _on_error(self, err: BaseException) -> None:
        self._fail(error_message(err, "Compression"))

    def _fail(self, message: str) -> None:
        self.status.setText(f"Error: {message}")
        notify_error(message)

    def _on_finish(self) -> None:
        self._throttle.flush()
        self._set_running(False)

    def _teardown(self) -> None:
        self._slot.quit()
        self._layers.disconnect()
        model_registry.changed.disconnect(self._on_models_changed, missing_ok=True)


def report_html(report: CompressionReport) -> str:
    """The report as a small table: before, after and the gain, then the fidelity."""
    size = f"{report.frame_size}²"
    rows = [
        (
            "parameters",
            f"{report.params_before:,}",
            f"{report.params_after:,}",
            f"÷{report.param_reduction:.1f}",
        ),
        (
            "file",
            _size(report.bytes_before),
            _size(report.bytes_after),
            f"÷{report.size_reduction:.1f}",
        ),
        (
            f"ms/frame {size}",
            f"{report.ms_per_frame_before:.0f}",
            f"{report.ms_per_frame_after:.0f}",
            f"÷{report.speedup:.1f}",
        ),
    ]
    cells = "".join(
        "<tr>" + "".join(f"<td style='padding-right:8px'>{cell}</td>" for cell in row) + "</tr>"
        for row in [("", "original", "compressed", "gain"), *rows]
    )
    return (
        f"<table>{cells}</table>"
        f"<p>PSNR against the original ({report.evaluated_on}): denoised "
        f"<b>{report.psnr_denoised_vs_original:.1f} dB</b>, deconvolved "
        f"<b>{report.psnr_deconvolved_vs_original:.1f} dB</b></p>"
        f"<p>Preset {report.preset}: widths {report.widths_before} → {report.widths_after}, "
        f"{report.storage} weights; {report.fine_tune_steps} fine-tuning steps, "
        f"{report.seconds:.0f} s on {report.device}</p>"
    )


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.2f} MB" if n_bytes >= 1e5 else f"{n_bytes / 1e3:.0f} kB"


def _same_file(a: str, b: str) -> bool:
    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


def _compress(job: Job, model, source, layer, preset: str, out: str | None, label: str):
    """Worker: load the model if needed, compress, and return (result, label)."""
    try:
        if model is None:
            model = load_model(source)
            yield Loaded(model, source)
        data = layer.data if hasattr(layer.data, "shape") else layer_array(layer)
        compressor = Compressor(model, data, preset, out_path=out, source_path=source)
        job.bind(compressor.cancel)
        for event in compressor.run():
            if job.stopping:
                raise Cancelled("compression cancelled")
            yield event
    except Cancelled:
        return "cancelled"
    except DeconoisingError as err:
        yield Failed(str(err))
        return None
    return compressor.result, label
