"""The ``deconoising`` command: every subcommand, JSON output and one-line errors."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from napari_deconoising import make_sample
from napari_deconoising.cli import main

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


def test_predict_keeps_the_input_shape(capsys, files, model_file, tmp_path):
    code, out, _ = run_cli(
        capsys,
        "predict",
        files / "stack.tif",
        "--model",
        model_file,
        "--denoised",
        tmp_path / "den.tif",
        "--deconvolved",
        tmp_path / "dec.tif",
        "--tile",
        "48",
        "--overlap",
        "8",
        "--json",
    )
    assert code == 0
    assert last_json(out)["shape"] == [2, 64, 64]
    assert tifffile.imread(tmp_path / "den.tif").shape == (2, 64, 64)
    assert tifffile.imread(tmp_path / "dec.tif").dtype == np.float32


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
        (["train", "{d}/line.tif", "--out", "{d}/m.pt", "--n2v"], "1D"),
        (["train", "{d}/4d.tif", "--out", "{d}/m.pt", "--n2v"], "4D"),
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
