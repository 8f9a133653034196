"""3D DecoNoising end to end on tiny volumes: training, model files, tiled prediction, the
mode choice, continued training, bad input and the command line."""

import json

import numpy as np
import pytest
import tifffile
import torch
from scipy import ndimage

from napari_deconoising import (
    Cancelled,
    DecoNoisingModel,
    ImageError,
    NetworkConfig,
    Normalisation,
    PredictionConfig,
    PredictionProgress,
    Predictor,
    PSFError,
    Trainer,
    TrainingConfig,
    TrainingStarted,
    TrainingStep,
    load_model,
    predict,
)
from napari_deconoising.cli import main
from napari_deconoising.compression import Compressor, preset_config
from napari_deconoising.export.bioimageio import export_bioimageio
from napari_deconoising.export.onnx import export_onnx
from napari_deconoising.io.axes import AxesImage
from napari_deconoising.model.unet import UNet

SPACING = {"Z": 0.3, "Y": 0.1, "X": 0.1}


def gaussian_psf_3d(sigma_z=1.0, sigma_xy=1.0, half=2) -> np.ndarray:
    z, y, x = np.mgrid[-half : half + 1, -half : half + 1, -half : half + 1]
    psf = np.exp(-(z**2) / (2 * sigma_z**2) - (y**2 + x**2) / (2 * sigma_xy**2))
    return (psf / psf.sum()).astype(np.float32)


def blurred_and_noisy(shape=(12, 32, 32), seed=0) -> tuple[np.ndarray, np.ndarray]:
    """Blurred blobs (the truth a denoiser should reach) and their Poisson recording, both on a
    camera offset of 100."""
    rng = np.random.default_rng(seed)
    truth = ndimage.gaussian_filter(rng.random(shape), 1.5)
    truth = 200 * (truth - truth.min()) / np.ptp(truth)
    blurred = ndimage.convolve(truth, gaussian_psf_3d().astype(np.float64), mode="reflect")
    return blurred + 100, (rng.poisson(blurred) + 100).astype(np.float32)


def noisy_volume(shape=(12, 32, 32), seed=0) -> np.ndarray:
    """Blurred blobs with Poisson noise on a camera offset of 100."""
    return blurred_and_noisy(shape, seed)[1]


def tiny_config(**values) -> TrainingConfig:
    base = {
        "steps": 40,
        "patch_size": 16,
        "patch_size_z": 8,
        "batch_size": 2,
        # the full 3D network, which pools Z (the 2.5D default: test_planar_3d.py)
        "network": {"depth": 2, "start_filters": 8, "z_context": 0},
        "validation_interval": 20,
        "learning_rate": 3e-3,
    }
    values = {**base, **values}
    return TrainingConfig.for_mode(values.pop("mode", "3d"), **values)


@pytest.fixture(scope="module")
def volume():
    return AxesImage(noisy_volume(), "ZYX", SPACING)


@pytest.fixture(scope="module")
def trained(volume, tmp_path_factory):
    path = tmp_path_factory.mktemp("model3d") / "model.pt"
    trainer = Trainer(volume, gaussian_psf_3d(), tiny_config(), path)
    events = list(trainer.run())
    return trainer, events, path


def test_3d_training_reduces_the_loss_and_saves_a_3d_model(trained):
    trainer, events, path = trained
    started = events[0]
    assert isinstance(started, TrainingStarted) and started.mode == "3d"
    assert trainer.mode == "3d" and trainer.spatial_dims == 3
    losses = [e.train_loss for e in events if isinstance(e, TrainingStep)]
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:5])
    model = load_model(path)
    assert model.spatial_dims == 3
    assert model.voxel_size_um == pytest.approx((0.3, 0.1, 0.1))
    assert model.psf.shape == (5, 5, 5) and model.psf.sum() == pytest.approx(1, abs=1e-5)
    # 0.3 / 0.1 µm: Z is pooled once the XY pooling has made the voxel less elongated
    assert model.network.pooling == [(1, 2, 2), (2, 2, 2)]
    info = model.info()
    assert info["spatial_dims"] == 3 and info["pooling"] == [[1, 2, 2], [2, 2, 2]]
    assert model.training_config["mode"] == "3d"


