"""The Denoise & Deconvolve widget: output layers, re-runs, side by side, PSNR, errors."""

from __future__ import annotations

import numpy as np
import pytest

from napari_deconoising import PredictionConfig, Predictor
from napari_deconoising.widgets.prediction_widget import LOAD_FILE


@pytest.fixture
def predict_ui(make_napari_viewer, tiny_sample, tiny_model, clean_registry):
    viewer = make_napari_viewer()
    viewer.add_image(
        tiny_sample.noisy,
        name="raw",
        scale=(1, 0.25, 0.25),
        translate=(0, 3, 4),
        contrast_limits=(90, 140),
    )
    viewer.add_image(tiny_sample.blurred, name="truth")
    clean_registry.add("trained: tiny", tiny_model)
    _, widget = viewer.window.add_plugin_dock_widget("napari-deconoising", "Denoise & Deconvolve")
    widget.tile.value, widget.overlap.value = 32, 8
    return viewer, widget


def run(widget, qtbot) -> None:
    widget.run_button.clicked()
    assert widget.run_button.text == "Cancel"
    qtbot.waitUntil(lambda: not widget.running, timeout=30000)
    assert widget.run_button.text == "Run"


def test_prediction_adds_two_layers_like_the_raw_one(predict_ui, qtbot, tiny_sample, tiny_model):
    viewer, widget = predict_ui
    assert widget.image.value is viewer.layers["raw"]
    assert widget.model.value == "trained: tiny"
    run(widget, qtbot)
    raw = viewer.layers["raw"]
    assert [x.name for x in viewer.layers] == ["raw", "truth", "raw denoised", "raw deconvolved"]
    expected = Predictor(tiny_model, PredictionConfig(tile=32, overlap=8)).predict(
        tiny_sample.noisy
    )
    for name, data in (
        ("raw denoised", expected.denoised),
        ("raw deconvolved", expected.deconvolved),
    ):
        layer = viewer.layers[name]
        np.testing.assert_allclose(layer.data, data, rtol=1e-4, atol=1e-3)
        np.testing.assert_array_equal(layer.scale, raw.scale)
        np.testing.assert_array_equal(layer.translate, raw.translate)
        assert tuple(layer.contrast_limits) == tuple(raw.contrast_limits)
    assert widget.progress.value() == widget.progress.maximum()


def test_the_precision_choice_reaches_the_prediction(predict_ui, qtbot, tiny_sample, tiny_model):
    viewer, widget = predict_ui
    assert widget.precision.value == "auto" and widget.precision in widget.form
    widget.precision.value = "mixed"  # bfloat16 everywhere, even where it is only emulated
    run(widget, qtbot)
    results = {
        precision: Predictor(
            tiny_model, PredictionConfig(tile=32, overlap=8, precision=precision)
        ).predict(tiny_sample.noisy)
        for precision in ("mixed", "float32")
    }
    shown = viewer.layers["raw denoised"].data
    np.testing.assert_allclose(shown, results["mixed"].denoised, rtol=1e-4, atol=1e-3)
    assert not np.allclose(shown, results["float32"].denoised, rtol=1e-6, atol=1e-6)


def test_running_twice_replaces_the_layers(predict_ui, qtbot):
    viewer, widget = predict_ui
    run(widget, qtbot)
    denoised = viewer.layers["raw denoised"]
    viewer.layers["raw"].data = viewer.layers["raw"].data[:1]  # a different input this time
    run(widget, qtbot)
    assert len(viewer.layers) == 4
    assert viewer.layers["raw denoised"] is denoised and denoised.data.shape[0] == 1


def test_trained_model_appears_and_is_selected(predict_ui, tiny_model, clean_registry):
    _, widget = predict_ui
    clean_registry.add("trained: newer", tiny_model, "/tmp/newer.pt")
    assert widget.model.value == "trained: newer"
    assert list(widget.model.choices) == ["trained: newer", "trained: tiny", LOAD_FILE]
    assert "DecoNoising" in widget.model_info.value and "parameters" in widget.model_info.value


def test_side_by_side_grid(predict_ui, qtbot):
    viewer, widget = predict_ui
    run(widget, qtbot)
    widget.grid_button.clicked()
    grid = viewer.canvas.grid
    assert grid.enabled and widget.grid_button.text == "Single view"
    visible = [x.name for x in viewer.layers if x.visible]
    assert visible == ["raw", "raw denoised", "raw deconvolved"]
    positions = [grid.position(viewer.layers.index(n), viewer.layers) for n in visible]
    assert positions == [(0, 0), (0, 1), (0, 2)]  # left to right: raw, denoised, deconvolved
    widget.grid_button.clicked()
    assert not viewer.canvas.grid.enabled
    assert all(x.visible for x in viewer.layers)


