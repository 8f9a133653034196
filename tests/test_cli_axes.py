"""The command line with axes, channels and pixel sizes: ``--axes``, per-channel PSFs, outputs
that keep the input's axes and physical sizes, ``--dtype``, warnings and one-line errors."""

import io
import json
import os
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import pytest
import tifffile

from napari_deconoising.cli import _files as cli_files
from napari_deconoising.cli import main
from napari_deconoising.errors import ImageError
from napari_deconoising.io import read_tiff

TINY = ["--steps", "4", "--patch-size", "32", "--batch-size", "2", "--start-filters", "8"]
SPACING = {"X": 0.1, "Y": 0.1, "Z": 0.25}


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def predict(capsys, image, model, folder, *more, names=("den.tif", "dec.tif")):
    """``deconoising predict IMAGE --model MODEL`` writing ``names`` into ``folder``."""
    paths = ["--denoised", folder / names[0], "--deconvolved", folder / names[1]]
    return run_cli(capsys, "predict", image, "--model", model, *paths, *more)


def last_json(stdout: str) -> dict:
    lines = stdout.strip().splitlines()
    assert len(lines) == 1, stdout  # --json prints one line and nothing else on stdout
    return json.loads(lines[0])


def lines_with(err: str, word: str) -> list[str]:
    return [line for line in err.splitlines() if word in line]


def noisy(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).poisson(60, shape).astype(np.uint16) + 100


