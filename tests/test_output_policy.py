"""Your data is safe: one output policy for every command and the Python API, and outputs that
an interruption at any moment leaves whole (the previous files, or the complete new ones)."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
import tifffile

from napari_deconoising import (
    OutputError,
    Trainer,
    TrainingConfig,
    compress,
    export_onnx,
)
from napari_deconoising.cli import _files, main
from napari_deconoising.cli._interrupt import first_interrupt_stops
from napari_deconoising.config.prediction import PredictionConfig
from napari_deconoising.demo import demo_outputs, run_demo
from napari_deconoising.errors import Cancelled, ImageError
from napari_deconoising.io import AxesImage, outputs, read_tiff
from napari_deconoising.io.outputs import (
    check_outputs,
    interrupts_deferred,
    replace_path,
)
from napari_deconoising.io.zarr_io import create_zarr, mark_complete
from napari_deconoising.prediction import stores
from napari_deconoising.prediction.blockwise import BlockPredictor
from napari_deconoising.prediction.jobs import PredictionJob

TINY_TRAIN = ["--steps", "2", "--patch-size", "32", "--batch-size", "2", "--start-filters", "8"]
OLD = b"the user's precious file"


@pytest.fixture(scope="module")
def data(tmp_path_factory, tiny_model, tiny_sample):
    """A folder with a recording, a PSF, a model and a file that must survive every test."""
    folder = tmp_path_factory.mktemp("safe")
    tifffile.imwrite(folder / "cells.tif", tiny_sample.noisy.astype(np.uint16))
    tifffile.imwrite(folder / "psf.tif", tiny_sample.psf)
    tiny_model.save(folder / "model.pt")
    (folder / "notes.txt").write_bytes(OLD)
    return folder


@pytest.fixture
def snapshot(data):
    """Every file's bytes before the test; the test asserts that none changed."""
    before = {path.name: path.read_bytes() for path in data.iterdir() if path.is_file()}
    yield before
    after = {path.name: path.read_bytes() for path in data.iterdir() if path.is_file()}
    assert after == before


def run_cli(capsys, *args):
    code = main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ---- the policy itself ------------------------------------------------------------------------


def test_an_output_that_is_an_input_is_refused_through_links_and_dots(tmp_path):
    image = tmp_path / "cells.tif"
    image.write_bytes(OLD)
    (tmp_path / "link.tif").symlink_to(image)
    (tmp_path / "sub").mkdir()
    for alias in (image, tmp_path / "link.tif", tmp_path / "sub" / ".." / "cells.tif"):
        with pytest.raises(OutputError, match="it is the input"):
            check_outputs([alias], [image], overwrite=True)


def test_an_output_holding_or_inside_an_input_is_refused(tmp_path):
    store = tmp_path / "outer.zarr" / "input.zarr"
    store.mkdir(parents=True)
    with pytest.raises(OutputError, match="holds the input"):
        check_outputs([tmp_path / "outer.zarr"], [store], overwrite=True)
    with pytest.raises(OutputError, match="lies inside the input"):
        check_outputs([store / "0" / "out.tif"], [store], overwrite=True)


def test_outputs_named_twice_or_nested_are_refused(tmp_path):
    with pytest.raises(OutputError, match="another output"):
        check_outputs([tmp_path / "a.tif", tmp_path / "a.tif"])
    with pytest.raises(OutputError, match="another output"):
        check_outputs([tmp_path / "a.zarr", tmp_path / "a.zarr" / "b.tif"])


def test_existing_outputs_need_overwrite_and_a_file_is_no_folder(tmp_path):
    existing = tmp_path / "model.pt"
    existing.write_bytes(OLD)
    with pytest.raises(OutputError, match=r"exists; choose another name or allow overwriting"):
        check_outputs([existing])
    assert check_outputs([existing], overwrite=True) == [existing]
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_outputs([existing / "deeper" / "m.pt"], overwrite=True)
    assert check_outputs([tmp_path / "new" / "folders" / "m.pt"])  # made when written


# ---- every command refuses before any work ---------------------------------------------------

