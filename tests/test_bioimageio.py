"""bioimage.io packages: export passes bioimageio.core's model test offline, the description has
what the zoo needs, our own packages load back exactly, bad files fail clearly; CLI and widget."""

from __future__ import annotations

import argparse
import json
import re
import zipfile
from dataclasses import replace
from functools import partial

import numpy as np
import pytest
import torch
import yaml

from napari_deconoising import (
    ConfigError,
    DeconoisingError,
    ModelFileError,
    NetworkConfig,
    OutputError,
    PredictionConfig,
    Predictor,
    load_model,
)
from napari_deconoising.cli.bioimageio import add_commands
from napari_deconoising.export.bioimageio import (
    MODEL_MEMBER,
    ChannelGraph,
    export_bioimageio,
    export_bioimageio_package,
    export_steps,
    size_rule,
)
from napari_deconoising.model.bundle import ChannelModels, DecoNoisingModel
from napari_deconoising.model.unet import UNet

core = pytest.importorskip("bioimageio.core")

# bioimageio.core loads TorchScript, which torch 2.10+ marks as deprecated
pytestmark = [
    pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning"),
    pytest.mark.usefixtures("offline"),  # conftest.py: no network may even be tried
]

PAPER_DOI = "10.1007/978-3-030-66415-2_25"


@pytest.fixture(scope="module")
def package(tiny_model, tmp_path_factory):
    """The tiny model exported without the built-in core test (the tests run it themselves)."""
    path = tmp_path_factory.mktemp("bioimageio") / "tiny.zip"
    return export_bioimageio_package(tiny_model, path, test=False)


def rdf_of(path) -> dict:
    with zipfile.ZipFile(path) as archive:
        return yaml.safe_load(archive.read("rdf.yaml"))


def core_test(path) -> None:
    """bioimageio.core's model test, on the CPU; every failure is shown."""
    summary = core.test_model(path, devices=["cpu"])
    failed = [(d.name, [e.msg for e in d.errors]) for d in summary.details if d.status != "passed"]
    assert summary.status == "passed", failed
    names = " ".join(d.name for d in summary.details)
    for weights in ("torchscript", "onnx"):
        assert f"Reproduce test outputs from test inputs ({weights})" in names
        assert f"Run {weights} inference for inputs with batch_size: 2 and size parameter n: 2" in (
            names
        )


def test_the_package_passes_the_bioimageio_core_model_test(package):
    assert package.max_relative_error <= 1e-4
    core_test(package.path)


def test_the_description_has_what_the_zoo_needs(package, tiny_model):
    rdf = rdf_of(package.path)
    assert rdf["type"] == "model" and str(rdf["format_version"]).startswith("0.5")
    assert rdf["name"] and rdf["description"] and rdf["authors"][0]["name"]
    assert rdf["license"] == "BSD-3-Clause"
    cite = rdf["cite"][0]
    assert cite["doi"] == PAPER_DOI and "Improving Blind Spot Denoising" in cite["text"]
    assert "2008.08414" in cite["text"]
    assert {"denoising", "deconvolution", "fluorescence-light-microscopy"} <= set(rdf["tags"])
    minimum, step = size_rule(tiny_model)
    assert step == tiny_model.network.size_multiple == 4
    assert minimum > tiny_model.psf.shape[0] // 2 and minimum % step == 0
    (raw,) = rdf["inputs"]
    assert raw["id"] == "raw"
    assert [a["type"] for a in raw["axes"]] == ["batch", "channel", "space", "space"]
    assert [a.get("id") for a in raw["axes"][2:]] == ["y", "x"]
    for axis in raw["axes"][2:]:
        assert axis["size"] == {"min": minimum, "step": step}
    assert [o["id"] for o in rdf["outputs"]] == ["deconvolved", "denoised"]
    for output in rdf["outputs"]:
        assert [a["type"] for a in output["axes"]] == ["batch", "channel", "space", "space"]
        assert output["axes"][2]["size"] == {"tensor_id": "raw", "axis_id": "y"}
    assert set(rdf["weights"]) == {"torchscript", "onnx"}
    assert rdf["config"]["napari_deconoising"]["model_file"] == MODEL_MEMBER
    with zipfile.ZipFile(package.path) as archive:
        names = set(archive.namelist())
        readme = archive.read(rdf["documentation"]["source"]).decode()
        assert archive.read(rdf["covers"][0]["source"])[:8] == b"\x89PNG\r\n\x1a\n"
        assert archive.read(MODEL_MEMBER) == tiny_model.to_bytes()
    files = [raw["test_tensor"]["source"]] + [o["test_tensor"]["source"] for o in rdf["outputs"]]
    files += [w["source"] for w in rdf["weights"].values()]
    files += [a["source"] for a in rdf["attachments"]]
    assert set(files) <= names
    assert "## Validation" in readme and "TorchScript and ONNX" in readme
    assert package.test_shape == [1, 1, 128, 128]


