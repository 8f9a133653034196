"""The ``deconoising`` command: every subcommand, JSON output, one-line errors, progress, Ctrl-C."""

import argparse
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import tifffile

from napari_deconoising import (
    NetworkConfig,
    PredictionConfig,
    Trainer,
    TrainingConfig,
    TrainingStep,
    ValidationResult,
    load_model,
    make_sample,
    train,
)
from napari_deconoising.cli import build_parser, main
from napari_deconoising.cli._interrupt import first_interrupt_stops
from napari_deconoising.cli._output import Progress, emit_json
from napari_deconoising.cli.train import training_config
from napari_deconoising.compression import PRESETS
from napari_deconoising.config.base import DEVICES, PRECISIONS, bounds
from napari_deconoising.config.psf import OpticsConfig

TINY_TRAIN = ["--steps", "6", "--patch-size", "32", "--batch-size", "2", "--start-filters", "8"]


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    sample = make_sample((64, 64), n_frames=2, seed=3)
    tifffile.imwrite(folder / "stack.tif", sample.noisy.astype(np.uint16))
    tifffile.imwrite(folder / "single.tif", sample.noisy[0])
    return folder


@pytest.fixture(scope="module")
def model_file(files):
    path = files / "model.pt"
    assert (
        main(
            [
                "train",
                str(files / "stack.tif"),
                "--out",
                str(path),
                "--psf-sigma",
                "1.5",
                *TINY_TRAIN,
                "--json",
            ]
        )
        == 0
    )
    return path


def test_psf_command(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "psf", "--sigma", "1.5", "--out", tmp_path / "p.tif", "--json")
    assert code == 0
    figures = last_json(out)
    assert figures["shape"] == [11, 11] and 3.0 < figures["fwhm_px"] < 4.2
    assert tifffile.imread(tmp_path / "p.tif").sum() == pytest.approx(1, abs=1e-5)
    code, out, _ = run_cli(
        capsys,
        "psf",
        "--na",
        "1.3",
        "--wavelength",
        "520",
        "--pixel-size",
        "80",
        "--model",
        "widefield",
        "--out",
        tmp_path / "w.tif",
    )
    assert code == 0 and "FWHM" in out


def test_train_json_and_model_at_exact_path(capsys, files, tmp_path):
    out_path = tmp_path / "no-suffix-model"
    code, out, _ = run_cli(
        capsys,
        "train",
        files / "stack.tif",
        files / "single.tif",
        "--out",
        out_path,
        "--psf",
        _psf_file(tmp_path),
        *TINY_TRAIN,
        "--seed",
        "1",
        "--json",
    )
    assert code == 0
    figures = last_json(out)
    assert figures["steps"] == 6 and figures["seconds"] > 0
    assert figures["train_loss"] > 0 and figures["validation_loss"] > 0
    assert out_path.is_file()


def _psf_file(folder):
    path = folder / "psf.tif"
    main(["psf", "--sigma", "1.2", "--out", str(path)])
    return path


def test_n2v_training(capsys, files, tmp_path):
    code, out, _ = run_cli(
        capsys,
        "train",
        files / "single.tif",
        "--out",
        tmp_path / "n2v.pt",
        "--n2v",
        *TINY_TRAIN,
        "--json",
    )
    assert code == 0
    code, out, _ = run_cli(capsys, "info", tmp_path / "n2v.pt", "--json")
    assert last_json(out)["kind"] == "n2v"


def predict_stack(capsys, files, model_file, folder, *options):
    """``deconoising predict`` of the 2-frame stack into ``folder``/den.tif and dec.tif."""
    outputs = ("--denoised", folder / "den.tif", "--deconvolved", folder / "dec.tif")
    return run_cli(
        capsys, "predict", files / "stack.tif", "--model", model_file, *outputs, *options
    )


def test_predict_keeps_the_input_shape(capsys, files, model_file, tmp_path):
    options = ("--tile", "48", "--overlap", "8", "--json")
    code, out, _ = predict_stack(capsys, files, model_file, tmp_path, *options)
    assert code == 0
    assert last_json(out)["shape"] == [2, 64, 64]
    assert tifffile.imread(tmp_path / "den.tif").shape == (2, 64, 64)
    assert tifffile.imread(tmp_path / "dec.tif").dtype == np.float32


