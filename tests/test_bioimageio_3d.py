"""bioimage.io packages of 3D and two-stage models: a 3D model's package has z, y and x axes and
passes bioimageio.core's model test; a two-stage model's package has both outputs, the
deconvolved one Richardson-Lucy inside the TorchScript weights (no ONNX)."""

from __future__ import annotations

import argparse
import json
import zipfile
from dataclasses import replace
from functools import partial

import numpy as np
import pytest
import torch
import yaml

from napari_deconoising import (
    ConfigError,
    DecoNoisingModel,
    ImageError,
    NetworkConfig,
    Normalisation,
    PredictionConfig,
    gaussian_psf,
    gaussian_psf_3d,
    load_model,
)
from napari_deconoising.cli.bioimageio import add_commands
from napari_deconoising.export.bioimageio import (
    MODEL_MEMBER,
    ChannelGraph,
    FixedRichardsonLucy,
    axis_sizes,
    calibrated_iterations,
    export_bioimageio_package,
)
from napari_deconoising.export.bioimageio.weights import make_test_input
from napari_deconoising.model.deconvolution import RichardsonLucy
from napari_deconoising.model.unet import UNet

core = pytest.importorskip("bioimageio.core")

# bioimageio.core loads TorchScript, which torch 2.10+ marks as deprecated
pytestmark = [
    pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning"),
    pytest.mark.usefixtures("offline"),  # conftest.py: no network may even be tried
]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread: on a busy machine, small FFTs on two threads are hundreds of times
    slower (the threads wait for each other), and Richardson-Lucy is all small FFTs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def model_3d(design: str = "joint", psf: np.ndarray | None = None) -> DecoNoisingModel:
    """An untrained 3D model: Z pooled at the second level, a small 3D Gaussian PSF."""
    torch.manual_seed(0)
    plan = [(1, 2, 2), (2, 2, 2)]
    network = UNet(NetworkConfig(depth=2, start_filters=4), spatial_dims=3, pooling=plan).eval()
    psf = gaussian_psf_3d(1.0, 1.0) if psf is None else psf
    config = {"design": design, "batch_size": 2, "learning_rate": 1e-3}
    metadata = {"voxel_size_um": [0.3, 0.1, 0.1]}
    norm = Normalisation(mean=110.0, std=6.0, offset=100.0)
    return DecoNoisingModel(network, psf, norm, training_config=config, metadata=metadata)


def model_2d_two_stage() -> DecoNoisingModel:
    torch.manual_seed(1)
    network = UNet(NetworkConfig(depth=2, start_filters=8)).eval()
    norm = Normalisation(mean=110.0, std=6.0, offset=100.0)
    return DecoNoisingModel(
        network, gaussian_psf(1.5), norm, training_config={"design": "two-stage"}
    )


def rdf_of(path) -> dict:
    with zipfile.ZipFile(path) as archive:
        return yaml.safe_load(archive.read("rdf.yaml"))


def arrays_of(path) -> dict[str, np.ndarray]:
    """The package's test tensors, by tensor id."""
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if n.startswith("test_") and n.endswith(".npy")]
        return {n.rsplit("_", 1)[1][:-4]: np.load(archive.open(n)) for n in names}


def core_test(path, weights: tuple[str, ...]) -> None:
    """bioimageio.core's model test on the CPU, run for exactly ``weights``."""
    summary = core.test_model(path, devices=["cpu"])
    failed = [(d.name, [e.msg for e in d.errors]) for d in summary.details if d.status != "passed"]
    assert summary.status == "passed", failed
    names = " ".join(d.name for d in summary.details)
    for kind in ("torchscript", "onnx"):
        assert (f"Reproduce test outputs from test inputs ({kind})" in names) == (kind in weights)


@pytest.fixture(scope="module")
def package_3d(tmp_path_factory):
    """A 3D model exported with the package's own bioimageio.core test."""
    model = model_3d()
    path = tmp_path_factory.mktemp("bioimageio3d") / "volume.zip"
    return model, export_bioimageio_package(model, path)


