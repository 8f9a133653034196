import threading

import numpy as np
import pytest
import torch

from napari_deconoising import (
    CheckpointSaved,
    ConfigError,
    ImageError,
    NetworkConfig,
    PSFError,
    Trainer,
    TrainingConfig,
    TrainingFinished,
    TrainingStarted,
    TrainingStep,
    ValidationResult,
    gaussian_psf,
    load_model,
    make_sample,
    predict,
    psnr,
)
from napari_deconoising.training.inputs import last_checkpoint_path
from napari_deconoising.training.loop import TrainingRun

TINY = TrainingConfig(
    steps=12,
    patch_size=32,
    batch_size=4,
    network=NetworkConfig(depth=2, start_filters=8),
    validation_interval=5,
)


@pytest.fixture(scope="module")
def sample():
    return make_sample((96, 96), n_frames=3, seed=1)


def test_events_in_order_with_checkpoints(sample, tmp_path):
    path = tmp_path / "model.dcn"
    trainer = Trainer(sample.noisy, sample.psf, TINY, model_path=path)
    events = list(trainer.run())
    assert isinstance(events[0], TrainingStarted) and events[0].total_steps == 12
    steps = [e for e in events if isinstance(e, TrainingStep)]
    assert [e.step for e in steps] == list(range(1, 13))
    assert steps[-1].progress == pytest.approx(1.0)
    assert all(e.eta_s >= 0 and e.learning_rate > 0 for e in steps)
    assert [e.step for e in events if isinstance(e, ValidationResult)] == [5, 10, 12]
    kinds = {e.kind for e in events if isinstance(e, CheckpointSaved)}
    assert kinds == {"best", "last"}
    assert isinstance(events[-1], TrainingFinished) and not events[-1].stopped
    assert path.is_file() and last_checkpoint_path(path).is_file()  # exactly the path given
    assert load_model(path).info()["kind"] == "deconoising"


def test_stop_ends_at_a_batch_boundary_and_keeps_a_model(sample, tmp_path):
    trainer = Trainer(sample.noisy, sample.psf, TINY.replace(steps=1000), tmp_path / "m.pt")
    for event in trainer.run():
        if isinstance(event, TrainingStep) and event.step == 3:
            trainer.stop()
    assert event.stopped and event.steps == 3
    saved = load_model(tmp_path / "m.pt")
    assert saved.metadata["steps"] == 3  # the model of the stopped run, not an untrained one
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        assert torch.allclose(saved.network(x), trainer.model.network(x), atol=1e-6)


def test_seed_makes_runs_reproducible(sample):
    losses = []
    for _ in range(2):
        events = list(Trainer(sample.noisy[0], sample.psf, TINY.replace(steps=4)).run())
        losses.append([e.train_loss for e in events if isinstance(e, TrainingStep)])
    assert losses[0] == losses[1]


def test_any_dtype_and_offset_is_normalised(sample):
    shifted = (sample.noisy[:2] + 1000).astype(np.uint16)
    trainer = Trainer(shifted, sample.psf, TINY.replace(steps=2))
    list(trainer.run())
    norm = trainer.model.normalisation
    assert norm.mean == pytest.approx(float(shifted.mean()), rel=1e-4)
    assert 1090 < norm.offset < 1105  # camera offset 1100, estimated from the data


def test_n2v_mode_needs_no_psf(sample):
    trainer = Trainer(sample.noisy[0], None, TINY.replace(steps=2, n2v=True))
    list(trainer.run())
    assert trainer.model.is_n2v


def test_time_budget():
    data = make_sample((64, 64), n_frames=1).noisy
    config = TINY.replace(steps=None, minutes=0.02)
    events = list(Trainer(data, None, config.replace(n2v=True)).run())
    assert 1.0 <= events[-1].seconds < 5.0


def test_clear_errors(sample):
    with pytest.raises(ImageError, match="smaller than the training patch"):
        Trainer(sample.noisy[0, :20, :20], sample.psf, TINY)
    with pytest.raises(ImageError, match="4D"):
        Trainer(np.zeros((2, 2, 64, 64)), sample.psf, TINY)
    with pytest.raises(PSFError, match="needs a PSF"):
        Trainer(sample.noisy, None, TINY)
    with pytest.raises(PSFError, match="larger than the training patch"):
        Trainer(sample.noisy, gaussian_psf(16.0), TINY)  # 111 px: wider than the image
    with pytest.raises(ConfigError, match="patch_size"):
        TINY.replace(patch_size=30)
    with pytest.raises(ConfigError, match="unknown"):
        TrainingConfig.from_dict({"stepz": 3})