def test_side_by_side_before_a_run_is_a_notification(predict_ui, notifications):
    viewer, widget = predict_ui
    widget.grid_button.clicked()
    assert "nothing to compare" in notifications[-1][1]
    assert not viewer.canvas.grid.enabled


def test_psnr_against_reference(predict_ui, qtbot, tiny_sample):
    from napari_deconoising import psnr

    viewer, widget = predict_ui
    widget.reference.value = viewer.layers["truth"]
    run(widget, qtbot)
    raw_db = psnr(tiny_sample.blurred, tiny_sample.noisy)
    assert f"raw {raw_db:.2f} dB" in widget.scores.value
    assert "denoised" in widget.scores.value
    widget.reference.value = None
    assert widget.scores.value == ""


def test_model_file_is_loaded_and_shared(predict_ui, qtbot, tiny_model, tmp_path, clean_registry):
    viewer, widget = predict_ui
    path = tiny_model.save(tmp_path / "walls.pt")
    widget.model.value = LOAD_FILE
    widget.model_file.value = path
    run(widget, qtbot)
    assert "raw deconvolved" in viewer.layers
    assert clean_registry.path("file: walls") == str(path)


def test_bad_model_file_is_a_notification(predict_ui, qtbot, tmp_path, notifications):
    viewer, widget = predict_ui
    bad = tmp_path / "notes.pt"
    bad.write_text("not a model")
    widget.model.value = LOAD_FILE
    widget.model_file.value = bad
    run(widget, qtbot)
    assert "is not a napari-deconoising model file" in notifications[-1][1]
    assert "raw denoised" not in viewer.layers


def test_bad_inputs_are_notifications(predict_ui, notifications):
    viewer, widget = predict_ui
    viewer.add_image(np.zeros((2, 2, 32, 32)), name="4d")
    widget.image.value = viewer.layers["4d"]
    widget.run_button.clicked()
    assert "4D" in notifications[-1][1] and not widget.running
    widget.image.value = viewer.layers["raw"]
    widget.tile.value, widget.overlap.value = 32, 20
    widget.run_button.clicked()
    assert "overlap (20) must be less than half the tile" in notifications[-1][1]
    widget.model.value = LOAD_FILE
    widget.model_file.line_edit.value = ""
    widget.tile.value, widget.overlap.value = 32, 8
    widget.run_button.clicked()
    assert "choose a model" in notifications[-1][1]


def test_cancel_adds_nothing(predict_ui, qtbot):
    viewer, widget = predict_ui
    big = np.tile(viewer.layers["raw"].data, (20, 4, 4))  # 40 frames of 256 x 256
    viewer.add_image(big, name="long")
    widget.image.value = viewer.layers["long"]
    widget.run_button.clicked()
    qtbot.waitUntil(lambda: widget._last_progress is not None, timeout=20000)
    widget.run_button.clicked()  # Cancel
    qtbot.waitUntil(lambda: not widget.running, timeout=20000)
    assert "Cancelled" in widget.status.value
    assert "long denoised" not in viewer.layers
    assert widget._last_progress.frame < 39


def test_n2v_model_gives_only_the_denoised_layer(predict_ui, qtbot, tiny_sample, clean_registry):
    from napari_deconoising import NetworkConfig, TrainingConfig, train

    viewer, widget = predict_ui
    config = TrainingConfig(
        steps=3,
        patch_size=32,
        batch_size=2,
        network=NetworkConfig(depth=2, start_filters=8),
        n2v=True,
        device="cpu",
    )
    clean_registry.add("trained: n2v", train(tiny_sample.noisy, None, config))
    assert "Noise2Void" in widget.model_info.value
    run(widget, qtbot)
    assert "raw denoised" in viewer.layers and "raw deconvolved" not in viewer.layers


def test_unexpected_error_resets_the_widget(predict_ui, qtbot, monkeypatch, notifications):
    from napari_deconoising.prediction.predictor import Predictor

    def broken(self, image):
        raise RuntimeError("boom")
        yield  # a generator, like the real one

    monkeypatch.setattr(Predictor, "run", broken)
    viewer, widget = predict_ui
    run(widget, qtbot)
    # (superqt drops a RuntimeError raised in a worker: the widget must catch it itself)
    assert notifications[-1][1] == "Prediction failed: RuntimeError: boom"
    assert widget.status.value == "Error: Prediction failed: RuntimeError: boom"
    assert widget.image.enabled and "raw denoised" not in viewer.layers