def test_a_3d_model_exports_with_z_y_x_axes_and_passes_the_core_test(package_3d):
    model, export = package_3d
    assert export.core_version is not None  # the export ran bioimageio.core's model test
    assert export.weights == ["torchscript", "onnx"] and export.spatial_dims == 3
    # Z is pooled once (step 2), Y and X twice (step 4); each minimum exceeds the PSF's radius
    assert model.network.size_multiples == (2, 4, 4) and model.psf.shape == (7, 7, 7)
    assert export.sizes == {"z": (4, 2), "y": (4, 4), "x": (4, 4)}
    assert export.test_shape == [1, 1, 16, 64, 64]
    rdf = rdf_of(export.path)
    (raw,) = rdf["inputs"]
    assert [a["type"] for a in raw["axes"]] == ["batch", "channel", "space", "space", "space"]
    assert [a.get("id") for a in raw["axes"][2:]] == ["z", "y", "x"]
    assert [a["size"] for a in raw["axes"][2:]] == [
        {"min": 4, "step": 2},
        {"min": 4, "step": 4},
        {"min": 4, "step": 4},
    ]
    assert [a["scale"] for a in raw["axes"][2:]] == [0.3, 0.1, 0.1]
    assert [o["id"] for o in rdf["outputs"]] == ["deconvolved", "denoised"]
    for output in rdf["outputs"]:
        references = [a["size"]["axis_id"] for a in output["axes"][2:]]
        assert references == ["z", "y", "x"]
    assert set(rdf["weights"]) == {"torchscript", "onnx"}
    assert "3d" in rdf["tags"] and "2d" not in rdf["tags"]
    assert "3D" in rdf["description"] and "3D" in rdf["name"]
    assert rdf["config"]["napari_deconoising"]["spatial_dims"] == 3
    assert "3D U-Net" in rdf["config"]["bioimageio"]["architecture_description"]
    with zipfile.ZipFile(export.path) as archive:
        readme = archive.read("README.md").decode()
        assert archive.read(rdf["covers"][0]["source"])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "axes (batch, channel, z, y, x)" in readme and "Depth (z): 4 + n x 2" in readme


def test_the_3d_package_holds_the_models_outputs_and_loads_back(package_3d):
    model, export = package_3d
    tensors = arrays_of(export.path)
    assert {k: v.shape for k, v in tensors.items()} == {
        "raw": (1, 1, 16, 64, 64),
        "deconvolved": (1, 1, 16, 64, 64),
        "denoised": (1, 1, 16, 64, 64),
    }
    with torch.inference_mode():
        deconvolved, denoised = ChannelGraph([model])(torch.from_numpy(tensors["raw"]))
    np.testing.assert_allclose(tensors["deconvolved"], deconvolved.numpy(), rtol=0, atol=1e-4)
    np.testing.assert_allclose(tensors["denoised"], denoised.numpy(), rtol=0, atol=1e-4)
    # the test input is a synthetic z-stack with the model's statistics, not plain noise
    raw = tensors["raw"][0, 0]
    assert abs(raw.mean() - 110.0) < 0.1 and abs(raw.std() - 6.0) < 0.1
    loaded = load_model(export.path)
    assert loaded.spatial_dims == 3 and loaded.to_bytes() == model.to_bytes()


def test_3d_sizes_follow_each_axis_psf_radius():
    # 11 planes (radius 5) with Z step 2: the smallest depth is 6 planes; Y and X still 4
    tall = model_3d(psf=gaussian_psf_3d(1.0, 2.0, size=7, planes=11))
    assert axis_sizes(tall) == {"z": (6, 2), "y": (4, 4), "x": (4, 4)}
    # a two-stage network does not convolve: only the poolings count
    assert axis_sizes(model_3d("two-stage")) == {"z": (2, 2), "y": (4, 4), "x": (4, 4)}


def test_a_given_stack_is_cropped_to_valid_test_sizes():
    model = model_3d()
    sizes = axis_sizes(model)
    stack = np.random.default_rng(0).normal(110, 6, (41, 150, 70)).astype(np.float32)
    raw = make_test_input([model], stack, sizes)
    # at most 32 x 128 x 128, multiples of each step, from the centre
    assert raw.shape == (1, 1, 32, 128, 68)
    np.testing.assert_array_equal(raw[0, 0], stack[4:36, 11:139, 1:69])
    with pytest.raises(ImageError, match=r"\(Z, Y, X\)"):
        make_test_input([model], stack[0], sizes)
    with pytest.raises(ImageError, match="smaller"):
        make_test_input([model], stack[:3], sizes)


def test_fixed_richardson_lucy_is_the_engines_algorithm():
    generator = np.random.default_rng(0)
    for psf, shape in ((gaussian_psf(1.5), (30, 36)), (gaussian_psf_3d(1.0, 1.0), (10, 20, 16))):
        image = generator.normal(130, 6, shape).astype(np.float32)
        background = float(np.percentile(image, 1.0))
        want = RichardsonLucy(psf, shape).run(image, background, 12, 0.0).estimate.numpy()
        module = torch.jit.script(FixedRichardsonLucy(psf, 12))
        assert float(module.background(torch.from_numpy(image))) == pytest.approx(background)
        got = module(torch.from_numpy(image)[None, None])[0, 0].numpy()
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * np.ptp(want))


@pytest.fixture(scope="module")
def two_stage_package(tmp_path_factory):
    """A 2D two-stage model exported with 6 Richardson-Lucy iterations and the core test."""
    model = model_2d_two_stage()
    path = tmp_path_factory.mktemp("bioimageio-two-stage") / "two-stage.zip"
    return model, export_bioimageio_package(model, path, rl_iterations=6)