@pytest.mark.parametrize(("precision", "computed"), [("float32", "float32"), ("mixed", "bfloat16")])
def test_predict_computes_in_the_precision_asked_and_says_so(
    capsys, files, model_file, tmp_path, precision, computed
):
    assert _option("predict", "--precision").choices == PRECISIONS
    assert _option("compress", "--precision").choices == PRECISIONS
    options = ("--precision", precision, "--overwrite")
    code, out, _ = predict_stack(capsys, files, model_file, tmp_path, *options, "--json")
    assert code == 0 and last_json(out)["precision"] == computed
    code, out, _ = predict_stack(capsys, files, model_file, tmp_path, *options)
    assert code == 0 and f"s in {computed}" in out


def test_info(capsys, model_file):
    code, out, _ = run_cli(capsys, "info", model_file)
    assert code == 0 and "parameters" in out and "compressed:   no" in out
    code, out, _ = run_cli(capsys, "info", model_file, "--json")
    info = last_json(out)
    assert info["kind"] == "deconoising" and info["compressed"] is False and info["file_bytes"] > 0


def _bad_inputs(folder):
    tifffile.imwrite(folder / "line.tif", np.zeros(64, np.float32))
    tifffile.imwrite(folder / "4d.tif", np.zeros((2, 2, 64, 64), np.float32))
    tifffile.imwrite(folder / "tiny.tif", np.zeros((16, 16), np.float32))
    nan = np.zeros((64, 64), np.float32)
    nan[3, 3] = np.nan
    tifffile.imwrite(folder / "nan.tif", nan)
    tifffile.imwrite(folder / "ok.tif", np.ones((64, 64), np.float32))
    tifffile.imwrite(folder / "zero_psf.tif", np.zeros((5, 5), np.float32))
    tifffile.imwrite(folder / "neg_psf.tif", -np.ones((5, 5), np.float32))
    (folder / "fake.pt").write_text("not a model")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "{d}/missing.tif", "--out", "{d}/m.pt", "--n2v"], "not found"),
        (["train", "{d}/line.tif", "--out", "{d}/m.pt", "--n2v"], "1 dimensions"),
        (
            ["train", "{d}/4d.tif", "--out", "{d}/m.pt", "--n2v", "--axes", "ZYX"],
            "has 3 letters but the image has 4 dimensions",
        ),
        (
            ["train", "{d}/tiny.tif", "--out", "{d}/m.pt", "--n2v"],
            "smaller than the training patch",
        ),
        (["train", "{d}/nan.tif", "--out", "{d}/m.pt", "--n2v"], "NaN"),
        (["train", "{d}/ok.tif", "--out", "{d}/m.pt", "--psf", "{d}/zero_psf.tif"], "sums to zero"),
        (["train", "{d}/ok.tif", "--out", "{d}/m.pt", "--psf", "{d}/neg_psf.tif"], "negative"),
        (
            [
                "predict",
                "{d}/ok.tif",
                "--model",
                "{d}/fake.pt",
                "--denoised",
                "{d}/a.tif",
                "--deconvolved",
                "{d}/b.tif",
            ],
            "not a napari-deconoising model",
        ),
        (["info", "{d}/fake.pt"], "not a napari-deconoising model"),
        (["psf", "--sigma", "0", "--out", "{d}/p.tif"], "sigma"),
    ],
)
def test_errors_are_one_clear_line(capsys, tmp_path, args, message):
    _bad_inputs(tmp_path)
    code, _, err = run_cli(capsys, *[a.format(d=tmp_path) for a in args])
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in err


def test_demo_end_to_end_in_a_subprocess(tmp_path):
    """The console script as a user runs it (tiny budget): figures, TIFFs and the PNG."""
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "napari_deconoising.cli",
            "demo",
            "--out",
            str(tmp_path),
            "--steps",
            "80",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    assert figures["psnr_denoised"] > figures["psnr_input"] + 5
    for name in ("denoised.tif", "deconvolved.tif", "comparison.png", "model.pt"):
        assert (tmp_path / name).is_file()
    assert (tmp_path / "comparison.png").read_bytes()[:4] == b"\x89PNG"


# -- settings come from the engine's declarations --------------------------------------------------
def _option(command: str, flag: str):
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return next(a for a in subparsers.choices[command]._actions if flag in a.option_strings)