def test_3d_model_round_trip_predicts_the_same(trained, volume):
    trainer, _, path = trained
    loaded = load_model(path)
    first = predict(trainer.model, volume)
    again = predict(loaded, volume)
    np.testing.assert_array_equal(first.deconvolved, again.deconvolved)
    assert first.deconvolved.shape == volume.shape and first.axes == "ZYX"
    assert first.spacing == SPACING


def test_tiled_3d_prediction_equals_whole_volume():
    torch.manual_seed(0)
    network = UNet(NetworkConfig(depth=1, start_filters=4), spatial_dims=3, pooling=[(1, 2, 2)])
    model = DecoNoisingModel(network.eval(), gaussian_psf_3d(), Normalisation(150, 20, 100))
    assert network.context == (6, 10, 10)
    shape = (24, 40, 44)
    image = AxesImage(noisy_volume(shape, seed=5), "ZYX")
    whole = predict(model, image, PredictionConfig(tile=64, overlap=16, tile_z=32, overlap_z=8))
    small = PredictionConfig(tile=32, overlap=12, tile_z=20, overlap_z=8, batch_size=5)
    tiled_predictor = Predictor(model, small)
    grids, _ = tiled_predictor.tiling(shape)
    assert [g.count for g in grids] == [3, 4, 4]  # really tiled along every axis
    assert [g.overlap for g in grids] == [6, 10, 10]  # no more than the network sees
    tiled = tiled_predictor.predict(image)
    scale = np.ptp(whole.deconvolved)
    # everywhere, borders included: both pad the volume's borders alike
    np.testing.assert_allclose(tiled.deconvolved, whole.deconvolved, atol=1e-4 * scale)
    np.testing.assert_allclose(tiled.denoised, whole.denoised, atol=1e-4 * scale)


def test_3d_prediction_keeps_tzyx_and_reports_progress(trained):
    model = trained[0].model
    data = np.stack([noisy_volume((8, 24, 24), seed=s) for s in (1, 2)])
    events = list(Predictor(model, PredictionConfig(tile=16, overlap=4)).run(data, axes="TZYX"))
    progress = [e for e in events if isinstance(e, PredictionProgress)]
    result = events[-1]
    assert result.deconvolved.shape == data.shape and result.axes == "TZYX"
    assert progress[-1].tiles_done == progress[-1].tiles_total and progress[-1].n_frames == 2
    alone = predict(model, data[1], PredictionConfig(tile=16, overlap=4), axes="ZYX")
    np.testing.assert_array_equal(result.deconvolved[1], alone.deconvolved)


def test_3d_prediction_can_be_cancelled(trained):
    predictor = Predictor(trained[0].model, PredictionConfig(tile=16, overlap=4, batch_size=1))
    run = predictor.run(noisy_volume((8, 32, 32)), axes="ZYX")
    next(run)
    predictor.cancel()
    with pytest.raises(Cancelled):
        list(run)


def test_3d_model_refuses_images_without_z(trained):
    with pytest.raises(ImageError, match=r"3D model.*no Z axis"):
        predict(trained[0].model, noisy_volume((1, 32, 32))[0])
    with pytest.raises(ImageError, match="no Z axis"):
        predict(trained[0].model, noisy_volume((3, 32, 32)), axes="SYX")


def test_2d_model_goes_plane_by_plane_through_a_z_stack(volume):
    config = TrainingConfig(steps=2, patch_size=16, batch_size=2, network={"depth": 2})
    trainer = Trainer(volume, gaussian_psf_3d(), config.replace(mode="2d"))
    list(trainer.run())
    model = trainer.model
    assert model.spatial_dims == 2 and model.psf.ndim == 2  # the in-focus plane
    result = predict(model, volume, PredictionConfig(tile=32, overlap=4))
    plane = predict(model, volume.data[3], PredictionConfig(tile=32, overlap=4))
    np.testing.assert_array_equal(result.deconvolved[3], plane.deconvolved)


def test_3d_trains_two_channels_and_keeps_czyx(volume):
    data = np.stack([volume.data, noisy_volume(seed=9)])
    image = AxesImage(data, "CZYX", SPACING)
    trainer = Trainer(image, gaussian_psf_3d(), tiny_config(steps=2))
    list(trainer.run())
    assert trainer.model.n_channels == 2 and trainer.model.spatial_dims == 3
    result = predict(trainer.model, image, PredictionConfig(tile=32, overlap=4))
    assert result.deconvolved.shape == data.shape