def test_a_two_stage_package_has_both_outputs_and_torchscript_only(two_stage_package):
    model, export = two_stage_package
    assert model.two_stage and export.design == "two-stage" and export.rl_iterations == 6
    assert export.weights == ["torchscript"] and export.core_version is not None
    rdf = rdf_of(export.path)
    assert [o["id"] for o in rdf["outputs"]] == ["deconvolved", "denoised"]
    assert set(rdf["weights"]) == {"torchscript"}
    assert "Richardson-Lucy" in rdf["description"] and "6 iterations" in rdf["description"]
    assert "Richardson-Lucy" in rdf["outputs"][0]["description"]
    ours = rdf["config"]["napari_deconoising"]
    assert ours["design"] == "two-stage" and ours["rl_iterations"] == 6
    with zipfile.ZipFile(export.path) as archive:
        names = set(archive.namelist())
        readme = archive.read("README.md").decode()
    assert "deconoising.onnx" not in names and MODEL_MEMBER in names
    assert "TorchScript weights only" in readme
    # the network's output is the denoised image; the deconvolved one is the engine's
    # Richardson-Lucy of it (6 iterations, background at the 1st percentile)
    tensors = arrays_of(export.path)
    with torch.inference_mode():
        (denoised,) = ChannelGraph([model]).graphs[0].graph(torch.from_numpy(tensors["raw"]))
    np.testing.assert_allclose(tensors["denoised"], denoised.numpy(), rtol=0, atol=1e-4)
    image = tensors["denoised"][0, 0]
    engine = RichardsonLucy(model.psf, image.shape).run(image, np.percentile(image, 1.0), 6)
    want = engine.estimate.numpy()
    np.testing.assert_allclose(tensors["deconvolved"][0, 0], want, atol=1e-4 * np.ptp(want))
    assert load_model(export.path).two_stage


def test_the_two_stage_package_passes_the_core_test_with_torchscript(two_stage_package):
    core_test(two_stage_package[1].path, ("torchscript",))


def test_a_3d_two_stage_model_exports_both_outputs(tmp_path):
    model = model_3d("two-stage")
    path = tmp_path / "two-stage-3d.zip"
    export = export_bioimageio_package(model, path, rl_iterations=3, test=False)
    assert export.rl_iterations == 3 and export.weights == ["torchscript"]
    rdf = rdf_of(export.path)
    assert [o["id"] for o in rdf["outputs"]] == ["deconvolved", "denoised"]
    assert [a.get("id") for a in rdf["outputs"][0]["axes"][2:]] == ["z", "y", "x"]
    assert {k: v.shape for k, v in arrays_of(export.path).items()} == {
        k: (1, 1, 16, 64, 64) for k in ("raw", "deconvolved", "denoised")
    }


def test_the_iterations_are_where_the_engines_stopping_rule_stops():
    model = model_2d_two_stage()
    raw = make_test_input([model], None, axis_sizes(model))[:, :, :32, :32]
    with torch.inference_mode():
        (denoised,) = ChannelGraph([model]).graphs[0].graph(torch.from_numpy(raw))
    image = denoised[0, 0].numpy()
    config = PredictionConfig()
    background = np.percentile(image, 1.0)
    engine = RichardsonLucy(model.psf, image.shape).run(
        image, background, config.rl_iterations, config.rl_tolerance
    )
    assert calibrated_iterations([model], raw) == engine.iterations
    # the most over the images of a batch; the Predictor's limit without two-stage channels
    batch = np.concatenate([raw, raw[:, :, ::-1].copy()])
    assert calibrated_iterations([model], batch) >= engine.iterations
    assert calibrated_iterations([model_3d()], raw) == config.rl_iterations


def test_rl_iterations_are_for_two_stage_models_only(tiny_model, tmp_path):
    with pytest.raises(ConfigError, match="two-stage"):
        export_bioimageio_package(tiny_model, tmp_path / "a.zip", rl_iterations=5, test=False)
    two_stage = replace(tiny_model, training_config={"design": "two-stage"})
    with pytest.raises(ConfigError, match=">= 1"):
        export_bioimageio_package(two_stage, tmp_path / "b.zip", rl_iterations=0, test=False)


def test_cli_exports_a_two_stage_model(capsys, tmp_path, monkeypatch):
    from napari_deconoising.cli import bioimageio as command

    # the core test is the slow part and is tested above: here the option and the figures
    quick = partial(export_bioimageio_package, test=False)
    monkeypatch.setattr(command, "export_bioimageio_package", quick)
    model_file = model_2d_two_stage().save(tmp_path / "two-stage.pt")
    parser = argparse.ArgumentParser(prog="deconoising")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = ["export-bioimageio", "--model", model_file, "--out", tmp_path / "cli.zip"]
    args += ["--rl-iterations", "3"]
    parsed = parser.parse_args([str(a) for a in [*args, "--json"]])
    assert parsed.handler(parsed) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["weights"] == ["torchscript"] and figures["rl_iterations"] == 3
    assert figures["outputs"] == ["deconvolved", "denoised"] and figures["design"] == "two-stage"
    assert figures["sizes"] == {"y": {"min": 4, "step": 4}, "x": {"min": 4, "step": 4}}
    parsed = parser.parse_args([str(a) for a in args])  # the report lines say what it is
    parsed.overwrite = True
    assert parsed.handler(parsed) == 0
    text = capsys.readouterr().out
    assert "TorchScript weights" in text and "Richardson-Lucy" in text and "3 iterations" in text