def test_patch_grows_to_hold_a_wide_psf(sample):
    trainer = Trainer(sample.noisy, gaussian_psf(8.0), TINY)  # patch 32
    width = trainer.psfs[0].shape[-1]
    assert width > 32 and trainer.config.patch_size == -(-(width + 1) // 4) * 4
    assert trainer.notes[0] == (
        f"training patch enlarged from 32 to {trainer.config.patch_size} px to hold the PSF "
        f"({width} px wide)"
    )
    assert trainer.notes[1].startswith("the PSF (FWHM 19 px) looks too wide for these images")


def test_config_round_trip():
    config = TINY.replace(seed=7, tv_weight=0.1)
    assert TrainingConfig.from_dict(config.to_dict()) == config


def test_short_training_improves_psnr():
    """End to end: a short CPU training denoises, and its raw output really deconvolves."""
    sample = make_sample((96, 96), n_frames=3, seed=2)
    config = TrainingConfig(
        steps=300, patch_size=32, batch_size=8, network=NetworkConfig(depth=2, start_filters=16)
    )
    trainer = Trainer(sample.noisy, sample.psf, config)
    list(trainer.run())
    result = predict(trainer.model, sample.noisy)
    assert psnr(sample.blurred, result.denoised) > psnr(sample.blurred, sample.noisy) + 10
    # Closer to the sharp object than the denoised image is: deconvolution, not only denoising.
    assert psnr(sample.sharp, result.deconvolved) > psnr(sample.sharp, result.denoised) + 0.4


def test_training_leaves_torch_global_random_state_alone(sample):
    before = torch.get_rng_state()
    list(Trainer(sample.noisy[0], sample.psf, TINY.replace(steps=2)).run())
    assert torch.equal(before, torch.get_rng_state())


def test_validation_falls_back_to_training_data_and_says_so():
    """One image too small to hold out a strip: validation uses the training data, with patches
    of its own (the first training batch is not the validation set replayed)."""
    image = make_sample((40, 40), n_frames=1, seed=3).noisy[0]
    config = TINY.replace(steps=2, batch_size=32)
    trainer = Trainer(image, gaussian_psf(1.0), config)
    started = next(iter(trainer.run()))
    assert started.validation_shares_data and started.validation_frames == 0
    assert "training data" in started.validation
    session = TrainingRun(trainer, threading.Event()).sessions[0]
    validation_patches = session._validation_set()[0][0]
    assert not torch.equal(session.sampler.sample(config.batch_size), validation_patches)


def test_held_out_frames_are_reported(sample):
    started = next(
        iter(Trainer(sample.noisy, sample.psf, TINY.replace(validation_fraction=0.34)).run())
    )
    assert not started.validation_shares_data and started.validation_frames == 1
    assert started.validation == "1 held-out frame(s)"


def test_continuing_a_model_from_its_file_goes_on_where_it_stopped(sample, tmp_path):
    """Continue training: architecture, normalisation and step count come from the model, and
    the validation loss keeps falling."""
    first_path, second_path = tmp_path / "first.pt", tmp_path / "second.pt"
    config = TINY.replace(steps=30, validation_interval=10, learning_rate=3e-3)
    first = Trainer(sample.noisy, sample.psf, config, first_path)
    first_events = list(first.run())
    brighter = sample.noisy * 1.5 + 20  # new images: normalisation still the model's
    second = Trainer(brighter, None, config, second_path, init=first_path)
    events = list(second.run())
    steps = [e.step for e in events if isinstance(e, TrainingStep)]
    assert events[0].first_step == 30 and steps[0] == 31 and steps[-1] == 60
    assert load_model(second_path).metadata["steps"] == 60
    assert second.model.normalisation == first.model.normalisation
    np.testing.assert_array_equal(second.model.psf, first.model.psf)  # the model's PSF
    continued = Trainer(sample.noisy, None, config, init=first_path)
    last_first = first_events[-1].best_validation_loss
    assert list(continued.run())[-1].best_validation_loss < last_first


def test_continuing_refuses_images_of_another_channel_count(sample, tmp_path):
    path = tmp_path / "m.pt"
    list(Trainer(sample.noisy, sample.psf, TINY.replace(steps=2), path).run())
    two_channels = np.stack([sample.noisy, sample.noisy], axis=1)
    with pytest.raises(ImageError, match="trained on 1 channel"):
        Trainer(two_channels, None, TINY, init=path, axes="TCYX")


def test_current_model_gives_the_weights_mid_run(sample):
    trainer = Trainer(sample.noisy, sample.psf, TINY.replace(steps=6))
    with pytest.raises(RuntimeError, match="not running"):
        trainer.current_model()
    snapshots = []
    for event in trainer.run():
        if isinstance(event, TrainingStep) and event.step in (2, 5):
            snapshots.append(trainer.current_model())
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        outputs = [m.network(x) for m in snapshots]
    assert not torch.allclose(outputs[0], outputs[1])  # weights moved between the two steps
    assert snapshots[0].normalisation == trainer.model.normalisation


def test_cpu_precision_follows_the_setting_and_the_hardware(monkeypatch):
    from napari_deconoising.model import devices

    cpu = torch.device("cpu")
    monkeypatch.setattr(devices, "cpu_computes_bfloat16", lambda: True)
    assert devices.mixed_precision(cpu, "auto") == "bfloat16"
    assert devices.mixed_precision(cpu, "float32") is None
    monkeypatch.setattr(devices, "cpu_computes_bfloat16", lambda: False)
    assert devices.mixed_precision(cpu, "auto") is None
    assert devices.mixed_precision(cpu, "mixed") == "bfloat16"
    with devices.autocast(cpu, "mixed"):
        assert torch.is_autocast_enabled("cpu")
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16
    assert not torch.is_autocast_enabled("cpu")


@pytest.mark.parametrize("native", [True, False])
def test_a_cpu_run_says_which_arithmetic_it_trains_in(monkeypatch, native):
    from napari_deconoising.model import devices
    from napari_deconoising.training.loop import FLOAT32_CPU_NOTE

    monkeypatch.setattr(devices, "cpu_computes_bfloat16", lambda: native)
    sample = make_sample((64, 64), n_frames=2, seed=2)
    config = TrainingConfig(
        steps=1, patch_size=32, batch_size=2, network=NetworkConfig(start_filters=8)
    )
    started = next(iter(Trainer(sample.noisy, sample.psf, config.replace(device="cpu")).run()))
    notes = " ".join(started.notes)
    assert ("computes in bfloat16" in notes) == native
    assert (FLOAT32_CPU_NOTE in started.notes) == (not native)
    assert "longer budget" in FLOAT32_CPU_NOTE


@pytest.mark.parametrize("precision", ["mixed", "float32"])
def test_training_in_bfloat16_on_the_cpu_says_so_and_still_denoises(precision):
    sample = make_sample((96, 96), n_frames=3, seed=2)
    config = TrainingConfig(
        steps=200,
        patch_size=32,
        batch_size=8,
        network=NetworkConfig(depth=2, start_filters=16),
        precision=precision,
        device="cpu",
    )
    trainer = Trainer(sample.noisy, sample.psf, config)
    events = list(trainer.run())
    notes = " ".join(events[0].notes)
    assert ("bfloat16" in notes) == (precision == "mixed")
    result = predict(trainer.model, sample.noisy)
    assert psnr(sample.blurred, result.denoised) > psnr(sample.blurred, sample.noisy) + 9
    assert trainer.model.training_config["precision"] == precision
    weights = trainer.model.network.state_dict().values()
    assert all(w.dtype == torch.float32 for w in weights)  # the model file stays float32


def test_precision_and_psf_coverage_from_the_command_line_and_the_form(qtbot):
    from napari_deconoising.cli import build_parser
    from napari_deconoising.cli.train import training_config
    from napari_deconoising.widgets.training_form import TrainingSettings

    base = ["train", "x.tif", "--out", "m.pt", "--psf-sigma", "2"]
    args = build_parser().parse_args([*base, "--precision", "float32", "--min-psf-coverage", "0.5"])
    config = training_config(args, "3d")
    assert config.precision == "float32" and config.min_psf_coverage == 0.5
    default = training_config(build_parser().parse_args(base), "3d")
    assert default.precision == "auto" and default.min_psf_coverage == 0  # measured: off
    with pytest.raises(SystemExit):
        build_parser().parse_args([*base, "--precision", "half"])
    form = TrainingSettings()
    assert {form.precision, form.min_psf_coverage} <= set(form.advanced)
    assert form.config().precision == "auto" and form.config().min_psf_coverage == 0
    form.set_values(precision="float32", min_psf_coverage=0.9)
    config = form.config()
    assert config.precision == "float32" and config.min_psf_coverage == 0.9
