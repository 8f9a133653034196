"""The Compress widget: a tiny compression through the GUI, Cancel, errors, closing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_deconoising import load_model
from napari_deconoising.compression import PRESETS, preset_config
from napari_deconoising.widgets.compression_widget import LOAD_FILE, CompressionWidget
from tiny_settings import QUICK_COMPRESSION

TRAINED = "trained: tiny"


def quick(**changes):
    values = {**QUICK_COMPRESSION, "steps": 8}
    return preset_config("balanced").replace(**{**values, **changes})


@pytest.fixture
def compress_ui(make_napari_viewer, tiny_sample, tiny_model, clean_registry, home, monkeypatch):
    monkeypatch.setitem(PRESETS, "balanced", quick())
    source = tiny_model.save(home / "tiny.pt")
    clean_registry.add(TRAINED, tiny_model, str(source))
    viewer = make_napari_viewer()
    viewer.add_image(tiny_sample.noisy, name="noisy")
    viewer.add_image(tiny_sample.psf, name="PSF")
    _, widget = viewer.window.add_plugin_dock_widget("napari-deconoising", "Compress")
    assert isinstance(widget, CompressionWidget)
    return viewer, widget, source


def wait_idle(qtbot, widget: CompressionWidget, timeout: int = 60000) -> None:
    qtbot.waitUntil(lambda: not widget.running, timeout=timeout)


def test_defaults_follow_the_registry_and_the_layers(compress_ui, home):
    viewer, widget, _ = compress_ui
    assert list(widget.model.choices) == [TRAINED, LOAD_FILE]
    assert widget.model.value == TRAINED and widget.model_file.native.isHidden()
    assert widget.image.value is viewer.layers["noisy"]  # not the PSF
    assert widget.preset.value == "balanced"
    assert Path(widget.out_file.value) == home / "deconoising-models" / "tiny-balanced.pt"
    widget.preset.value = "smallest"
    assert Path(widget.out_file.value).name == "tiny-smallest.pt"
    assert "smallest file" in widget.preset.tooltip


def test_compress_saves_reports_and_shares_the_model(
    compress_ui, qtbot, clean_registry, notifications
):
    viewer, widget, source = compress_ui
    original = source.read_bytes()
    widget.compress_button.clicked()
    assert widget.running and widget.compress_button.text == "Cancel"
    wait_idle(qtbot, widget)
    assert widget.compress_button.text == "Compress" and widget.compress_button.enabled
    result = widget.result
    assert result is not None and result.path == Path(widget.out_file.value)
    assert widget.model_name == "compressed: tiny (balanced)"
    assert clean_registry.names() == [TRAINED, widget.model_name]
    assert clean_registry.path(widget.model_name) == str(result.path)
    assert widget.progress.value() == widget.progress.maximum()
    report = widget.report.text()
    assert f"{result.report.params_after:,}" in report and "PSNR against the original" in report
    assert "ready in Denoise & Deconvolve" in widget.status.text()
    assert source.read_bytes() == original
    loaded = load_model(result.path)
    assert loaded.info()["compressed_from"] == "tiny.pt"
    assert loaded.info()["parameters"] < load_model(source).info()["parameters"]
    # the Denoise & Deconvolve widget offers it
    _, predict = viewer.window.add_plugin_dock_widget("napari-deconoising", "Denoise & Deconvolve")
    assert widget.model_name in list(predict.model.choices)
    assert not [n for n in notifications if "error" in n[0].lower()]


def test_cancel_writes_nothing(compress_ui, qtbot, monkeypatch, clean_registry):
    _, widget, _ = compress_ui
    monkeypatch.setitem(PRESETS, "balanced", quick(steps=100_000))
    out = Path(widget.out_file.value)
    widget.compress_button.clicked()
    qtbot.waitUntil(lambda: "fine-tuning" in widget.progress.format(), timeout=30000)
    widget.compress_button.clicked()  # Cancel
    assert widget.compress_button.text == "Cancelling…"
    wait_idle(qtbot, widget)
    assert widget.status.text() == "Cancelled; nothing was saved."
    assert widget.compress_button.text == "Compress" and widget.result is None
    assert not out.exists() and not list(out.parent.glob("*.tmp"))
    assert clean_registry.names() == [TRAINED]


def test_a_file_that_is_not_a_model_is_an_error(compress_ui, qtbot, home, notifications):
    _, widget, _ = compress_ui
    fake = home / "fake.pt"
    fake.write_text("not a model")
    widget.model.value = LOAD_FILE
    assert not widget.model_file.native.isHidden()
    widget.model_file.value = fake
    assert Path(widget.out_file.value).name == "fake-balanced.pt"
    widget.compress_button.clicked()
    wait_idle(qtbot, widget)
    assert "not a napari-deconoising model file" in widget.status.text()
    assert any("not a napari-deconoising model file" in text for _, text in notifications)
    assert widget.compress_button.text == "Compress" and widget.result is None


def test_an_image_that_does_not_match_is_an_error(compress_ui, qtbot, notifications):
    viewer, widget, _ = compress_ui
    viewer.add_image(np.full((64, 64), 60_000, np.uint16), name="bright")
    widget.image.value = viewer.layers["bright"]
    widget.compress_button.clicked()
    wait_idle(qtbot, widget)
    assert "does not match the model" in widget.status.text()
    assert any("does not match" in text for _, text in notifications)
    widget.image.value = viewer.layers["PSF"]
    widget.compress_button.clicked()
    wait_idle(qtbot, widget)
    assert "too small" in widget.status.text()


def test_overwriting_the_original_is_refused(compress_ui, notifications):
    _, widget, source = compress_ui
    widget.out_file.value = source
    widget.compress_button.clicked()
    assert not widget.running and "never overwritten" in widget.status.text()


def test_closing_the_widget_stops_the_worker(compress_ui, qtbot, monkeypatch):
    viewer, widget, _ = compress_ui
    monkeypatch.setitem(PRESETS, "balanced", quick(steps=100_000))
    out = Path(widget.out_file.value)
    widget.compress_button.clicked()
    qtbot.waitUntil(lambda: "fine-tuning" in widget.progress.format(), timeout=30000)
    worker = widget.jobs.worker
    viewer.window.remove_dock_widget(widget)
    qtbot.waitUntil(lambda: not worker.is_running, timeout=30000)
    assert not out.exists()


def test_an_unexpected_failure_returns_to_idle(compress_ui, qtbot, monkeypatch, notifications):
    import napari_deconoising.widgets.compression_widget as module

    class Broken(module.Compressor):
        def run(self):
            yield from ()
            raise RuntimeError("boom")

    monkeypatch.setattr(module, "Compressor", Broken)
    _, widget, _ = compress_ui
    widget.compress_button.clicked()
    wait_idle(qtbot, widget)
    assert "Compression failed: RuntimeError: boom" in widget.status.text()
    assert any("boom" in text for _, text in notifications)
    assert widget.compress_button.text == "Compress" and widget.result is None