def test_auto_mode_without_config_uses_3d_defaults():
    image = AxesImage(np.zeros((20, 64, 64), np.float32), "ZYX")
    trainer = Trainer(image, gaussian_psf_3d())
    assert trainer.mode == "3d" and trainer.config.mode == "3d"
    assert trainer.config.network == TrainingConfig.for_mode("3d").network
    assert trainer.config.batch_size == TrainingConfig.for_mode("3d").batch_size
    assert Trainer(image, gaussian_psf_3d()[2]).mode == "2d"  # a 2D PSF: plane by plane


def test_z_patch_is_clipped_to_short_stacks_with_a_note():
    image = AxesImage(noisy_volume((6, 32, 32)), "ZYX")
    trainer = Trainer(image, gaussian_psf_3d(), tiny_config(patch_size_z=16))
    assert trainer.config.patch_size_z == 6
    assert any("clipped to 6" in note for note in trainer.notes)
    assert trainer.pooling == [(1, 2, 2), (1, 2, 2)]  # too few planes to pool Z
    started = next(iter(trainer.run()))
    assert started.notes[: len(trainer.notes)] == tuple(trainer.notes)  # (+ precision note)


def test_joint_3d_training_on_a_cpu_points_to_the_two_stage_design():
    image = AxesImage(noisy_volume((6, 32, 32)), "ZYX")
    hint = "the joint 3D design learns a widefield PSF slowly on a CPU"

    def first_notes(psf, **values) -> str:
        return " ".join(next(iter(Trainer(image, psf, tiny_config(**values)).run())).notes)

    notes = first_notes(gaussian_psf_3d(), patch_size_z=6, design="joint")
    assert hint in notes and "the two-stage design (the 3D default" in notes
    assert hint not in first_notes(gaussian_psf_3d(), patch_size_z=6, design="two-stage")
    assert hint not in first_notes(gaussian_psf_3d(), mode="2d", design="joint")
    assert hint not in first_notes(None, n2v=True, mode="3d", patch_size_z=6)


def test_3d_training_defaults_to_the_two_stage_design():
    assert TrainingConfig.for_mode("3d").design == "two-stage"
    assert TrainingConfig.for_mode("2d").design == TrainingConfig().design == "joint"
    trainer = Trainer(AxesImage(noisy_volume((16, 64, 64)), "ZYX"), gaussian_psf_3d())
    assert trainer.mode == "3d" and trainer.config.design == "two-stage"


def test_z_patch_grows_to_three_times_the_psf_depth_where_the_psf_is_in_the_loss(volume):
    psf = gaussian_psf_3d(3, half=1)
    trainer = Trainer(volume, psf, tiny_config(patch_size_z=8, design="joint"))
    assert trainer.config.patch_size_z == 9  # 3 planes: three times that, within 12 planes
    assert trainer.notes[0].startswith("Z patch enlarged from 8 to 9 planes")
    # a two-stage network is a denoiser: its PSF does not shape the patch
    trainer = Trainer(volume, psf, tiny_config(patch_size_z=8, design="two-stage"))
    assert trainer.config.patch_size_z == 8
    assert not any("enlarged" in note for note in trainer.notes)


@pytest.mark.parametrize(
    "image, psf, mode, error, message",
    [
        (np.zeros((32, 32)), gaussian_psf_3d(), "auto", PSFError, "PSF is 3D but"),
        (np.zeros((32, 32)), gaussian_psf_3d(), "3d", ImageError, "needs z-stacks"),
        ("volume", np.ones((3, 3)) / 9, "3d", PSFError, "needs a 3D PSF.*--mode 2d"),
        ("short", gaussian_psf_3d(3, half=3), "3d", PSFError, "spans 7 planes.*z-stacks"),
        ("flat", gaussian_psf_3d(), "3d", ImageError, "3 plane.*--mode 2d"),
    ],
)
def test_bad_3d_input_gets_a_clear_message(volume, image, psf, mode, error, message):
    images = {
        "volume": volume,
        "short": AxesImage(noisy_volume((6, 32, 32)), "ZYX"),
        "flat": AxesImage(noisy_volume((3, 32, 32)), "ZYX"),
    }
    data = images.get(image, image) if isinstance(image, str) else image
    with pytest.raises(error, match=message):
        Trainer(data, psf, tiny_config(mode=mode, patch_size_z=8, design="joint"))


