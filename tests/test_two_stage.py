"""Two-stage models (a blind-spot denoiser, then Richardson-Lucy) and the engine's
Richardson-Lucy itself."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_deconoising import (
    NetworkConfig,
    PredictionConfig,
    Predictor,
    Trainer,
    TrainingConfig,
    load_model,
    psnr,
    train,
)
from napari_deconoising.export.onnx import DeconoisingGraph
from napari_deconoising.model.deconvolution import RichardsonLucy
from napari_deconoising.prediction.blocks import halo_sizes
from napari_deconoising.psf.models import gaussian_psf


def blurred_points(shape=(48, 48), sigma=1.5, background=20.0):
    """Bright points (one 2 pixels from the border) blurred by a Gaussian PSF, and the PSF."""
    sharp = np.zeros(shape)
    for y, x in [(10, 12), (30, 35), (24, 2), (40, 20)]:
        sharp[y, x] = 1000.0
    psf = gaussian_psf(sigma)
    deconvolver = RichardsonLucy(psf, shape)
    padded = torch.zeros(deconvolver.lengths)
    padded[deconvolver.measured] = torch.from_numpy(sharp).float()
    blurred = deconvolver.convolve(padded)[deconvolver.measured].numpy() + background
    return sharp + background, blurred, psf


def test_richardson_lucy_sharpens_points_up_to_the_border():
    sharp, blurred, psf = blurred_points()
    result = RichardsonLucy(psf, blurred.shape).run(blurred, background=20.0, max_iterations=50)
    estimate = result.estimate.numpy()
    assert result.iterations == 50 and not result.converged
    assert psnr(sharp, estimate) > psnr(sharp, blurred) + 6
    # the point 2 pixels from the left border comes back at its place, as bright as the others
    assert np.unravel_index(estimate[16:32, :8].argmax(), (16, 8)) == (8, 2)
    assert estimate[24, 2] > 0.3 * estimate[10, 12]
    assert estimate.min() >= 20.0 - 1e-3  # the background is added back, nothing below it


def test_richardson_lucy_stops_at_its_tolerance_and_refuses_a_wrong_psf():
    _, blurred, psf = blurred_points()
    deconvolver = RichardsonLucy(psf, blurred.shape)
    seen: list[int] = []
    result = deconvolver.run(
        blurred, 20.0, 500, tolerance=0.01, callback=lambda i, _: seen.append(i)
    )
    assert result.converged and 2 < result.iterations < 500
    assert seen == list(range(1, result.iterations + 1))
    with pytest.raises(ValueError, match="3D PSF cannot deconvolve a 2D image"):
        RichardsonLucy(np.ones((3, 3, 3)) / 27, blurred.shape)


@pytest.fixture(scope="module")
def two_stage_model(tiny_sample):
    config = TrainingConfig(
        steps=150,
        patch_size=32,
        batch_size=4,
        network=NetworkConfig(depth=2, start_filters=8),
        validation_interval=10,
        device="cpu",
        design="two-stage",
    )
    return train(tiny_sample.noisy, tiny_sample.psf, config)


def test_a_two_stage_model_denoises_with_its_network_and_deconvolves_with_richardson_lucy(
    two_stage_model, tiny_sample
):
    model = two_stage_model
    assert model.two_stage and model.output_psf is None and model.info()["design"] == "two-stage"
    # float32, as the bare network below computes
    config = PredictionConfig(rl_iterations=15, rl_tolerance=0.0, precision="float32")
    predictor = Predictor(model, config)
    result = predictor.predict(tiny_sample.noisy[0])
    network = model.network.eval()
    with torch.no_grad():
        raw = model.normalisation.normalise(tiny_sample.noisy[0]).astype(np.float32)
        output = network(torch.from_numpy(raw)[None, None])[0, 0].numpy() * model.output_scale
    # away from the borders (the predictor reflects, the bare network pads zeros), the denoised
    # output is the network's output itself, not a PSF convolution of it
    centre = (slice(16, 48), slice(16, 48))
    expected = model.normalisation.denormalise(output)[centre]
    assert np.abs(result.denoised[centre] - expected).max() < 1e-3 * np.ptp(expected)
    # the deconvolved output is Richardson-Lucy of the denoised one: sharper, same photons
    assert list(predictor.deconvolvers) == [(0, (64, 64))]
    assert np.abs(np.diff(result.deconvolved)).mean() > np.abs(np.diff(result.denoised)).mean()
    assert result.deconvolved.mean() == pytest.approx(result.denoised.mean(), rel=0.05)
    gain = psnr(tiny_sample.blurred, result.denoised) - psnr(
        tiny_sample.blurred, tiny_sample.noisy[0]
    )
    assert gain > 1.5


def test_a_two_stage_model_keeps_its_design_when_saved_continued_and_exported(
    two_stage_model, tiny_sample, tmp_path
):
    path = two_stage_model.save(tmp_path / "two.dnz")
    loaded = load_model(path)
    assert loaded.two_stage and loaded.training_config["design"] == "two-stage"
    config = TrainingConfig(
        steps=2, patch_size=32, batch_size=2, validation_interval=2, device="cpu"
    )
    trainer = Trainer(tiny_sample.noisy, None, config, init=loaded)
    for _ in trainer.run():
        pass
    assert trainer.config.design == "two-stage" and trainer.model.two_stage
    # Richardson-Lucy reaches further than one convolution: blocks read more context
    joint = load_model(path)
    joint.training_config = {**joint.training_config, "design": "joint"}
    assert halo_sizes(loaded, PredictionConfig())["X"] > halo_sizes(joint, PredictionConfig())["X"]
    # the ONNX graph of a two-stage model gives its network's (denoised) output only
    graph = DeconoisingGraph(loaded)
    assert graph.outputs == ("denoised",) and len(graph(torch.ones(1, 1, 32, 32) * 100)) == 1


def test_the_command_line_sets_the_richardson_lucy_stop():
    from napari_deconoising.cli import build_parser
    from napari_deconoising.cli._settings import given
    from napari_deconoising.cli.predict import PREDICTION_SETTINGS

    args = build_parser().parse_args(
        [
            "predict",
            "x.tif",
            "--model",
            "m.pt",
            "--output-dir",
            "out",
            "--rl-iterations",
            "5",
            "--rl-tolerance",
            "0.02",
        ]
    )
    config = PredictionConfig().replace(**given(args, PREDICTION_SETTINGS))
    assert (config.rl_iterations, config.rl_tolerance) == (5, 0.02)