def test_choices_and_defaults_come_from_the_configs():
    assert _option("train", "--device").choices == bounds(TrainingConfig, "device").choices
    assert _option("predict", "--device").choices == bounds(PredictionConfig, "device").choices
    assert _option("compress", "--device").choices == DEVICES
    assert (
        _option("train", "--neighbourhood").choices
        == bounds(TrainingConfig, "neighbourhood").choices
    )
    assert _option("compress", "--preset").choices == tuple(PRESETS)
    patch = _option("train", "--patch-size").help
    assert f"default {TrainingConfig().patch_size}" in patch
    assert bounds(TrainingConfig, "patch_size").describe() in patch
    assert f"default {PredictionConfig().tile}" in _option("predict", "--tile").help
    assert bounds(OpticsConfig, "na").describe() in _option("psf", "--na").help
    # a float setting with a whole-number default (512 MB) still takes fractions
    assert _option("train", "--cache-mb").type("1.5") == 1.5
    assert _option("train", "--seed").type("3") == 3


def test_only_given_settings_change_the_config():
    args = build_parser().parse_args(
        ["train", "x.tif", "--out", "m.pt", "--n2v", "--neighbourhood", "3", "--depth", "3"]
    )
    config = training_config(args)
    assert config.neighbourhood == 3 and config.network.depth == 3 and config.n2v
    assert config.replace(neighbourhood=5, network=NetworkConfig(), n2v=False) == TrainingConfig()
    minutes = build_parser().parse_args(["train", "x.tif", "--out", "m", "--n2v", "--minutes", "1"])
    assert training_config(minutes).steps is None and training_config(minutes).minutes == 1
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "x.tif", "--out", "m", "--n2v", "--neighbourhood", "4"])


# -- one progress reporter, one JSON form ---------------------------------------------------------
class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_writes_lines_to_logs_and_redraws_on_a_terminal():
    log = io.StringIO()
    with Progress("training", stream=log) as progress:
        for step in range(1, 50):
            progress.update(step / 50, f"step {step}")
        progress.close(1.0, "done")
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert lines[0].startswith("training [") and "step 1" in lines[0]  # shown at once
    assert len(lines) == 2 and "100.0%" in lines[1] and "done" in lines[1]  # then every 10 s
    terminal = _Terminal()
    with Progress("predicting", stream=terminal) as progress:
        progress.update(0.5, "frame 1/2")
    assert terminal.getvalue().startswith("\rpredicting [###############---------------]")
    assert terminal.getvalue().endswith("\n")
    quiet = io.StringIO()
    with Progress("training", enabled=False, stream=quiet) as progress:
        progress.update(0.5, "step 1")
        progress.note("a note")
    assert quiet.getvalue() == "a note\n"


def test_json_is_one_object_on_one_line(capsys, tmp_path):
    emit_json({"a": np.float32(1.5), "b": float("nan"), "c": tmp_path, "d": (np.int64(2), None)})
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert json.loads(out) == {"a": 1.5, "b": None, "c": str(tmp_path), "d": [2, None]}
    code, out, err = run_cli(capsys, "psf", "--sigma", "1.5", "--out", tmp_path / "p.tif", "--json")
    assert code == 0 and len(out.splitlines()) == 1 and err == ""
    assert set(json.loads(out)) == {"shape", "fwhm_px", "pixel_size_nm", "out"}


# -- Ctrl-C ----------------------------------------------------------------------------------------
def test_first_interrupt_stops_and_the_second_aborts():
    before = signal.getsignal(signal.SIGINT)
    stops = []
    with pytest.raises(KeyboardInterrupt), first_interrupt_stops(lambda: stops.append(1)) as seen:
        os.kill(os.getpid(), signal.SIGINT)
        _wait_for(lambda: seen.count == 1)
        assert stops == [1] and seen.news() and not seen.news()
        os.kill(os.getpid(), signal.SIGINT)
        _wait_for(lambda: False)
    assert signal.getsignal(signal.SIGINT) is before


