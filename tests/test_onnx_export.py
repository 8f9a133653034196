"""ONNX export: the file reproduces torch and the Predictor, has dynamic sizes, fails clearly."""

from __future__ import annotations

import json
import sys

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from napari_deconoising import (
    DecoNoisingModel,
    NetworkConfig,
    Normalisation,
    PredictionConfig,
    Predictor,
    gaussian_psf,
)
from napari_deconoising.cli import main as cli_main
from napari_deconoising.export.onnx import DeconoisingGraph, ExportError, export_onnx
from napari_deconoising.model.unet import UNet


def model_with(psf: np.ndarray | None, depth: int = 2) -> DecoNoisingModel:
    torch.manual_seed(1)
    network = UNet(NetworkConfig(depth=depth, start_filters=8)).eval()
    return DecoNoisingModel(network, psf, Normalisation(mean=110.0, std=6.0, offset=100.0))


def image(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(110, 6, shape).astype(np.float32)


def run_onnx(path, array: np.ndarray) -> list[np.ndarray]:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["deconvolved", "denoised"], {"image": array})


def test_export_matches_torch_and_the_predictor(tmp_path):
    model = model_with(gaussian_psf(1.5))
    path = tmp_path / "model.onnx"
    export = export_onnx(model, path)
    assert export.path == path and export.bytes == path.stat().st_size > 0
    assert export.max_relative_error is not None and export.max_relative_error <= 1e-4
    assert len(export.checked_shapes) == 2
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta["size_multiple"] == "4" and json.loads(meta["normalisation"])["mean"] == 110.0
    # camera units in, camera units out: the middle agrees with the tiled Predictor
    frame = image((96, 96))
    deconvolved, denoised = run_onnx(path, frame[None, None])
    # the ONNX graph computes in float32
    reference = Predictor(model, PredictionConfig(device="cpu", precision="float32")).predict(frame)
    middle = (slice(32, -32), slice(32, -32))
    np.testing.assert_allclose(deconvolved[0, 0][middle], reference.deconvolved[middle], atol=1e-3)
    np.testing.assert_allclose(denoised[0, 0][middle], reference.denoised[middle], atol=1e-3)
    assert not np.allclose(denoised, deconvolved)  # the PSF convolution is in the graph


def test_sizes_and_batch_are_dynamic(tmp_path):
    model = model_with(gaussian_psf(1.0))
    path = tmp_path / "model.onnx"
    export_onnx(model, path, check=False)
    graph = DeconoisingGraph(model).eval()
    for shape in [(1, 1, 32, 32), (3, 1, 48, 80), (2, 1, 8, 12)]:
        array = image(shape)
        outputs = run_onnx(path, array)
        assert [o.shape for o in outputs] == [shape, shape]
        # the same values as torch at sizes other than the traced example's, borders included
        with torch.inference_mode():
            expected = [t.numpy() for t in graph(torch.from_numpy(array))]
        for got, want in zip(outputs, expected, strict=True):
            np.testing.assert_allclose(got, want, atol=1e-4 * np.ptp(want))


def test_a_noise2void_model_exports_with_equal_outputs(tmp_path):
    path = tmp_path / "n2v.onnx"
    export = export_onnx(model_with(None, depth=1), path)
    assert export.max_relative_error <= 1e-4
    deconvolved, denoised = run_onnx(path, image((1, 1, 40, 40)))
    np.testing.assert_array_equal(deconvolved, denoised)


def test_a_failed_check_writes_nothing(tmp_path, monkeypatch):
    import napari_deconoising.export.onnx as module

    monkeypatch.setattr(module, "TOLERANCE", -1.0)
    with pytest.raises(ExportError, match="differs from torch"):
        export_onnx(model_with(gaussian_psf(1.5)), tmp_path / "model.onnx")
    assert list(tmp_path.iterdir()) == []


def test_missing_onnxruntime_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ExportError, match=r"pip install 'napari-deconoising\[onnx\]'"):
        export_onnx(model_with(gaussian_psf(1.5)), tmp_path / "model.onnx")
    assert list(tmp_path.iterdir()) == []


def test_cli_export_onnx(tmp_path, capsys):
    model_path = model_with(gaussian_psf(1.5)).save(tmp_path / "model.pt")
    out = tmp_path / "model.onnx"
    assert cli_main(["export-onnx", "--model", str(model_path), "--out", str(out), "--json"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["path"] == str(out) and figures["max_relative_error"] <= 1e-4
    assert out.is_file()
    missing = ["export-onnx", "--model", str(tmp_path / "none.pt"), "--out", str(out) + ".2"]
    assert cli_main(missing) == 2
    assert "not found" in capsys.readouterr().err
    assert cli_main(["export-onnx", "--model", str(model_path), "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
