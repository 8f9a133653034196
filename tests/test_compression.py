"""Model compression: widths, pruning, fine-tuning, the report, the file, cancelling, bad input."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch

from napari_deconoising import (
    Cancelled,
    ConfigError,
    DecoNoisingModel,
    ImageError,
    ModelFileError,
    NetworkConfig,
    OutputError,
    PredictionConfig,
    Predictor,
    TrainingConfig,
    make_sample,
    train,
)
from napari_deconoising.cli import main as cli_main
from napari_deconoising.compression import (
    PRESETS,
    CompressionConfig,
    CompressionFinished,
    CompressionStep,
    Compressor,
    compress,
    plan_widths,
    preset_config,
    prune_unet,
    weights_fingerprint,
)
from napari_deconoising.evaluation.metrics import psnr
from napari_deconoising.model.devices import cpu_computes_bfloat16
from napari_deconoising.model.unet import UNet, count_parameters

REPORT_KEYS = {
    "params_before",
    "params_after",
    "bytes_before",
    "bytes_after",
    "ms_per_frame_before",
    "ms_per_frame_after",
    "psnr_denoised_vs_original",
    "psnr_deconvolved_vs_original",
}


def quick(**changes) -> CompressionConfig:
    """The balanced preset, shrunk to run in about a second on 64x64 images."""
    values = {
        "steps": 12,
        "minutes": None,
        "patch_size": 32,
        "batch_size": 4,
        "timing_size": 64,
        "timing_repeats": 1,
        "device": "cpu",
    }
    return preset_config("balanced").replace(**{**values, **changes})


@pytest.fixture(scope="module")
def sample():
    return make_sample(shape=(64, 64), n_frames=4, cell_size=16, seed=5)


@pytest.fixture(scope="module")
def teacher(sample) -> DecoNoisingModel:
    config = TrainingConfig(
        steps=12,
        patch_size=32,
        batch_size=4,
        network=NetworkConfig(depth=2, start_filters=16),
        validation_interval=12,
        device="cpu",
    )
    return train(sample.noisy, sample.psf, config)


@pytest.fixture(scope="module")
def teacher_file(teacher, tmp_path_factory):
    return teacher.save(tmp_path_factory.mktemp("models") / "teacher.pt")


# -- widths and pruning ----------------------------------------------------------------------------
def test_presets_plan_narrower_levels_rounded_for_simd():
    widths = [32, 64, 128]
    assert plan_widths(widths, PRESETS["fast"]) == [16, 32, 64]
    assert plan_widths(widths, PRESETS["balanced"]) == [16, 32, 48]
    assert plan_widths(widths, PRESETS["smallest"]) == [8, 16, 24]
    assert plan_widths([8, 16], PRESETS["smallest"]) == [4, 4]  # never below min_width
    assert plan_widths(widths, CompressionConfig(keep=1.0, taper=1.0)) == widths  # never above
    reductions = [
        count_parameters(UNet(NetworkConfig(), widths))
        / count_parameters(UNet(NetworkConfig(), plan_widths(widths, PRESETS[name])))
        for name in ("fast", "balanced", "smallest")
    ]
    assert reductions == sorted(reductions) and reductions[1] >= 4


def test_pruning_removes_the_channels_of_smallest_norm_and_keeps_the_function():
    torch.manual_seed(0)
    network = UNet(NetworkConfig(depth=1, start_filters=8)).eval()
    with torch.no_grad():  # channels 4..7 of level 0 are dead: zero in and out everywhere
        for module in network.modules():
            if isinstance(module, torch.nn.ConvTranspose2d):
                module.weight[:, 4:] = 0
                module.bias[4:] = 0
            elif isinstance(module, torch.nn.Conv2d):
                if module.out_channels == 8:
                    module.weight[4:] = 0
                    module.bias[4:] = 0
                if module.in_channels == 8:
                    module.weight[:, 4:] = 0
    before = weights_fingerprint(network)
    pruned = prune_unet(network, [4, 16])
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(pruned(x), network(x), rtol=1e-5, atol=1e-5)
    assert pruned.widths == [4, 16] and pruned.architecture()["widths"] == [4, 16]
    assert count_parameters(pruned) < count_parameters(network)
    assert weights_fingerprint(network) == before  # the original is untouched


def test_pruning_handles_every_depth_and_conv_count():
    for config in (
        NetworkConfig(depth=3, start_filters=8, convs_per_level=1),
        NetworkConfig(depth=1, start_filters=12, convs_per_level=3),
    ):
        network = UNet(config).eval()
        widths = [max(4, w // 2) for w in network.widths]
        pruned = prune_unet(network, widths)
        assert pruned.widths == widths
        assert pruned(torch.zeros(1, 1, 32, 32)).shape == (1, 1, 32, 32)


# -- the whole run -------------------------------------------------------------------------------
def test_compress_gives_a_smaller_model_file_with_a_measured_report(
    teacher, teacher_file, sample, tmp_path
):
    original_bytes = teacher_file.read_bytes()
    fingerprint = weights_fingerprint(teacher.network)
    out = tmp_path / "small.pt"
    events = []
    result = compress(teacher_file, sample.noisy, "balanced", quick(), out, on_event=events.append)
    report = result.report
    # the original file and the in-memory model are untouched
    assert teacher_file.read_bytes() == original_bytes
    assert weights_fingerprint(teacher.network) == fingerprint
    # events: start, progress up to 1, one step per fine-tuning step, finished last
    assert isinstance(events[-1], CompressionFinished) and events[-1].path == str(out)
    progress = [e.progress for e in events]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert [e.step for e in events if isinstance(e, CompressionStep)] == list(range(1, 13))
    # the report's figures are the real ones: parameters, by the balanced preset's factor
    assert report.params_before == count_parameters(teacher.network) == 105233
    assert (
        report.params_after
        == count_parameters(result.model.network)
        == count_parameters(UNet(NetworkConfig(depth=2, start_filters=8), [8, 16, 24]))
    )
    assert 4 <= report.param_reduction <= 6  # "about 5x fewer parameters"
    # file sizes: the original's float32 file, and exactly the file written
    assert report.bytes_before == teacher_file.stat().st_size
    assert report.bytes_after == out.stat().st_size == result.model.file_size(report.storage)
    assert report.bytes_after < report.bytes_before / 4
    # timings: positive, the best no slower than the median, the speedup their ratio
    medians = DecoNoisingModel.load(out).metadata["compression"]["ms_per_frame_median"]
    assert 0 < report.ms_per_frame_before <= medians[0]
    assert 0 < report.ms_per_frame_after <= medians[1]
    assert report.speedup == pytest.approx(report.ms_per_frame_before / report.ms_per_frame_after)
    assert report.to_dict()["speedup"] == round(report.speedup, 3)
    assert report.frame_size == 64 and report.device == "cpu" and report.threads >= 1
    # the speed-up depends on the CPU class, so the report names the kernels it ran
    kernels = torch.backends.cpu.get_cpu_capability()
    assert report.cpu_kernels == kernels
    arithmetic = "bfloat16 autocast" if cpu_computes_bfloat16() else "float32"
    assert report.compute_precision.startswith(arithmetic)
    machine = f"(cpu, {kernels} kernels, {arithmetic}, {report.threads} threads)"
    assert machine in "\n".join(report.lines())
    # fidelity: 12 steps already bring both outputs well above the pruned, untuned network's
    # (about 9 dB denoised and 15 dB deconvolved on this sample)
    assert report.psnr_denoised_vs_original > 16
    assert report.psnr_deconvolved_vs_original > 16
    assert report.fine_tune_steps == 12 and np.isfinite(report.final_loss)
    assert report.widths_after == [8, 16, 24]
    assert report.evaluated_on == "1 frame held out from fine-tuning"
    assert set(report.to_dict()) >= REPORT_KEYS
    # an ordinary model file: loadable, predicts, says where it came from
    loaded = DecoNoisingModel.load(out)
    info = loaded.info()
    assert info["compressed"] and info["compressed_from"] == "teacher.pt"
    assert info["widths"] == [8, 16, 24] and info["parameters"] == report.params_after
    compression = info["metadata"]["compression"]
    assert compression["preset"] == "balanced" and compression["report"]["bytes_after"] == (
        report.bytes_after
    )
    assert compression["original_sha256"] == fingerprint
    prediction = Predictor(loaded, PredictionConfig(device="cpu")).predict(sample.noisy[:2])
    assert prediction.denoised.shape == prediction.deconvolved.shape == (2, 64, 64)
    # the stored precision is the reported one; the same float32 weights in memory and loaded
    state = torch.load(out, weights_only=True)["state_dict"]
    assert {str(t.dtype) for t in state.values()} == {f"torch.{report.storage}"}
    for name, tensor in loaded.network.state_dict().items():
        assert torch.equal(tensor, result.model.network.state_dict()[name])


def test_the_reported_fidelity_is_the_psnr_against_the_original_on_held_out_frames(teacher, sample):
    compressor = Compressor(teacher, sample.noisy, config=quick())
    for _ in compressor.run():
        pass
    report, model = compressor.result.report, compressor.result.model
    train_ids = {id(f) for f in compressor.train_frames}
    assert compressor.held_out and not any(id(f) in train_ids for f in compressor.eval_frames)
    config = PredictionConfig(device="cpu")
    denoised, deconvolved = [], []
    for frame in compressor.eval_frames:
        original = Predictor(teacher, config).predict(frame)
        compressed = Predictor(model, config).predict(frame)
        denoised.append(psnr(original.denoised, compressed.denoised))
        deconvolved.append(psnr(original.deconvolved, compressed.deconvolved))
    assert report.psnr_denoised_vs_original == pytest.approx(np.mean(denoised), abs=0.01)
    assert report.psnr_deconvolved_vs_original == pytest.approx(np.mean(deconvolved), abs=0.01)


def test_compression_leaves_the_global_random_state_alone_and_a_seed_repeats(teacher, sample):
    torch.rand(1)  # move torch's global state away from the start of any seed
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    first = compress(teacher, sample.noisy, config=quick(seed=3))
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], numpy_state)
    # the same seed gives the same weights, also with two runs at once in two threads
    results = [None, None]

    def run(index: int) -> None:
        results[index] = compress(teacher, sample.noisy, config=quick(seed=3))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    other = compress(teacher, sample.noisy, config=quick(seed=4))
    weights = first.model.network.state_dict()
    for result in results:
        assert result.report.final_loss == first.report.final_loss
        assert all(torch.equal(t, weights[k]) for k, t in result.model.network.state_dict().items())
    assert not all(torch.equal(t, weights[k]) for k, t in other.model.network.state_dict().items())


def test_fine_tuning_brings_the_student_closer_to_the_original(teacher, sample):
    untuned = compress(teacher, sample.noisy, config=quick(steps=1, learning_rate=1e-9))
    tuned = compress(teacher, sample.noisy, config=quick(steps=40))
    assert tuned.report.psnr_deconvolved_vs_original > untuned.report.psnr_deconvolved_vs_original
    assert tuned.report.psnr_denoised_vs_original > untuned.report.psnr_denoised_vs_original


def test_the_time_budget_ends_fine_tuning(teacher, sample):
    result = compress(teacher, sample.noisy, config=quick(steps=100_000, minutes=0.05))
    assert result.report.fine_tune_steps == 10  # the least it does, however short the budget
    assert result.report.seconds < 30


@pytest.mark.parametrize(
    ("storage", "max_error", "stored"),
    [
        ("float16", 1.0, torch.float16),
        ("float16", 0.0, torch.float32),
        ("float32", 1.0, torch.float32),
    ],
)
def test_float16_weights_only_when_they_keep_the_outputs(
    teacher, sample, tmp_path, monkeypatch, storage, max_error, stored
):
    import napari_deconoising.compression.measure as module

    monkeypatch.setattr(module, "FLOAT16_MAX_ERROR", max_error)
    out = tmp_path / "model.pt"
    result = compress(teacher, sample.noisy, config=quick(storage=storage, steps=2), out_path=out)
    state = torch.load(out, weights_only=True)["state_dict"]
    assert {t.dtype for t in state.values()} == {stored}
    assert result.report.storage == str(stored).removeprefix("torch.")
    model = result.model
    assert out.stat().st_size == result.report.bytes_after == model.file_size(result.report.storage)
    # float16 halves the weights: it saves two bytes a parameter (up to the zip's alignment)
    saved = model.file_size("float32") - model.file_size("float16")
    assert abs(saved - 2 * count_parameters(model.network)) <= 64 * len(state)
    loaded = DecoNoisingModel.load(out).network.state_dict()
    for name, tensor in result.model.network.state_dict().items():
        assert torch.equal(loaded[name], tensor)


def test_long_stacks_are_thinned_to_the_pixel_budget(teacher, sample):
    stack = np.concatenate([sample.noisy] * 50)  # 200 frames of 64 x 64
    compressor = Compressor(teacher, stack, config=quick(max_pixels=5 * 64 * 64))
    assert len(compressor.train_frames) + len(compressor.eval_frames) == 5
    assert compressor.held_out and len(compressor.eval_frames) == 1


# -- cancelling ----------------------------------------------------------------------------------
@pytest.mark.parametrize("when", ["start", "fine-tuning"])
def test_cancel_raises_and_writes_nothing(teacher, teacher_file, sample, tmp_path, when):
    original_bytes = teacher_file.read_bytes()
    out = tmp_path / "never.pt"
    compressor = Compressor(teacher_file, sample.noisy, config=quick(steps=1000), out_path=out)
    steps = []
    with pytest.raises(Cancelled):
        for event in compressor.run():
            if isinstance(event, CompressionStep):
                steps.append(event.step)
            if when == "start" or steps:
                compressor.cancel()
    assert steps == ([] if when == "start" else [1])
    assert list(tmp_path.iterdir()) == []  # no file, no temporary file
    assert teacher_file.read_bytes() == original_bytes
    with pytest.raises(RuntimeError, match="not finished"):
        _ = compressor.result


# -- bad input -----------------------------------------------------------------------------------
def test_a_file_that_is_not_a_model_is_refused(sample, tmp_path):
    fake = tmp_path / "notes.pt"
    fake.write_text("not a model")
    with pytest.raises(ModelFileError, match="is not a napari-deconoising model file"):
        compress(fake, sample.noisy, config=quick())
    with pytest.raises(ModelFileError, match="not found"):
        compress(tmp_path / "missing.pt", sample.noisy, config=quick())
    with pytest.raises(ModelFileError, match="expected a napari-deconoising model"):
        compress({"weights": 1}, sample.noisy, config=quick())


def test_images_that_do_not_match_the_model_are_refused(teacher, sample):
    with pytest.raises(ImageError, match="too small"):
        compress(teacher, sample.noisy[:, :16, :16], config=quick())
    with pytest.raises(ImageError, match="does not match the model"):
        compress(teacher, sample.noisy * 1000, config=quick())
    with pytest.raises(ImageError, match="does not match the model"):
        compress(teacher, np.full((64, 64), 100, np.float32), config=quick())
    with pytest.raises(ImageError, match="5D"):
        compress(teacher, sample.noisy[None, None], config=quick())
    with pytest.raises(ImageError, match="NaN"):
        compress(teacher, np.full((64, 64), np.nan), config=quick())


def test_the_output_may_not_be_the_input_model(teacher_file, sample):
    original_bytes = teacher_file.read_bytes()
    with pytest.raises(OutputError, match="never overwritten"):
        compress(teacher_file, sample.noisy, config=quick(), out_path=teacher_file)
    assert teacher_file.read_bytes() == original_bytes


def test_settings_are_validated(teacher, sample):
    with pytest.raises(ConfigError, match="unknown preset"):
        preset_config("tiny")
    with pytest.raises(ConfigError, match="keep"):
        CompressionConfig(keep=0)
    with pytest.raises(ConfigError, match="unknown setting"):
        CompressionConfig.from_dict({"prune": 0.5})
    with pytest.raises(ConfigError, match="already as small"):
        compress(teacher, sample.noisy, config=quick(keep=1.0, taper=1.0))


# -- command line --------------------------------------------------------------------------------
def test_cli_compress_prints_the_report_as_json(
    teacher_file, sample, tmp_path, monkeypatch, capsys
):
    import tifffile

    monkeypatch.setitem(PRESETS, "fast", quick())
    images = tmp_path / "noisy.tif"
    tifffile.imwrite(images, sample.noisy, photometric="minisblack")
    out = tmp_path / "small.pt"
    code = cli_main(
        [
            "compress",
            "--model",
            str(teacher_file),
            "--images",
            str(images),
            "--out",
            str(out),
            "--preset",
            "fast",
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0
    figures = json.loads(captured.out.strip().splitlines()[-1])
    assert set(figures) >= REPORT_KEYS
    assert figures["params_after"] < figures["params_before"]
    assert figures["bytes_after"] == out.stat().st_size
    assert "compress [" not in captured.err  # --json: the JSON object only, as every command
    assert cli_main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert info["compressed"] and info["compressed_from"] == "teacher.pt"


def test_cli_compress_refuses_bad_input_with_one_line(teacher_file, sample, tmp_path, capsys):
    import tifffile

    images = tmp_path / "noisy.tif"
    tifffile.imwrite(images, sample.noisy, photometric="minisblack")
    args = ["compress", "--model", str(teacher_file), "--images", str(images), "--out"]
    assert cli_main([*args, str(teacher_file)]) == 2
    assert "never overwritten" in capsys.readouterr().err
    fake = tmp_path / "fake.pt"
    fake.write_bytes(b"\x00" * 100)
    code = cli_main(
        ["compress", "--model", str(fake), "--images", str(images), "--out", str(tmp_path / "x.pt")]
    )
    err = capsys.readouterr().err
    assert code == 2 and "not a napari-deconoising model file" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.pt").exists()