def test_continuing_a_3d_model(trained, volume):
    trainer, _, path = trained
    more = Trainer(volume, None, tiny_config(steps=3), init=path)
    assert more.mode == "3d" and more.pooling == trainer.model.network.pooling
    events = list(more.run())
    assert events[-1].steps == 40 + 3
    np.testing.assert_array_equal(more.model.psf, trainer.model.psf)
    with pytest.raises(ImageError, match=r"3D model.*no Z axis"):
        Trainer(noisy_volume((2, 32, 32)), None, tiny_config(steps=1), init=path)
    with pytest.raises(ImageError, match="3D model; it cannot continue in 2D"):
        Trainer(volume, None, tiny_config(steps=1, mode="2d"), init=path)


def test_2d_model_cannot_continue_in_3d(volume):
    config = TrainingConfig(steps=1, patch_size=16, batch_size=2, mode="2d")
    trainer = Trainer(volume, gaussian_psf_3d(), config)
    list(trainer.run())
    with pytest.raises(ImageError, match="2D model; it cannot continue in 3D"):
        Trainer(volume, None, config.replace(mode="3d"), init=trainer.model)


def test_3d_model_exports_to_onnx_and_to_bioimageio(trained, tmp_path):
    model = trained[0].model
    exported = export_onnx(model, tmp_path / "model3d.onnx")
    assert exported.max_relative_error < 1e-4
    assert len(exported.checked_shapes[0]) == 5  # (N, 1, Z, Y, X)
    # the package's own checks are in test_bioimageio_3d.py; here a trained model's export
    # (a two-stage one with few Richardson-Lucy iterations, to be quick)
    iterations = 3 if model.two_stage else None
    package = export_bioimageio(model, tmp_path / "model.zip", test=False, rl_iterations=iterations)
    assert load_model(package).spatial_dims == 3


def test_3d_model_compresses_to_a_smaller_3d_model(trained, tmp_path):
    config = preset_config("balanced").replace(
        steps=3, timing_repeats=1, timing_size=64, patch_size=32
    )
    volumes = [noisy_volume((8, 40, 40), seed) for seed in range(3)]
    compressor = Compressor(trained[0].model, volumes, config=config, out_path=tmp_path / "s.pt")
    events = list(compressor.run())
    report = events[-1].report
    assert report.params_after < report.params_before
    assert report.evaluated_on.startswith("1 frame held out")
    small = load_model(tmp_path / "s.pt")
    assert small.spatial_dims == 3 and small.network.pooling == trained[0].model.network.pooling
    assert small.voxel_size_um == trained[0].model.voxel_size_um
    result = predict(small, volumes[0])  # a plain 3D array is a z-stack for a 3D model
    assert result.deconvolved.shape == volumes[0].shape and result.axes == "ZYX"
    with pytest.raises(ImageError, match="z-stacks"):
        Compressor(trained[0].model, [np.zeros((40, 40), np.float32)], config=config)