def test_the_package_loads_back_with_the_same_outputs(package, tiny_model, tiny_sample):
    loaded = load_model(package.path)
    assert isinstance(loaded, DecoNoisingModel)
    config = PredictionConfig(tile=32, overlap=8, device="cpu")
    frame = tiny_sample.noisy[0]
    want = Predictor(tiny_model, config).predict(frame)
    got = Predictor(loaded, config).predict(frame)
    for a, b in ((got.denoised, want.denoised), (got.deconvolved, want.deconvolved)):
        assert np.max(np.abs(a - b)) <= 1e-4 * np.ptp(b)
    # and the network inside the package gives the model's own outputs
    with zipfile.ZipFile(package.path) as archive:
        test_input = np.load(archive.open("test_input_raw.npy"))
        scripted = torch.jit.load(archive.open("deconoising.torchscript.pt"))
    with torch.inference_mode():
        expected = ChannelGraph([tiny_model])(torch.from_numpy(test_input))
        produced = scripted(torch.from_numpy(test_input))
    for a, b in zip(produced, expected, strict=True):
        assert float((a - b).abs().max()) <= 1e-4 * float(b.max() - b.min())


def test_a_package_from_another_tool_is_refused_clearly(tmp_path):
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("rdf.yaml", "type: model\nname: Nuclei U-Net\nformat_version: 0.5.4\n")
        archive.writestr("weights.onnx", b"not ours")
    with pytest.raises(
        ModelFileError, match=r"bioimage\.io package but not one napari-deconoising"
    ):
        load_model(path)
    with pytest.raises(ModelFileError, match="Nuclei U-Net"):
        load_model(path)