def _wait_for(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


class _Command:
    """``deconoising ARGS`` in a subprocess whose stderr is read as it comes."""

    def __init__(self, *args):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "napari_deconoising.cli", *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line)

    def interrupt_once_shown(self, text: str, timeout: float = 120) -> None:
        _wait_for(lambda: any(text in line for line in self.lines), timeout)
        assert any(text in line for line in self.lines), "".join(self.lines)
        self.process.send_signal(signal.SIGINT)

    def finish(self, timeout: float = 120) -> tuple[int, str, str]:
        self.process.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return self.process.returncode, self.process.stdout.read(), "".join(self.lines)


def _no_temporary_files(folder) -> bool:
    return not [path for path in folder.iterdir() if path.name.endswith(".tmp")]


def test_ctrl_c_stops_training_and_keeps_the_model(files, tmp_path):
    model = tmp_path / "model.pt"
    command = _Command(
        "train", files / "stack.tif", "--out", model, "--psf-sigma", "1.5", "--steps", "1000000",
        "--patch-size", "32", "--batch-size", "2", "--start-filters", "8",
    )  # fmt: skip
    command.interrupt_once_shown("step ")
    code, out, err = command.finish()
    assert code == 130, err
    assert err.strip().splitlines()[-1] == f"deconoising train: stopped: saved {model}"
    assert "Traceback" not in err and out == ""
    assert load_model(model).metadata["steps"] >= 1
    assert (tmp_path / "model.last.pt").is_file() and _no_temporary_files(tmp_path)


def test_second_ctrl_c_aborts_training_at_once(capsys, files, tmp_path, monkeypatch):
    """The first Ctrl-C stops after the batch; the second, during the final validation, aborts."""
    original = Trainer.run

    def run_and_interrupt(self):
        for event in original(self):
            yield event
            if isinstance(event, TrainingStep) and event.step == 2:
                os.kill(os.getpid(), signal.SIGINT)
            if isinstance(event, ValidationResult):
                os.kill(os.getpid(), signal.SIGINT)
                _wait_for(lambda: False, 2)  # the handler raises before this ends

    monkeypatch.setattr(Trainer, "run", run_and_interrupt)
    handler = signal.getsignal(signal.SIGINT)
    code, out, err = run_cli(
        capsys, "train", files / "stack.tif", "--out", tmp_path / "m.pt", "--n2v", *TINY_TRAIN
    )
    assert code == 130 and out == ""
    assert err.strip().splitlines()[-1] == "deconoising train: interrupted"
    assert "stopping after this batch" in err and "Traceback" not in err
    assert not (tmp_path / "m.pt").exists() and _no_temporary_files(tmp_path)
    assert signal.getsignal(signal.SIGINT) is handler


def test_ctrl_c_during_predict_writes_nothing(model_file, tmp_path):
    frames = np.random.default_rng(0).poisson(50, (1500, 64, 64)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "long.tif", frames)
    command = _Command(
        "predict", tmp_path / "long.tif", "--model", model_file, "--tile", "32", "--overlap", "8",
        "--denoised", tmp_path / "den.tif", "--deconvolved", tmp_path / "dec.tif",
    )  # fmt: skip
    command.interrupt_once_shown("predicting [")
    code, out, err = command.finish()
    assert code == 130, err
    assert err.strip().splitlines()[-1] == "deconoising predict: interrupted"
    assert "Traceback" not in err and out == ""
    assert not (tmp_path / "den.tif").exists() and not (tmp_path / "dec.tif").exists()
    assert _no_temporary_files(tmp_path)


def test_ctrl_c_during_compress_writes_nothing(tmp_path):
    sample = make_sample((160, 160), n_frames=3, seed=4)
    tifffile.imwrite(tmp_path / "noisy.tif", sample.noisy, photometric="minisblack")
    config = TrainingConfig(steps=2, patch_size=32, batch_size=2, device="cpu")
    train(sample.noisy, sample.psf, config).save(tmp_path / "teacher.pt")
    command = _Command(
        "compress", "--model", tmp_path / "teacher.pt", "--images", tmp_path / "noisy.tif",
        "--out", tmp_path / "small.pt", "--preset", "fast", "--device", "cpu",
    )  # fmt: skip
    command.interrupt_once_shown("compress [")
    code, out, err = command.finish()
    assert code == 130, err
    assert err.strip().splitlines()[-1] == "deconoising compress: interrupted"
    assert "Traceback" not in err and out == ""
    assert not (tmp_path / "small.pt").exists() and _no_temporary_files(tmp_path)