def write_hyperstack(path, data, pixels_per_um=10):
    """An ImageJ hyperstack as Fiji saves it: TZCYX, µm calibration, Z step 0.25 µm."""
    tifffile.imwrite(
        path,
        data,
        imagej=True,
        metadata={"axes": "TZCYX", "spacing": 0.25, "unit": "um"},
        resolution=(pixels_per_um, pixels_per_um),
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("axes")
    write_hyperstack(folder / "hyper.tif", noisy((2, 2, 2, 48, 48)))
    write_hyperstack(folder / "coarse.tif", noisy((2, 2, 2, 48, 48), 1), pixels_per_um=5)
    tifffile.imwrite(
        folder / "volume.ome.tif",
        noisy((2, 2, 48, 48), 2),
        ome=True,
        photometric="minisblack",
        metadata={"axes": "ZCYX", "PhysicalSizeX": 0.1, "PhysicalSizeY": 0.1, "PhysicalSizeZ": 0.5},
    )
    tifffile.imwrite(folder / "stack.tif", noisy((2, 48, 48), 3), photometric="minisblack")
    tifffile.imwrite(folder / "three.tif", noisy((3, 48, 48), 4), photometric="minisblack")
    tifffile.imwrite(folder / "rgb.tif", np.zeros((48, 48, 3), np.uint8), photometric="rgb")
    with pytest.warns(UserWarning, match="zero-size"):
        tifffile.imwrite(folder / "empty.tif", np.zeros((0, 48, 48), np.float32))
    for name, sigma in (("psf_a.tif", "1.2"), ("psf_b.tif", "2.0")):
        assert main(["psf", "--sigma", sigma, "--out", str(folder / name)]) == 0
    return folder


@pytest.fixture(scope="module")
def two_channel_run(files):
    """A 2-channel model trained on the hyperstack, one PSF per channel: (model, stdout, stderr)."""
    model = files / "two.pt"
    args = ["train", files / "hyper.tif", "--out", model, "--psf", files / "psf_a.tif"]
    args += ["--psf", files / "psf_b.tif", *TINY, "--json"]
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        assert main([str(a) for a in args]) == 0
    return model, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def two_channels(two_channel_run):
    return two_channel_run[0]


@pytest.fixture(scope="module")
def one_channel(files):
    model = files / "one.pt"
    args = ["train", files / "stack.tif", "--out", model, "--psf-sigma", "1.5", *TINY]
    assert main([str(a) for a in args]) == 0
    return model


def test_train_two_channels_with_two_psfs_reports_channels_and_pixel_size(
    capsys, files, two_channel_run
):
    model, out, err = two_channel_run
    figures = last_json(out)
    assert figures["channels"] == 2 and figures["pixel_size_um"] == pytest.approx(0.1)
    assert "note:" not in err  # the axes came from the file
    code, out, _ = run_cli(capsys, "info", model, "--json")
    info = last_json(out)
    assert code == 0 and info["channels"] == 2 and info["pixel_size_um"] == pytest.approx(0.1)
    psfs = [tifffile.imread(files / name) for name in ("psf_a.tif", "psf_b.tif")]
    assert info["psf_shape"] == [list(p.shape) for p in psfs]


def test_train_with_one_sigma_per_channel(capsys, files, tmp_path):
    code, out, err = run_cli(
        capsys, "train", files / "volume.ome.tif", "--out", tmp_path / "m.pt",
        "--psf-sigma", "1.0", "2.5", "--steps", "2", "--patch-size", "32", "--batch-size", "2",
        "--start-filters", "8", "--json",
    )  # fmt: skip
    assert code == 0, err
    figures = last_json(out)
    assert figures["channels"] == 2 and figures["pixel_size_um"] == pytest.approx(0.1)
    _, out, _ = run_cli(capsys, "info", tmp_path / "m.pt", "--json")
    small, large = last_json(out)["psf_shape"]
    assert small[0] < large[0]


def test_info_shows_channels_and_training_pixel_size(capsys, two_channels):
    code, out, _ = run_cli(capsys, "info", two_channels)
    assert code == 0
    assert "channels:     2" in out and "pixel size:   0.1 µm" in out
    assert "channel 0: mean" in out and "channel 1: mean" in out


@pytest.mark.parametrize(
    ("denoised", "deconvolved"), [("den.tif", "dec.tif"), ("den.ome.tif", "dec.ome.tiff")]
)
def test_predict_keeps_axes_shape_and_spacing(
    capsys, files, two_channels, tmp_path, denoised, deconvolved
):
    source = read_tiff(files / "hyper.tif")
    assert (source.axes, source.axes_source, source.spacing) == ("TZCYX", "file", SPACING)
    tiles = ["--tile", "32", "--overlap", "8"]
    names = (denoised, deconvolved)
    code, out, err = predict(
        capsys, files / "hyper.tif", two_channels, tmp_path, *tiles, "--json", names=names
    )
    assert code == 0, err
    figures = last_json(out)
    assert figures["axes"] == "TZCYX" and figures["shape"] == [2, 2, 2, 48, 48]
    assert figures["warnings"] == [] and "warning" not in err and "note:" not in err
    for name in (denoised, deconvolved):
        result = read_tiff(tmp_path / name)
        assert result.sizes == source.sizes and result.dtype == np.float32
        assert (result.axes, result.shape) == (source.axes, source.shape)  # ImageJ and OME
        assert result.spacing == pytest.approx(SPACING)
        with tifffile.TiffFile(tmp_path / name) as tif:  # what Fiji / Bio-Formats see
            assert tif.series[0].axes == "TZCYX"
            assert tif.is_ome if ".ome." in name else tif.is_imagej
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([denoised, deconvolved])


def test_axes_from_an_ome_tiff(capsys, files, two_channels, tmp_path):
    names = ("den.ome.tif", "dec.tif")
    code, out, err = predict(
        capsys, files / "volume.ome.tif", two_channels, tmp_path, "--json", names=names
    )
    assert code == 0, err
    assert last_json(out)["axes"] == "ZCYX" and "note:" not in err
    for name in ("den.ome.tif", "dec.tif"):
        result = read_tiff(tmp_path / name)
        assert result.sizes == {"Z": 2, "C": 2, "Y": 48, "X": 48}
        assert (result.axes, result.shape) == ("ZCYX", (2, 2, 48, 48))  # the input's order
        assert result.spacing == pytest.approx({"X": 0.1, "Y": 0.1, "Z": 0.5})


def test_default_axes_give_one_note_and_axes_silence_it(
    capsys, files, one_channel, two_channels, tmp_path
):
    code, out, err = predict(capsys, files / "stack.tif", one_channel, tmp_path, "--json")
    assert code == 0, err
    notes = lines_with(err, "note:")
    assert notes == [
        "deconoising predict: note: stack.tif: reading (2, 48, 48) as SYX: 2 frames; "
        "say --axes CYX or ZYX if that is wrong"
    ]
    assert last_json(out)["axes"] == "SYX"  # the note went to stderr only
    assert read_tiff(tmp_path / "den.tif").axes == "SYX"
    names = ("den2.tif", "dec2.tif")
    code, out, err = predict(
        capsys, files / "stack.tif", two_channels, tmp_path, "--axes", "CYX", names=names
    )
    assert code == 0 and "note:" not in err
    assert read_tiff(tmp_path / "dec2.tif").axes == "CYX"


def test_dtype_input_writes_the_inputs_integer_type(capsys, files, two_channels, tmp_path):
    outputs = {}
    for dtype in ("float32", "input"):
        names = (f"den_{dtype}.tif", f"dec_{dtype}.ome.tif")
        code, _, err = predict(
            capsys, files / "hyper.tif", two_channels, tmp_path, "--dtype", dtype, names=names
        )
        assert code == 0, err
        outputs[dtype] = [read_tiff(tmp_path / name) for name in names]
    for as_float, as_input in zip(outputs["float32"], outputs["input"], strict=True):
        assert as_float.dtype == np.float32 and as_input.dtype == np.uint16
        assert (as_input.axes, as_input.spacing) == (as_float.axes, as_float.spacing)
        rounded = np.clip(np.rint(np.asarray(as_float.data, np.float64)), 0, 65535)
        np.testing.assert_array_equal(as_input.data, rounded.astype(np.uint16))
        assert as_input.data.max() > 0


def test_another_pixel_size_is_a_warning(capsys, files, two_channels, tmp_path):
    code, out, err = predict(capsys, files / "coarse.tif", two_channels, tmp_path, "--json")
    assert code == 0, err
    warnings = last_json(out)["warnings"]
    assert len(warnings) == 1 and "0.2 µm" in warnings[0] and "0.1 µm" in warnings[0]
    assert lines_with(err, "warning:") == [f"deconoising predict: warning: {warnings[0]}"]
    assert read_tiff(tmp_path / "den.tif").spacing["X"] == pytest.approx(0.2)


def test_psf_takes_the_pixel_size_from_an_image(capsys, files, tmp_path):
    optics = ["--na", "1.3", "--wavelength", "520"]
    code, out, err = run_cli(
        capsys,
        "psf",
        *optics,
        "--image",
        files / "hyper.tif",
        "--out",
        tmp_path / "p.tif",
        "--json",
    )
    assert code == 0 and err == ""
    assert last_json(out)["pixel_size_nm"] == pytest.approx(100)
    assert read_tiff(tmp_path / "p.tif").spacing == pytest.approx({"X": 0.1, "Y": 0.1})
    reference = ["psf", *optics, "--pixel-size", "100", "--out", tmp_path / "q.tif"]
    assert run_cli(capsys, *reference)[0] == 0
    np.testing.assert_array_equal(
        tifffile.imread(tmp_path / "p.tif"), tifffile.imread(tmp_path / "q.tif")
    )
    code, out, err = run_cli(
        capsys, "psf", *optics, "--image", files / "hyper.tif", "--pixel-size", "80",
        "--out", tmp_path / "r.tif", "--json",
    )  # fmt: skip
    assert code == 0 and last_json(out)["pixel_size_nm"] == 80
    assert lines_with(err, "note:") == [
        f"deconoising psf: note: --pixel-size 80 nm differs from the 100 nm of "
        f"{files / 'hyper.tif'}; using --pixel-size"
    ]


# -- bad input: one clear line, exit 2, nothing written --------------------------------------------
PREDICT = "predict --denoised {o}/den.tif --deconvolved {o}/dec.tif --model"
TRAIN = "train --out {o}/m.pt"
OPTICS = "psf --na 1.3 --wavelength 520 --out {o}/p.tif --image"
BAD_INPUTS = [
    # axes strings that do not fit
    (f"{PREDICT} {{two}} {{d}}/stack.tif --axes CZYX", "has 4 letters but the image has 3 dim"),
    (f"{PREDICT} {{two}} {{d}}/stack.tif --axes CQX", "unknown letter(s) Q"),
    (f"{PREDICT} {{two}} {{d}}/stack.tif --axes YYX", "repeats Y"),
    (f"{TRAIN} {{d}}/stack.tif --axes SYXC --n2v", "has 4 letters"),
    # channels that do not fit the model
    (f"{PREDICT} {{two}} {{d}}/three.tif --axes CYX", "trained on 2 channel(s), but three has 3"),
    (f"{PREDICT} {{two}} {{d}}/stack.tif", "has no C axis"),
    ("compress --model {one} --images {d}/three.tif --axes CYX --out {o}/s.pt", "on 1 chan"),
    ("compress --model {two} --images {d}/hyper.tif --out {o}/s.pt", "holds 2 channels"),
    # images that cannot be used
    (f"{PREDICT} {{two}} {{d}}/rgb.tif", "RGB(A) colour image"),
    (f"{TRAIN} {{d}}/rgb.tif --n2v", "RGB(A) colour image"),
    (f"{OPTICS} {{d}}/rgb.tif", "RGB(A) colour image"),
    (f"{PREDICT} {{two}} {{d}}/empty.tif", "the image is empty"),
    (f"{TRAIN} {{d}}/empty.tif --n2v", "the image is empty"),
    (f"{TRAIN} {{d}}/hyper.tif {{d}}/three.tif --n2v", "different channel counts"),
    # PSFs that do not fit the channels
    (f"{TRAIN} {{d}}/hyper.tif --psf-sigma 1 2 3", "got 3 PSFs for 2 channel(s)"),
    (f"{TRAIN} {{d}}/three.tif --axes CYX --psf-sigma 1 2", "got 2 PSFs for 3 channel(s)"),
    (f"{TRAIN} {{d}}/hyper.tif" + " --psf {d}/psf_a.tif" * 3, "got 3 PSFs for 2 channel(s)"),
    # a pixel size that is not there, or not wanted
    (f"{OPTICS} {{d}}/stack.tif", "has no pixel size in its metadata; give --pixel-size"),
    ("psf --sigma 1 --out {o}/p.tif --image {d}/hyper.tif", "--sigma is in pixels"),
    ("psf --sigma 1 --out {o}/p.tif --axes CYX", "--axes describes the --image file"),
]


@pytest.mark.parametrize(("command", "message"), BAD_INPUTS)
def test_bad_input_is_one_clear_line_and_writes_nothing(
    capsys, files, one_channel, two_channels, tmp_path, command, message
):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    values = {"d": files, "o": out_dir, "one": one_channel, "two": two_channels}
    args = command.format(**values).split()
    code, out, err = run_cli(capsys, *args)
    assert code == 2 and out == ""
    lines = [line for line in err.strip().splitlines() if "note:" not in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"deconoising {args[0]}: error: ") and message in lines[0], err
    assert list(out_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("deconvolved", "message"),
    [
        ("blocker/dec.tif", "is a file, not a folder"),
        ("dec.png", "must end with .tif or .tiff"),
        ("den.tif", "it is another output"),
        ("{d}/stack.tif", "it is the input"),
    ],
)
def test_outputs_are_refused_before_predicting(
    capsys, files, one_channel, tmp_path, deconvolved, message
):
    (tmp_path / "blocker").write_text("a file where a folder should be")
    names = ("den.tif", deconvolved.format(d=files))
    code, _, err = predict(
        capsys, files / "stack.tif", one_channel, tmp_path, "--axes", "SYX", names=names
    )
    assert code == 2 and message in err and "predicting" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]