def test_damaged_packages_are_refused_clearly(package, tmp_path):
    data = package.path.read_bytes()
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="damaged zip file"):
        load_model(truncated)
    # one byte changed inside the attached model file: the zip's checksum catches it
    with zipfile.ZipFile(package.path) as archive:
        info = archive.getinfo(MODEL_MEMBER)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    flipped = bytearray(data)
    flipped[start + info.compress_size // 2] ^= 0xFF
    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes(bytes(flipped))
    with pytest.raises(ModelFileError, match=r"damaged bioimage\.io package"):
        load_model(corrupt)
    # our rdf.yaml without our model file says what is missing
    lacking = tmp_path / "lacking.zip"
    with zipfile.ZipFile(package.path) as source, zipfile.ZipFile(lacking, "w") as target:
        for item in source.infolist():
            if item.filename != MODEL_MEMBER:
                target.writestr(item, source.read(item))
    with pytest.raises(ModelFileError, match=re.escape(f"{MODEL_MEMBER} is missing")):
        load_model(lacking)


def test_an_existing_file_is_replaced_only_when_asked(package, tiny_model, tmp_path):
    path = tmp_path / "model.zip"
    path.write_bytes(b"keep me")
    with pytest.raises(OutputError, match="exists"):
        export_bioimageio(tiny_model, path, test=False)
    assert path.read_bytes() == b"keep me"
    assert export_bioimageio(tiny_model, path, overwrite=True, test=False) == path
    assert isinstance(load_model(path), DecoNoisingModel)
    with pytest.raises(ConfigError, match=r"\.zip"):
        export_bioimageio(tiny_model, tmp_path / "model.onnx", test=False)
    with pytest.raises(ConfigError, match="name"):
        export_bioimageio(tiny_model, tmp_path / "named.zip", name="a/b", test=False)


def test_multichannel_model_exports_with_a_channel_axis(two_channel_model, tmp_path):
    export = export_bioimageio_package(two_channel_model, tmp_path / "two.zip", test=False)
    rdf = rdf_of(export.path)
    channel = rdf["inputs"][0]["axes"][1]
    assert channel["channel_names"] == ["channel0", "channel1"]
    assert export.test_shape[:2] == [1, 2]
    with zipfile.ZipFile(export.path) as archive:
        test_input = np.load(archive.open("test_input_raw.npy"))
        deconvolved = np.load(archive.open("test_output_deconvolved.npy"))
    # channel c went through channel c's model
    for index, model in enumerate(two_channel_model.channels):
        with torch.inference_mode():
            expected, _ = ChannelGraph([model])(torch.from_numpy(test_input[:, index : index + 1]))
        np.testing.assert_allclose(deconvolved[:, index : index + 1], expected.numpy(), atol=1e-4)
    core_test(export.path)
    loaded = load_model(export.path)
    assert isinstance(loaded, ChannelModels) and loaded.n_channels == 2


def test_compressed_and_noise2void_models_export_the_same_way(tiny_model, tmp_path):
    torch.manual_seed(0)
    small = UNet(NetworkConfig(depth=2, start_filters=8), widths=[4, 8, 12]).eval()
    metadata = {**tiny_model.metadata, "compressed_from": "big.pt", "pixel_size_um": 0.1}
    compressed = replace(tiny_model, network=small, metadata=metadata)
    export = export_bioimageio_package(compressed, tmp_path / "small.zip", test=False)
    assert "(compressed)" in export.name
    y_axis = rdf_of(export.path)["inputs"][0]["axes"][2]
    assert (y_axis["unit"], y_axis["scale"]) == ("micrometer", 0.1)
    assert load_model(export.path).network.widths == [4, 8, 12]
    n2v = replace(tiny_model, psf=None)
    export = export_bioimageio_package(n2v, tmp_path / "n2v.zip", test=False)
    assert export.min_size == tiny_model.network.size_multiple and "Noise2Void" in export.name
    with zipfile.ZipFile(export.path) as archive:
        a, b = (np.load(archive.open(f"test_output_{k}.npy")) for k in ("deconvolved", "denoised"))
    np.testing.assert_array_equal(a, b)


def test_cli_command_exports_and_prints_json(capsys, tiny_model, tmp_path):
    model_file = tiny_model.save(tmp_path / "tiny.pt")
    parser = argparse.ArgumentParser(prog="deconoising")
    add_commands(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "cli.zip"
    args = ["export-bioimageio", "--model", model_file, "--out", out, "--name", "Tiny test model"]
    parsed = parser.parse_args([str(a) for a in [*args, "--author", "Ada Lovelace", "--json"]])
    assert parsed.handler(parsed) == 0
    captured = capsys.readouterr()
    figures = json.loads(captured.out.strip().splitlines()[-1])
    assert figures["path"] == str(out) and figures["bytes"] == out.stat().st_size
    assert figures["bioimageio_core_test"] is True and figures["weights"] == ["torchscript", "onnx"]
    assert captured.out.strip().count("\n") == 0 and "Wrote" not in captured.err  # JSON only
    rdf = rdf_of(out)
    assert rdf["name"] == "Tiny test model" and rdf["authors"] == [{"name": "Ada Lovelace"}]
    with zipfile.ZipFile(out) as archive:
        assert "bioimageio.core" in archive.read("README.md").decode()
    again = parser.parse_args([str(a) for a in args])
    with pytest.raises(DeconoisingError, match="exists"):
        again.handler(again)


def test_widget_button_exports_to_the_chosen_path(
    make_napari_viewer, qtbot, tiny_model, clean_registry, notifications, tmp_path, monkeypatch
):
    from napari_deconoising.widgets import _bioimageio_export

    # the export itself is tested above: here the button, the worker and the messages
    monkeypatch.setattr(_bioimageio_export, "export_steps", partial(export_steps, test=False))
    clean_registry.add("trained: tiny", tiny_model)
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-deconoising", "Denoise & Deconvolve")
    asked: list[str] = []
    target = tmp_path / "from-widget"  # the widget adds ".zip"
    widget.ask_export_path = lambda suggested: asked.append(suggested) or str(target)
    widget.export_button.clicked()
    qtbot.waitUntil(lambda: not widget.running, timeout=60000)
    written = tmp_path / "from-widget.zip"
    assert asked and asked[0].endswith("trained-tiny.bioimageio.zip")
    assert isinstance(load_model(written), DecoNoisingModel)
    assert str(written) in widget.status.value
    assert any(str(written) in text for _, text in notifications)
    # the file now exists and the dialog did not confirm the name with ".zip" added: asked
    questions = []
    widget.confirm_overwrite = lambda paths: questions.append(paths) or False
    widget.export_button.clicked()
    assert questions == [[written]] and not widget.running
    assert "Kept the existing outputs" in widget.status.value