def test_cli_trains_and_describes_a_3d_model(tmp_path, capsys):
    tifffile.imwrite(
        tmp_path / "stack.tif",
        noisy_volume().astype(np.uint16),
        imagej=True,
        metadata={"axes": "ZYX", "spacing": 0.3, "unit": "um"},
        resolution=(10, 10),
    )
    tifffile.imwrite(tmp_path / "psf.tif", gaussian_psf_3d())
    model = tmp_path / "m.pt"
    code = main(
        [
            "train",
            str(tmp_path / "stack.tif"),
            "--psf",
            str(tmp_path / "psf.tif"),
            "--out",
            str(model),
            "--steps",
            "2",
            "--patch-size",
            "16",
            "--patch-size-z",
            "8",
            "--start-filters",
            "4",
            "--json",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["mode"] == "3d"
    assert figures["voxel_size_um"] == pytest.approx([0.3, 0.1, 0.1])
    saved = load_model(model)
    assert saved.spatial_dims == 3 and saved.network.widths[0] == 4
    assert saved.training_config["batch_size"] == TrainingConfig.for_mode("3d").batch_size
    assert main(["info", str(model)]) == 0
    text = capsys.readouterr().out
    assert "3D U-Net" in text and "pooling per level" in text and "0.3 x 0.1 x 0.1" in text
    code = main(
        [
            "train",
            str(tmp_path / "stack.tif"),
            "--psf",
            str(tmp_path / "psf.tif"),
            "--out",
            str(tmp_path / "flat.pt"),
            "--steps",
            "1",
            "--patch-size",
            "16",
            "--mode",
            "2d",
        ]
    )
    assert code == 0 and load_model(tmp_path / "flat.pt").spatial_dims == 2


def test_3d_training_is_reproducible(volume):
    runs = []
    for _ in range(2):
        trainer = Trainer(volume, gaussian_psf_3d(), tiny_config(steps=3))
        runs.append([e.train_loss for e in trainer.run() if isinstance(e, TrainingStep)])
    assert runs[0] == runs[1]
    torch.testing.assert_close(torch.tensor(runs[0]), torch.tensor(runs[1]))


def test_cli_resamples_a_psf_recorded_at_another_voxel_size(tmp_path):
    from napari_deconoising.psf.load import load_psf
    from napari_deconoising.psf.prepare import match_voxel_size

    tifffile.imwrite(
        tmp_path / "stack.tif",
        noisy_volume().astype(np.uint16),
        imagej=True,
        metadata={"axes": "ZYX", "spacing": 0.3, "unit": "um"},
        resolution=(10, 10),
    )
    fine = gaussian_psf_3d(2.0, 2.0, half=6)  # recorded at half the stack's voxel size
    tifffile.imwrite(
        tmp_path / "psf.tif",
        fine,
        imagej=True,
        metadata={"axes": "ZYX", "spacing": 0.15, "unit": "um"},
        resolution=(20, 20),
    )
    model = tmp_path / "m.pt"
    arguments = ["train", str(tmp_path / "stack.tif"), "--psf", str(tmp_path / "psf.tif")]
    arguments += ["--out", str(model), "--steps", "1", "--patch-size", "16"]
    assert main([*arguments, "--patch-size-z", "8", "--start-filters", "4"]) == 0
    expected = match_voxel_size(
        load_psf(tmp_path / "psf.tif", spatial_dims=3), (0.15, 0.05, 0.05), (0.3, 0.1, 0.1)
    )
    saved = load_model(model).psf
    assert saved.shape == expected.shape and saved.shape[1] < fine.shape[1]
    np.testing.assert_allclose(saved, expected, atol=1e-6)


def test_blind_spots_the_psf_barely_covers_are_left_out_of_the_loss(volume):
    from napari_deconoising.training.channel_session import ChannelSession

    psf = gaussian_psf_3d(sigma_z=1.0, sigma_xy=1.5, half=3)
    config = tiny_config(min_psf_coverage=0.9, design="joint")  # the PSF is in the loss
    session = ChannelSession(
        [np.asarray(volume.data)],
        psf,
        config,
        torch.device("cpu"),
        0,
        pooling=[(1, 2, 2), (2, 2, 2)],
    )
    weights = session._loss_weights((8, 16, 16))[0, 0]
    assert weights[4, 8, 8] == 1 and weights[0, 8, 8] == 0 and weights[4, 8, 0] == 0
    assert 0.05 < float(weights.mean()) < 0.6
    # a PSF about as large as the patch: the best-covered blind spots still count
    wide = gaussian_psf_3d(sigma_z=3.0, sigma_xy=6.0, half=7)
    session.kernel, session._weights = torch.from_numpy(wide)[None, None], {}
    assert 0 < float(session._loss_weights((8, 16, 16)).mean()) < 0.2
    assert TrainingConfig.from_dict(config.to_dict()).min_psf_coverage == 0.9


def test_3d_training_with_psf_coverage_reduces_the_loss(volume):
    config = tiny_config(min_psf_coverage=0.9)
    trainer = Trainer(volume, gaussian_psf_3d(half=3), config)
    losses = [e.train_loss for e in trainer.run() if isinstance(e, TrainingStep)]
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:5])
    assert trainer.model.training_config["min_psf_coverage"] == 0.9
