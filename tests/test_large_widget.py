"""Denoise & Deconvolve on a large (here: dask-backed) layer: zarr stores, lazy layers, cancel."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from napari_deconoising import PredictionConfig, Predictor
from napari_deconoising.io.zarr_io import is_complete


@pytest.fixture
def large_ui(make_napari_viewer, tiny_sample, tiny_model, clean_registry, tmp_path):
    viewer = make_napari_viewer()
    lazy = da.from_array(tiny_sample.noisy, chunks=(1, 64, 64))
    viewer.add_image(lazy, name="raw", scale=(1, 0.25, 0.25), contrast_limits=(90, 140))
    clean_registry.add("trained: tiny", tiny_model)
    _, widget = viewer.window.add_plugin_dock_widget("napari-deconoising", "Denoise & Deconvolve")
    widget.tile.value, widget.overlap.value = 32, 8
    asked = []
    widget.ask_output_folder = lambda title: asked.append(title) or str(tmp_path)
    return viewer, widget, asked


def run(widget, qtbot) -> None:
    widget.run_button.clicked()
    qtbot.waitUntil(lambda: not widget.running, timeout=60000)


def test_a_dask_layer_is_predicted_into_zarr_stores_shown_lazily(
    large_ui, qtbot, tiny_sample, tiny_model, tmp_path
):
    viewer, widget, asked = large_ui
    run(widget, qtbot)
    assert asked == ["Folder for the outputs of 'raw'"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "raw_deconvolved.zarr",
        "raw_denoised.zarr",
    ]
    expected = Predictor(tiny_model, PredictionConfig(tile=32, overlap=8)).predict(
        tiny_sample.noisy
    )
    for kind, values in (("denoised", expected.denoised), ("deconvolved", expected.deconvolved)):
        layer = viewer.layers[f"raw {kind}"]
        assert isinstance(layer.data, da.Array)  # read from the store on demand
        np.testing.assert_allclose(np.asarray(layer.data), values, rtol=1e-4, atol=1e-3)
        np.testing.assert_array_equal(layer.scale, viewer.layers["raw"].scale)
        assert is_complete(tmp_path / f"raw_{kind}.zarr") is True
    assert "read from" in widget.status.value


def test_existing_stores_need_a_confirmation(large_ui, qtbot, tmp_path):
    _, widget, _ = large_ui
    run(widget, qtbot)
    stamp = (tmp_path / "raw_denoised.zarr" / "zarr.json").stat().st_mtime_ns
    asked = []
    widget.confirm_overwrite = lambda paths: asked.append(paths) or False
    widget.run_button.clicked()
    assert not widget.running and asked == [
        [tmp_path / "raw_denoised.zarr", tmp_path / "raw_deconvolved.zarr"]
    ]
    assert "Kept the existing outputs" in widget.status.value
    assert (tmp_path / "raw_denoised.zarr" / "zarr.json").stat().st_mtime_ns == stamp
    widget.confirm_overwrite = lambda paths: True
    run(widget, qtbot)
    assert is_complete(tmp_path / "raw_denoised.zarr") is True
    widget.ask_output_folder = lambda title: None
    widget.run_button.clicked()
    assert not widget.running and "No folder chosen" in widget.status.value


def test_cancelling_leaves_no_store(
    make_napari_viewer, tiny_model, clean_registry, qtbot, tmp_path
):
    viewer = make_napari_viewer()
    frames = np.random.default_rng(0).poisson(100, (40, 64, 64)).astype(np.float32)
    viewer.add_image(da.from_array(frames, chunks=(1, 64, 64)), name="long")
    clean_registry.add("trained: tiny", tiny_model)
    _, widget = viewer.window.add_plugin_dock_widget("napari-deconoising", "Denoise & Deconvolve")
    widget.tile.value, widget.overlap.value = 32, 8
    widget.ask_output_folder = lambda title: str(tmp_path)
    widget.run_button.clicked()
    qtbot.waitUntil(lambda: widget.progress.value() > 0, timeout=60000)
    widget.cancel()
    qtbot.waitUntil(lambda: not widget.running, timeout=60000)
    assert list(tmp_path.iterdir()) == []
    assert [layer.name for layer in viewer.layers] == ["long"]