def test_a_failed_second_write_leaves_no_output(capsys, files, one_channel, tmp_path, monkeypatch):
    written = []
    write_tiff = cli_files.write_tiff

    def write_then_fail(path, *args, **kwargs):
        if written:
            raise ImageError(f"cannot write {path}: [Errno 28] No space left on device")
        written.append(path)
        return write_tiff(path, *args, **kwargs)

    monkeypatch.setattr(cli_files, "write_tiff", write_then_fail)
    code, _, err = predict(capsys, files / "stack.tif", one_channel, tmp_path, "--axes", "SYX")
    assert written and code == 2 and "No space left on device" in err
    assert f"cannot write {tmp_path / 'dec.tif'}: " in err  # the target, not the temporary
    assert list(tmp_path.iterdir()) == []


def test_outputs_get_the_usual_file_permissions(tmp_path):
    path = cli_files.write_output(tmp_path / "p.tif", np.ones((8, 8), np.float32))
    mask = os.umask(0)
    os.umask(mask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~mask


def test_train_init_continues_a_model(tmp_path, capsys):
    """``train --init``: the step count goes on from the model's; no PSF needed."""
    from napari_deconoising import load_model, make_sample

    image = tmp_path / "noisy.tif"
    tifffile.imwrite(image, make_sample((48, 48), n_frames=2, seed=3).noisy)
    tiny = ["--steps", "3", "--patch-size", "32", "--batch-size", "2", "--start-filters", "8"]
    first, second = tmp_path / "first.pt", tmp_path / "second.pt"
    assert main(["train", str(image), "--out", str(first), "--psf-sigma", "1.5", *tiny]) == 0
    code = main(["train", str(image), "--out", str(second), "--init", str(first), *tiny, "--json"])
    assert code == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["steps"] == 6 and figures["continued_from"] == str(first)
    assert load_model(second).metadata["steps"] == 6
    assert main(["train", str(image), "--out", str(second), *tiny]) == 2
    assert "give --psf, --psf-sigma or --n2v" in capsys.readouterr().err
