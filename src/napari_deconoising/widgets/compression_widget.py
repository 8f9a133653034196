"""The Compress widget: make a trained model smaller and faster, fine-tuned on an image layer."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any

from magicgui.widgets import ComboBox, Container, FileEdit

from napari_deconoising.compression import (
    PRESET_DESCRIPTIONS,
    PRESETS,
    CompressionReport,
    CompressionStage,
    CompressionStep,
    Compressor,
)
from napari_deconoising.compression.inputs import refuse_original
from napari_deconoising.data.channels import check_channel_count
from napari_deconoising.data.stacks import channel_stacks
from napari_deconoising.model.bundle import single_channel
from napari_deconoising.widgets._axes import AxesField
from napari_deconoising.widgets._common import (
    LayerChoices,
    SuggestedPath,
    file_text,
    looks_like_raw_image,
    models_folder,
    safe_stem,
)
from napari_deconoising.widgets._jobs import Finished, Job, JobRunner, JobWidget, Outcome
from napari_deconoising.widgets._models import (
    LOAD_FILE,
    Loaded,
    ModelPicker,
    load_if_needed,
    model_registry,
)
from napari_deconoising.widgets._outputs import (
    ConfirmOverwrite,
    ask_to_replace,
    file_output,
    layer_source,
    permission_to_write,
)
from napari_deconoising.widgets._qt import TextLabel, scrolling_layout

if TYPE_CHECKING:
    import napari

    from napari_deconoising.compression import CompressionResult

__all__ = ["LOAD_FILE", "CompressionWidget", "compressed_path", "report_html"]

#: The preset the engine uses when none is named.
DEFAULT_PRESET = inspect.signature(Compressor).parameters["preset"].default
#: Prefix of the registry names of compressed models.
COMPRESSED = "compressed: "
#: Axes of a layer whose array :class:`Compressor` takes as it is: one image, or one stack of
#: them (frames, time points or planes), Y and X last.
FRAME_STACK_AXES = ("YX", "SYX", "TYX", "ZYX")


def compressed_path(source: str, preset: str) -> Path:
    """``~/deconoising-models/<source>-<preset>.pt`` (the name made file-safe)."""
    return models_folder() / f"{safe_stem(source)}-{preset}.pt"


def _plain_name(name: str) -> str:
    """A registry name without its "trained: "/"file: " prefix."""
    return name.split(": ", 1)[1] if ": " in name else name


class CompressionWidget(JobWidget):
    """Compresses a model (just trained, or from a file) by pruning and fine-tuning on a layer.

    The Compress button turns into Cancel while the worker runs. At the end the report (size,
    speed and fidelity, measured in the run) is shown here, the model is saved to the chosen file
    and added to the shared model registry as "compressed: <name>", where the
    Denoise & Deconvolve widget finds it. A cancelled run writes nothing. Compression works
    on single-channel models (and images of one channel) only, for now.

    Before it starts, "save to" is checked (:func:`~._outputs.permission_to_write`): the
    original model's file and the layer's file are never written over, and an existing file
    is replaced only after a Yes to :attr:`confirm_overwrite`.
    """

    #: ``confirm_overwrite(paths)``: whether an existing file may be replaced.
    confirm_overwrite: ConfirmOverwrite

    def __init__(self, napari_viewer: napari.Viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.result: CompressionResult | None = None
        self.model_name: str | None = None
        self._layers = LayerChoices(napari_viewer)
        self.jobs = JobRunner(
            self,
            action="Compression",
            run_text="Compress",
            cancelled_text="Cancelled; nothing was saved.",
            on_run=self._start,
        )
        self._models = ModelPicker(
            self._propose_path,
            busy=lambda: self.jobs.running,
            adopt=lambda name: not name.startswith(COMPRESSED),  # compress what was trained
        )
        self.model, self.model_file = self._models.combo, self._models.file
        self.image = self._layers.combo(
            "fine-tune on",
            prefer=looks_like_raw_image,
            tooltip="Images like those the model is for (no ground truth needed)",
        )
        self.axes = AxesField(self.image, "fine-tuning")
        self.preset = ComboBox(label="preset", choices=list(PRESETS), value=DEFAULT_PRESET)
        self.out_file = FileEdit(label="save to", mode="w", filter="*.pt")
        self.confirm_overwrite = lambda paths: ask_to_replace(self, paths)
        self._path = SuggestedPath(self.out_file, self._suggested_path)
        self.compress_button, self.progress, self.status = (
            self.jobs.button,
            self.jobs.progress,
            self.jobs.status,
        )
        self.report = TextLabel()
        self.form = Container(
            widgets=[
                self.model,
                self.model_file,
                self.image,
                self.axes.box,
                self.axes.info,
                self.preset,
                self.out_file,
                self.compress_button,
            ]
        )
        layout = scrolling_layout(self)
        for widget in (self.form.native, self.progress, self.status, self.report):
            layout.addWidget(widget)
        layout.addStretch()
        self.jobs.lock(
            self.model, self.model_file, self.image, self.axes.box, self.preset, self.out_file
        )
        self.jobs.add_teardown(
            self._layers.disconnect, self._models.disconnect, self.axes.disconnect
        )
        self.preset.changed.connect(self._on_preset)
        self._on_preset()

    # -- choices ------------------------------------------------------------------------------
    def _source_label(self) -> str:
        if self._models.from_file:
            value = self.model_file.value
            return Path(value).stem if value and str(value).strip() else "model"
        return _plain_name(str(self.model.value))

    def _on_preset(self, *_: Any) -> None:
        self.preset.tooltip = PRESET_DESCRIPTIONS[self.preset.value]
        self._propose_path()

    def _propose_path(self) -> None:
        """Suggest where to save unless the user typed their own file name."""
        self._path.update()

    def _suggested_path(self) -> Path:
        return compressed_path(self._source_label(), self.preset.value)

    # -- running ------------------------------------------------------------------------------
    def start(self) -> None:
        """Check the inputs and start compressing in a worker."""
        self.jobs.trigger()

    def cancel(self) -> None:
        """Stop at the next batch; nothing is saved or added."""
        self.jobs.stop()

    def _start(self) -> None:
        """Read the form (GUI thread) and hand the worker plain values."""
        image = self.axes.read()
        model, source = self._models.chosen("compress")
        if model is not None:
            single_channel(model, "compression")
            check_channel_count(1, image)
        out = file_output(file_text(self.out_file))
        overwrite = self._permission_to_save(out, source)
        self.result = None
        self.report.value = ""
        self.jobs.start(
            _compress,
            model,
            source,
            image,
            self.preset.value,
            out,
            overwrite,
            self._source_label(),
            status=f"Compressing with preset {self.preset.value} on '{image.name}'…",
            on_event=self._on_event,
            on_done=self._on_done,
        )

    def _permission_to_save(self, out: Path | None, source: str | None) -> bool:
        """The engine's ``overwrite`` flag for saving to ``out``, after the output policy's
        checks and, for an existing file, the user's Yes (see :class:`CompressionWidget`)."""
        if out is None:
            return False
        refuse_original(out, source)
        inputs = [source, layer_source(self.image.value)]
        return permission_to_write([out], inputs, self.confirm_overwrite)

    def _on_event(self, event: Any) -> None:
        if isinstance(event, CompressionStep):
            self.jobs.show_progress(event.progress, f"fine-tuning step {event.step}", event.eta_s)
        elif isinstance(event, CompressionStage):
            self.jobs.show_progress(event.progress, event.message)
        elif isinstance(event, Loaded):
            event.register()

    def _on_done(self, outcome: Outcome) -> None:
        if not isinstance(outcome, Finished):
            return
        result, label = outcome.value
        self.result = result
        self.model_name = f"{COMPRESSED}{label} ({result.report.preset})"
        path = None if result.path is None else str(result.path)
        model_registry.add(self.model_name, result.model, path)
        self.jobs.complete(f"done in {result.report.seconds:.0f} s")
        where = f"; saved to {path}" if path else ""
        self.status.value = f"'{self.model_name}' is ready in Denoise & Deconvolve{where}"
        self.report.value = report_html(result.report)


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


def _compress(
    job: Job, model, source, image, preset: str, out: Path | None, overwrite: bool, label: str
):
    """Worker: load the model if needed, compress (saving to ``out``, replacing an existing
    file only with ``overwrite``), and return (result, label)."""
    model = yield from load_if_needed(model, source)
    single_channel(model, "compression")
    check_channel_count(1, image)
    compressor = Compressor(
        model, _frames(image), preset, out_path=out, source_path=source, overwrite=overwrite
    )
    job.bind(compressor.cancel)
    for event in compressor.run():
        job.raise_if_stopped()
        yield event
    return compressor.result, label


def _frames(image):
    """The single channel of ``image`` as what :class:`Compressor` takes: the layer's own array
    when it is already one image (YX) or one stack of them (a frame, time or plane axis, then
    YX; read lazily), else a stack of frames."""
    if image.axes in FRAME_STACK_AXES:
        return image.data
    return channel_stacks(image, 2)[0]
