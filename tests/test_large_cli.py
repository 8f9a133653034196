"""``deconoising predict`` on several inputs, to OME-Zarr/BigTIFF, on a dask cluster."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import tifffile
import zarr

from napari_deconoising.cli import main
from napari_deconoising.io import read_tiff
from napari_deconoising.io.lazy import open_image

TILES = ["--tile", "64", "--overlap", "16", "--device", "cpu"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory, tiny_model):
    """A model file and two recordings: an uncompressed and a compressed TIFF."""
    folder = tmp_path_factory.mktemp("large_cli")
    tiny_model.save(folder / "model.pt")
    rng = np.random.default_rng(4)
    inputs = folder / "inputs"
    inputs.mkdir()
    frames = rng.poisson(70, (2, 90, 100)).astype(np.uint16)
    tifffile.imwrite(inputs / "a.tif", frames, imagej=True, metadata={"axes": "TYX"})
    tifffile.imwrite(
        inputs / "b.tif", frames[:, :70, :80], compression="zlib", photometric="minisblack"
    )
    return folder


def predict(capsys, folder, *args):
    code = main(["predict", *map(str, args), "--model", str(folder / "model.pt"), *TILES])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_folder_of_inputs_to_ome_zarr_and_bigtiff(capsys, folder, tmp_path):
    code, out, err = predict(
        capsys, folder, folder / "inputs", "--output-dir", tmp_path, "--block-size", "64", "--json"
    )
    assert code == 0, err
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["axes"] == ["TYX", "SYX"] and figures["shapes"] == [[2, 90, 100], [2, 70, 80]]
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"{s}_{k}.zarr" for s in "ab" for k in ("deconvolved", "denoised")]
    assert "note: b.tif: reading (2, 70, 80) as SYX" in err
    code, _, err = predict(
        capsys, folder, folder / "inputs" / "*.tif", "--output-dir", tmp_path, "--format", "tif"
    )
    assert code == 0, err
    zarr_result = open_image(tmp_path / "a_denoised.zarr")
    tiff_result = read_tiff(tmp_path / "a_denoised.tif")
    assert zarr_result.axes == tiff_result.axes == "TYX"
    difference = np.abs(np.asarray(zarr_result.data) - np.asarray(tiff_result.data)).max()
    assert difference <= 1e-3 * np.asarray(tiff_result.data).max()  # 64 px blocks vs whole


def test_existing_outputs_are_kept_without_overwrite(capsys, folder, tmp_path):
    image = folder / "inputs" / "a.tif"
    for suffix in (".tif", ".zarr"):  # in memory and block-wise
        den, dec = tmp_path / f"den{suffix}", tmp_path / f"dec{suffix}"
        assert predict(capsys, folder, image, "--denoised", den, "--deconvolved", dec)[0] == 0
        before = sorted(p.name for p in tmp_path.rglob("*"))
        code, _, err = predict(capsys, folder, image, "--denoised", den, "--deconvolved", dec)
        assert code == 2 and f"{den} exists" in err and "--overwrite" in err
        assert sorted(p.name for p in tmp_path.rglob("*")) == before
        more = ("--denoised", den, "--deconvolved", dec, "--overwrite")
        assert predict(capsys, folder, image, *more)[0] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--output-dir", "{t}/blocker/out"], "is a file, not a folder"),
        (["--denoised", "{t}/a.zarr"], "give --denoised and --deconvolved"),
        (["--denoised", "{t}/a.zarr", "--deconvolved", "{t}/b.zarr"], "need --output-dir"),
        (["--denoised", "{t}/a.png", "--deconvolved", "{t}/b.zarr"], ".zarr, .tif or .tiff"),
    ],
)
def test_bad_outputs_are_refused_before_predicting(capsys, folder, tmp_path, args, message):
    (tmp_path / "blocker").write_text("a file where a folder should be")
    inputs = [folder / "inputs" / "a.tif", folder / "inputs" / "b.tif"]
    if "--output-dir" not in args and "need" not in message:
        inputs = inputs[:1]
    code, _, err = predict(capsys, folder, *inputs, *[a.format(t=tmp_path) for a in args])
    assert code == 2 and message in err and "Traceback" not in err and "predicting" not in err
    assert [p.name for p in tmp_path.iterdir()] == ["blocker"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_output_folder_is_refused(capsys, folder, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    code, _, err = predict(capsys, folder, folder / "inputs", "--output-dir", locked)
    assert code == 2 and "no permission to write" in err


def test_a_dask_cluster_gives_byte_identical_outputs(capsys, folder, tmp_path):
    from distributed import LocalCluster

    inputs = folder / "inputs"
    here, there = tmp_path / "here", tmp_path / "there"
    blocks = ["--block-size", "64"]
    assert predict(capsys, folder, inputs, "--output-dir", here, *blocks)[0] == 0
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        code, _, err = predict(
            capsys,
            folder,
            inputs,
            "--output-dir",
            there,
            *blocks,
            "--scheduler",
            cluster.scheduler_address,
        )
    assert code == 0, err
    for store in sorted(p.name for p in here.iterdir()):
        local = zarr.open_array(here / store / "0")[:]
        remote = zarr.open_array(there / store / "0")[:]
        assert local.tobytes() == remote.tobytes(), store


def test_ctrl_c_stops_a_blockwise_run_and_removes_its_stores(folder, tmp_path):
    frames = np.random.default_rng(0).poisson(50, (300, 64, 64)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "long.tif", frames)
    command = [sys.executable, "-m", "napari_deconoising.cli", "predict", tmp_path / "long.tif"]
    command += ["--model", folder / "model.pt", *TILES, "--axes", "TYX"]
    command += ["--denoised", tmp_path / "den.zarr", "--deconvolved", tmp_path / "dec.zarr"]
    process = subprocess.Popen(list(map(str, command)), stderr=subprocess.PIPE, text=True)
    shown = ""
    while "predicting [" not in shown and process.poll() is None:
        shown += process.stderr.read(1)
    process.send_signal(signal.SIGINT)
    rest = process.stderr.read()
    assert process.wait(timeout=120) == 130
    assert rest.strip().splitlines()[-1] == "deconoising predict: cancelled"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.tif"]