REFUSED = {
    "train over its image": (
        ["train", "{d}/cells.tif", "--out", "{d}/cells.tif", "--psf-sigma", "1.5", "--overwrite"],
        "it is the input",
    ),
    "train over its PSF": (
        ["train", "{d}/cells.tif", "--out", "{d}/psf.tif", "--psf", "{d}/psf.tif"],
        "it is the input",
    ),
    "train over the model it continues": (
        ["train", "{d}/cells.tif", "--out", "{d}/model.pt", "--init", "{d}/model.pt"],
        "it is the input",
    ),
    "train over an existing file": (
        ["train", "{d}/cells.tif", "--out", "{d}/notes.txt", "--psf-sigma", "1.5"],
        "exists; choose another name",
    ),
    "train under a file": (
        ["train", "{d}/cells.tif", "--out", "{d}/notes.txt/m.pt", "--psf-sigma", "1.5"],
        "is a file, not a folder",
    ),
    "compress over its image": (
        ["compress", "--model", "{d}/model.pt", "--images", "{d}/cells.tif", "--out",
         "{d}/cells.tif", "--overwrite"],
        "it is the input",
    ),
    "compress over its model": (
        ["compress", "--model", "{d}/model.pt", "--images", "{d}/cells.tif", "--out",
         "{d}/model.pt"],
        "input model",
    ),
    "psf over its calibration image": (
        ["psf", "--na", "1.2", "--wavelength", "520", "--image", "{d}/cells.tif", "--out",
         "{d}/cells.tif", "--overwrite"],
        "it is the input",
    ),
    "psf over an existing file": (["psf", "--sigma", "1.5", "--out", "{d}/psf.tif"], "exists"),
    "export-onnx over its model": (
        ["export-onnx", "--model", "{d}/model.pt", "--out", "{d}/model.pt"], "input model",
    ),
    "export-onnx over an existing file": (
        ["export-onnx", "--model", "{d}/model.pt", "--out", "{d}/notes.txt"], "exists",
    ),
    "export-bioimageio over an existing file": (
        ["export-bioimageio", "--model", "{d}/model.pt", "--out", "{d}/notes.txt"], "exists",
    ),
    "demo into a file": (["demo", "--out", "{d}/notes.txt", "--steps", "1"], "not a folder"),
    "predict over its image": (
        ["predict", "{d}/cells.tif", "--model", "{d}/model.pt", "--denoised", "{d}/cells.tif",
         "--deconvolved", "{d}/new.tif", "--overwrite"],
        "it is the input",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", REFUSED)
def test_every_command_refuses_before_any_work(capsys, data, snapshot, case):
    args, message = REFUSED[case]
    code, out, err = run_cli(capsys, *(arg.format(d=data) for arg in args))
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert "Traceback" not in err and out == ""
    assert not [p for p in data.iterdir() if p.name.startswith(".")]


def test_demo_refuses_a_folder_with_its_files_unless_overwrite(tmp_path):
    (tmp_path / "denoised.tif").write_bytes(OLD)
    with pytest.raises(OutputError, match=r"denoised\.tif exists"):
        run_demo(tmp_path, steps=1, shape=(64, 64), n_frames=2)
    assert (tmp_path / "denoised.tif").read_bytes() == OLD
    assert [p.name for p in tmp_path.iterdir()] == ["denoised.tif"]
    assert tmp_path / "model.last.pt" in demo_outputs(tmp_path)


def test_predict_never_deletes_an_input_store_inside_its_output(capsys, tmp_path, tiny_model):
    """``--overwrite`` with a .zarr output that holds the input store used to delete it."""
    store = tmp_path / "outer.zarr" / "input.zarr"
    store.parent.mkdir()
    array = create_zarr(store, (64, 64), "YX", (64, 64))
    array[:] = np.random.default_rng(0).poisson(50, (64, 64)).astype(np.float32)
    mark_complete(store)
    tiny_model.save(tmp_path / "m.pt")
    code, _, err = run_cli(
        capsys, "predict", store, "--model", tmp_path / "m.pt", "--denoised",
        tmp_path / "outer.zarr", "--deconvolved", tmp_path / "dec.zarr", "--overwrite",
    )  # fmt: skip
    assert code == 2 and "holds the input" in err
    assert (store / "zarr.json").is_file() and not (tmp_path / "dec.zarr").exists()


def test_overwrite_replaces_an_output_and_train_writes_both_checkpoints(capsys, data, tmp_path):
    target = tmp_path / "psf.tif"
    target.write_bytes(OLD)
    assert run_cli(capsys, "psf", "--sigma", "1.5", "--out", target, "--overwrite")[0] == 0
    assert read_tiff(target).data.ndim == 2 and target.read_bytes() != OLD
    model = tmp_path / "m.pt"
    model.write_bytes(OLD)
    args = ["train", data / "cells.tif", "--out", model, "--psf-sigma", "1.5", *TINY_TRAIN]
    assert run_cli(capsys, *args)[0] == 2 and model.read_bytes() == OLD
    assert run_cli(capsys, *args, "--overwrite")[0] == 0
    assert model.read_bytes() != OLD and (tmp_path / "m.last.pt").is_file()


# ---- the Python API ---------------------------------------------------------------------------


def test_the_api_refuses_existing_files_and_inputs(data, snapshot, tiny_model, tiny_sample):
    config = TrainingConfig(steps=1, patch_size=32, batch_size=2, device="cpu")
    image = read_tiff(data / "cells.tif")
    with pytest.raises(OutputError, match="it is the input"):
        Trainer(image, tiny_sample.psf, config, data / "cells.tif", overwrite=True)
    with pytest.raises(OutputError, match="exists"):
        Trainer(image, tiny_sample.psf, config, data / "notes.txt")
    with pytest.raises(OutputError, match="exists"):
        tiny_model.save(data / "model.pt")
    with pytest.raises(OutputError, match="exists"):
        export_onnx(tiny_model, data / "notes.txt")
    with pytest.raises(OutputError, match="it is the input"):
        compress(data / "model.pt", image, out_path=data / "cells.tif", overwrite=True)


# ---- interruptions ----------------------------------------------------------------------------


def test_a_ctrl_c_during_renames_is_delivered_after_them(tmp_path):
    target = tmp_path / "out.tif"
    target.write_bytes(OLD)
    built = tmp_path / ".new"
    built.write_bytes(b"new")
    with pytest.raises(KeyboardInterrupt), interrupts_deferred():
        os.kill(os.getpid(), signal.SIGINT)
        replace_path(built, target)
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.tif"]


def test_a_deferred_first_ctrl_c_still_asks_a_long_task_to_stop():
    stops = []
    with first_interrupt_stops(lambda: stops.append(1)), interrupts_deferred():
        os.kill(os.getpid(), signal.SIGINT)
        assert stops == []
    assert stops == [1]


def test_an_interrupted_tiff_write_leaves_the_previous_files(tmp_path, monkeypatch):
    first, second = tmp_path / "den.tif", tmp_path / "dec.tif"
    for path in (first, second):
        path.write_bytes(OLD)
    real_write = _files.write_tiff
    calls = []

    def write_then_interrupt(path, image, **options):
        calls.append(path)
        real_write(path, image, **options)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(_files, "write_tiff", write_then_interrupt)
    image = np.ones((8, 8), np.float32)
    with pytest.raises(KeyboardInterrupt):
        _files.write_outputs({first: image, second: image}, overwrite=True)
    assert first.read_bytes() == OLD and second.read_bytes() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dec.tif", "den.tif"]


def _tiff_job(tiny_model, folder):
    frames = np.random.default_rng(2).poisson(60, (2, 64, 64)).astype(np.float32) + 100
    for name in ("den.tif", "dec.tif"):
        (folder / name).write_bytes(OLD)
    image = AxesImage(frames, "TYX", name="rec")
    predictor = BlockPredictor(
        tiny_model, PredictionConfig(tile=64, overlap=16, device="cpu"), overwrite=True
    )
    return predictor, PredictionJob(image, folder / "den.tif", folder / "dec.tif")


def _only_previous_outputs(folder) -> bool:
    return sorted(p.name for p in folder.iterdir()) == ["dec.tif", "den.tif"] and all(
        (folder / name).read_bytes() == OLD for name in ("dec.tif", "den.tif")
    )


def test_a_stop_while_tiffs_are_finalised_keeps_the_previous_outputs(tmp_path, tiny_model):
    predictor, job = _tiff_job(tiny_model, tmp_path)

    def stop_when_writing(event):
        if event.stage == "writing":
            predictor.cancel()

    with pytest.raises(Cancelled):
        predictor.predict([job], stop_when_writing)
    assert _only_previous_outputs(tmp_path)


def test_a_ctrl_c_while_a_tiff_is_finalised_leaves_no_partial_file(
    tmp_path, tiny_model, monkeypatch
):
    predictor, job = _tiff_job(tiny_model, tmp_path)

    def half_written(array, store, path, on_plane):
        path.write_bytes(b"half a TIFF")
        raise KeyboardInterrupt

    monkeypatch.setattr(stores, "_zarr_to_tiff", half_written)
    with pytest.raises(KeyboardInterrupt):
        predictor.predict([job])
    assert _only_previous_outputs(tmp_path)


def test_an_output_store_that_cannot_be_created_is_one_message(tmp_path, tiny_model, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("the disk refuses")

    monkeypatch.setattr(stores, "create_zarr", refuse)
    predictor, job = _tiff_job(tiny_model, tmp_path)
    with pytest.raises(ImageError, match=r"cannot create .*den\.tif: the disk refuses"):
        predictor.predict([job])
    assert _only_previous_outputs(tmp_path)
    assert outputs.resolved(tmp_path / "x" / ".." / "den.tif") == (tmp_path / "den.tif").resolve()


def test_a_second_ctrl_c_during_the_clean_up_still_removes_everything(
    tmp_path, tiny_model, monkeypatch
):
    """A stop while TIFFs are finalised, then Ctrl-C while the partial outputs are removed."""
    predictor, job = _tiff_job(tiny_model, tmp_path)
    real_remove = stores.remove_path

    def remove_after_a_ctrl_c(path):
        os.kill(os.getpid(), signal.SIGINT)
        real_remove(path)

    def stop_when_writing(event):
        if event.stage == "writing":
            monkeypatch.setattr(stores, "remove_path", remove_after_a_ctrl_c)
            predictor.cancel()

    with pytest.raises(KeyboardInterrupt):
        predictor.predict([job], stop_when_writing)
    assert _only_previous_outputs(tmp_path)
