"""The widgets follow the output policy: they never write over an input, and ask (Yes/No) before
replacing an existing output; on No nothing starts and the widget stays ready."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_deconoising import load_model
from napari_deconoising.compression import PRESETS, preset_config
from napari_deconoising.widgets._continue import FROM_FILE
from napari_deconoising.widgets.compression_widget import LOAD_FILE
from tiny_settings import QUICK_COMPRESSION
from tiny_settings import TINY_TRAINING as TINY

PRECIOUS = b"a file the user must not lose"


class Answers:
    """A replacement for a widget's ``confirm_overwrite``: records the questions, answers
    ``answer``."""

    def __init__(self, answer: bool):
        self.answer = answer
        self.asked: list[list[Path]] = []

    def __call__(self, paths: list[Path]) -> bool:
        self.asked.append(list(paths))
        return self.answer


def precious(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(PRECIOUS)
    return path


def errors(notifications) -> list[str]:
    return [text for severity, text in notifications if "error" in severity.lower()]


def wait_idle(qtbot, widget, timeout: int = 60000) -> None:
    qtbot.waitUntil(lambda: not widget.running, timeout=timeout)


def add_from_file(viewer, data: np.ndarray, path: Path, name: str):
    """An image layer as napari shows one opened from ``path`` (``layer.source.path``)."""
    from napari.layers._source import layer_source

    with layer_source(path=str(path)):
        return viewer.add_image(data, name=name)


# -- Train ----------------------------------------------------------------------------------------
@pytest.fixture
def train_ui(make_napari_viewer, tiny_sample, tiny_model, clean_registry, home):
    viewer = make_napari_viewer()
    viewer.add_image(tiny_sample.noisy, name="noisy")
    viewer.add_image(tiny_sample.psf, name="true PSF")
    _, widget = viewer.window.add_plugin_dock_widget("napari-deconoising", "Train")
    widget.settings.set_values(**TINY)
    return viewer, widget


def test_train_asks_before_replacing_a_model_file(train_ui, qtbot, home, notifications):
    _, widget = train_ui
    existing = precious(home / "models" / "mine.pt")
    last = precious(home / "models" / "mine.last.pt")
    widget.model_file.value = str(existing)
    widget.confirm_overwrite = declined = Answers(False)
    widget.train_button.clicked()
    assert declined.asked == [[existing, last]]
    assert not widget.running and widget.train_button.text == "Train"
    assert "Kept the existing outputs (mine.pt, mine.last.pt)" in widget.status.value
    assert existing.read_bytes() == PRECIOUS and last.read_bytes() == PRECIOUS
    assert widget.finished is None and not errors(notifications)

    widget.confirm_overwrite = accepted = Answers(True)
    widget.train_button.clicked()
    assert widget.running
    wait_idle(qtbot, widget)
    assert accepted.asked == [[existing, last]]
    assert widget.finished is not None and Path(widget.finished.model_path) == existing
    assert load_model(existing).info()["kind"] == "deconoising"
    assert last.read_bytes() != PRECIOUS and not errors(notifications)


def test_train_never_writes_over_the_image_file(train_ui, qtbot, tiny_sample, home, notifications):
    viewer, widget = train_ui
    source = precious(home / "data" / "cells.tif")
    widget.image.value = add_from_file(viewer, tiny_sample.noisy, source, "cells")
    widget.model_file.value = str(source)
    widget.confirm_overwrite = asked = Answers(True)
    widget.train_button.clicked()
    assert not widget.running and asked.asked == []
    assert errors(notifications) and "cannot write" in errors(notifications)[-1]
    assert str(source) in errors(notifications)[-1]
    assert source.read_bytes() == PRECIOUS and widget.finished is None


def test_continuing_proposes_a_new_name_for_the_model_file_it_started_from(
    train_ui, qtbot, tiny_model, home, notifications
):
    _, widget = train_ui
    earlier = tiny_model.save(home / "models" / "earlier.pt")  # trained 5 steps
    original = earlier.read_bytes()
    widget.continue_from.combo.value = FROM_FILE
    widget.continue_from.file.value = str(earlier)
    widget.model_file.value = str(earlier)
    widget.confirm_overwrite = asked = Answers(True)
    widget.train_button.clicked()
    assert not widget.running and asked.asked == []
    message = errors(notifications)[-1]
    assert "the model being continued" in message and "earlier-continued.pt" in message
    proposal = home / "models" / "earlier-continued.pt"
    assert Path(widget.model_file.value) == proposal
    assert earlier.read_bytes() == original

    widget.train_button.clicked()  # saves under the proposed name
    wait_idle(qtbot, widget)
    assert widget.finished is not None and Path(widget.finished.model_path) == proposal
    assert load_model(proposal).channels[0].metadata["steps"] == 5 + TINY["steps"]
    assert earlier.read_bytes() == original and asked.asked == []


def test_continuing_a_saved_model_of_the_session_keeps_its_file(
    train_ui, tiny_model, home, clean_registry, notifications
):
    _, widget = train_ui
    saved = tiny_model.save(home / "models" / "run1.pt")
    original = saved.read_bytes()
    clean_registry.add("trained: run1", tiny_model, str(saved))
    widget.continue_from.combo.value = "trained: run1"
    widget.model_file.value = str(saved)
    widget.confirm_overwrite = asked = Answers(True)
    widget.train_button.clicked()
    assert not widget.running and asked.asked == []
    assert "the model being continued" in errors(notifications)[-1]
    assert Path(widget.model_file.value).name == "run1-continued.pt"
    assert saved.read_bytes() == original


# -- Compress -------------------------------------------------------------------------------------
@pytest.fixture
def compress_ui(make_napari_viewer, tiny_sample, tiny_model, clean_registry, home, monkeypatch):
    monkeypatch.setitem(PRESETS, "balanced", preset_config("balanced").replace(**QUICK_COMPRESSION))
    source = tiny_model.save(home / "tiny.pt")
    clean_registry.add("trained: tiny", tiny_model, str(source))
    viewer = make_napari_viewer()
    viewer.add_image(tiny_sample.noisy, name="noisy")
    _, widget = viewer.window.add_plugin_dock_widget("napari-deconoising", "Compress")
    return viewer, widget, source


@pytest.mark.parametrize("chosen", ["registry", "file"])
def test_compress_never_writes_over_the_original_model(compress_ui, notifications, chosen):
    _, widget, source = compress_ui
    original = source.read_bytes()
    if chosen == "file":
        widget.model.value = LOAD_FILE
        widget.model_file.value = str(source)
    widget.out_file.value = str(source)
    widget.confirm_overwrite = asked = Answers(True)
    widget.compress_button.clicked()
    assert not widget.running and asked.asked == []
    assert "never overwritten" in errors(notifications)[-1]
    assert source.read_bytes() == original and widget.result is None


def test_compress_asks_before_replacing_another_file(compress_ui, qtbot, home, notifications):
    _, widget, source = compress_ui
    other = precious(home / "other.pt")
    widget.out_file.value = str(other)
    widget.confirm_overwrite = declined = Answers(False)
    widget.compress_button.clicked()
    assert declined.asked == [[other]] and not widget.running
    assert "Kept the existing outputs (other.pt)" in widget.status.value
    assert other.read_bytes() == PRECIOUS and not errors(notifications)

    widget.confirm_overwrite = accepted = Answers(True)
    widget.compress_button.clicked()
    wait_idle(qtbot, widget)
    assert accepted.asked == [[other]] and not errors(notifications)
    assert widget.result is not None and widget.result.path == other
    assert load_model(other).info()["compressed_from"] == source.name


# -- Denoise & Deconvolve -------------------------------------------------------------------------
@pytest.fixture
def predict_ui(make_napari_viewer, tiny_model, clean_registry):
    viewer = make_napari_viewer()
    clean_registry.add("trained: tiny", tiny_model)
    _, widget = viewer.window.add_plugin_dock_widget("napari-deconoising", "Denoise & Deconvolve")
    return viewer, widget


def test_block_wise_outputs_never_replace_the_layers_store(
    predict_ui, tiny_sample, tmp_path, notifications
):
    import dask.array as da

    viewer, widget = predict_ui
    store = tmp_path / "raw_denoised.zarr"  # what the outputs of a layer "raw" are called
    store.mkdir()
    (store / "zarr.json").write_bytes(PRECIOUS)
    lazy = da.from_array(tiny_sample.noisy, chunks=(1, 64, 64))
    widget.image.value = add_from_file(viewer, lazy, store, "raw")
    widget.ask_output_folder = lambda title: str(tmp_path)
    widget.confirm_overwrite = asked = Answers(True)
    widget.run_button.clicked()
    assert not widget.running and asked.asked == []
    assert "cannot write" in errors(notifications)[-1]
    assert (store / "zarr.json").read_bytes() == PRECIOUS


def test_export_asks_for_a_name_the_dialog_did_not_confirm(predict_ui, tmp_path, notifications):
    _, widget = predict_ui
    package = precious(tmp_path / "package.zip")
    widget.ask_export_path = lambda suggested: str(tmp_path / "package")  # ".zip" is added
    widget.confirm_overwrite = declined = Answers(False)
    widget.export_bioimageio()
    assert declined.asked == [[package]] and not widget.running
    assert "Kept the existing outputs (package.zip)" in widget.status.value
    assert package.read_bytes() == PRECIOUS and not errors(notifications)


def test_export_never_writes_over_the_model_file(
    predict_ui, tiny_model, clean_registry, tmp_path, notifications
):
    _, widget = predict_ui
    package = precious(tmp_path / "tiny.bioimageio.zip")
    clean_registry.add("file: tiny.bioimageio", tiny_model, str(package))
    widget.model.value = "file: tiny.bioimageio"
    widget.ask_export_path = lambda suggested: str(package)  # "Replace?" said Yes in the dialog
    widget.confirm_overwrite = asked = Answers(True)
    widget.export_bioimageio()
    assert not widget.running and asked.asked == []
    assert "cannot write" in errors(notifications)[-1]
    assert package.read_bytes() == PRECIOUS
