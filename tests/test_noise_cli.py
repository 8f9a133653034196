"""``deconoising noise``, the blind-spot and design options of ``train``, and ``info``."""

import json

import numpy as np
import tifffile
from scipy import ndimage

from napari_deconoising.cli import build_parser, main
from napari_deconoising.cli.train import training_config

TINY_TRAIN = ["--steps", "2", "--patch-size", "32", "--batch-size", "2", "--start-filters", "8"]


def write_x_correlated(path, weight=0.7):
    """Two 64x64 frames whose noise is filtered along X by [w, 1, w]."""
    rng = np.random.default_rng(0)
    kernel = np.array([weight, 1.0, weight]) / np.sqrt(1 + 2 * weight**2)
    noise = ndimage.correlate1d(rng.normal(0, 5, (2, 64, 64)), kernel, axis=-1)
    tifffile.imwrite(path, (300 + noise).astype(np.float32))
    return path


def test_noise_command_says_what_the_noise_is(capsys, tmp_path):
    image = write_x_correlated(tmp_path / "rows.tif")
    assert main(["noise", str(image), "--axes", "TYX"]) == 0
    out = capsys.readouterr().out
    assert "noise correlation along X (lags 1-4): +0.7" in out
    assert "using a blind spot that spans 5 pixels along X" in out
    assert main(["noise", str(image), "--axes", "TYX", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    channel = figures["channels"][0]
    assert abs(channel["correlation_x"][0] - 1.4 / 1.98) < 0.05
    assert abs(channel["correlation_y"][0]) < 0.05 and channel["notes"]
    assert "psf_check" not in channel
    assert main(["noise", str(image), "--axes", "TYX", "--psf-sigma", "2"]) == 0
    # flat signal: nothing stands above the noise, so the PSF's width cannot be judged
    assert (
        "PSF FWHM 5.2 px; the image's spectrum shows no measurable blur" in capsys.readouterr().out
    )


def test_train_parses_design_and_blind_spot():
    parse = build_parser().parse_args
    args = parse(["train", "x.tif", "--out", "m.pt", "--psf-sigma", "1", "--design", "two-stage"])
    assert training_config(args).design == "two-stage"
    args = parse(["train", "x.tif", "--out", "m.pt", "--n2v", "--blind-spot", "x"])
    config = training_config(args)
    assert (config.blind_spot, config.blind_spot_span, config.design) == ("x", None, "joint")
    args = parse(["train", "x.tif", "--out", "m", "--n2v", "--blind-spot-span", "3"])
    assert training_config(args).blind_spot_span == 3


def test_trained_model_records_its_blind_spot_and_the_noise(capsys, tmp_path):
    image = write_x_correlated(tmp_path / "rows.tif")
    model = tmp_path / "model.pt"
    args = ["train", image, "--axes", "TYX", "--out", model, "--psf-sigma", "1", *TINY_TRAIN]
    assert main([str(a) for a in [*args, "--json"]]) == 0
    notes = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["notes"]
    assert any("spans 5 pixels along X" in note for note in notes)
    assert main(["info", str(model)]) == 0
    out = capsys.readouterr().out
    assert "blind spot:   spans 5 pixels along X" in out
    assert "noise:        noise is correlated along X over 2 pixels" in out
