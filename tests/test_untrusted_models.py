"""Model files and bioimage.io packages are untrusted input: every damaged, edited or hostile
file is refused with one clear :class:`ModelFileError` before anything large is allocated."""

from __future__ import annotations

import copy
import io
import json
import math
import re
import time
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from napari_deconoising import (
    ChannelModels,
    DecoNoisingModel,
    ModelFileError,
    NetworkConfig,
    Normalisation,
    PredictionConfig,
    Predictor,
    gaussian_psf,
    load_model,
)
from napari_deconoising.cli import main
from napari_deconoising.cli.info import describe
from napari_deconoising.export.bioimageio import MODEL_MEMBER
from napari_deconoising.model import archive_checks, package_reader
from napari_deconoising.model import checks as model_checks
from napari_deconoising.model.unet import UNet

Edit = Callable[[dict[str, Any]], None]


# -- helpers -------------------------------------------------------------------------------------
def tiny_network(depth: int = 1, spatial_dims: int = 2, pooling=None) -> UNet:
    torch.manual_seed(0)
    config = NetworkConfig(depth=depth, start_filters=4)
    return UNet(config, spatial_dims=spatial_dims, pooling=pooling).eval()


@pytest.fixture(scope="module")
def tiny() -> DecoNoisingModel:
    """A depth-1 network with 4 filters and a small Gaussian PSF (a few kB)."""
    return DecoNoisingModel(tiny_network(), gaussian_psf(0.7), Normalisation(100.0, 10.0, 90.0))


@pytest.fixture(scope="module")
def two_channels(tiny) -> ChannelModels:
    return ChannelModels([tiny, replace(tiny, normalisation=Normalisation(300.0, 20.0, 250.0))])


def payload_of(model: DecoNoisingModel | ChannelModels) -> dict[str, Any]:
    return torch.load(io.BytesIO(model.to_bytes()), weights_only=True)


def edited_file(folder: Path, model: DecoNoisingModel, edit: Edit, name: str = "m.pt") -> Path:
    """``model`` saved with ``edit`` applied to its parsed metadata."""
    payload = payload_of(model)
    meta = json.loads(payload["metadata"])
    edit(meta)
    payload["metadata"] = json.dumps(meta)
    path = folder / name
    torch.save(payload, path)
    return path


def refusal(path: Path) -> str:
    with pytest.raises(ModelFileError) as caught:
        load_model(path)
    message = str(caught.value)
    assert len(message.splitlines()) == 1
    assert str(path) in message and "weights_only" not in message
    return message


def setter(*keys: Any, value: Any) -> Edit:
    """An edit that sets ``meta[keys[0]][keys[1]]...`` to ``value``."""

    def edit(meta: dict[str, Any]) -> None:
        target = meta
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return edit


def psf_edit(change: Callable[[np.ndarray], Any]) -> Edit:
    def edit(meta: dict[str, Any]) -> None:
        meta["psf"] = change(np.asarray(meta["psf"]))

    return edit


# -- metadata ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (setter("normalisation", "std", value=0), "normalisation std must be a finite number"),
        (setter("normalisation", "std", value=math.nan), "normalisation std .* got nan"),
        (setter("normalisation", "mean", value=math.inf), "normalisation mean .* got inf"),
        (setter("normalisation", "offset", value="90"), "normalisation offset .* got '90'"),
        (lambda meta: meta.pop("normalisation"), "normalisation must be .* missing"),
        (setter("output_scale", value=math.inf), "output_scale must be .* got inf"),
        (setter("output_scale", value=0), r"output_scale must be a finite number in \(0, 1000\]"),
        (setter("output_scale", value=[10]), "output_scale"),
    ],
    ids=[
        "std-0",
        "std-nan",
        "mean-inf",
        "offset-text",
        "no-normalisation",
        "scale-inf",
        "scale-0",
        "scale-list",
    ],
)
def test_unusable_normalisation_and_output_scale_are_refused(tiny, tmp_path, edit, expected):
    message = refusal(edited_file(tmp_path, tiny, edit))
    assert "damaged napari-deconoising model file" in message
    assert re.search(expected, message), message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda psf: np.where(psf == psf.max(), math.nan, psf).tolist(),
            "finite numbers .* found nan",
        ),
        (lambda psf: (psf - 0.01).tolist(), "non-negative numbers"),
        (lambda psf: (psf * 1e40).tolist(), r"finite numbers up to 3.4e\+38, found \d"),
        (
            lambda psf: np.pad(psf, ((0, 1), (0, 1))).tolist(),
            r"odd sides .* got sides \[\d+, \d+\]",
        ),
        (lambda psf: psf.ravel().tolist(), "psf must be 2D for this 2D model, got 1D"),
        (lambda psf: psf[None].tolist(), "psf must be 2D for this 2D model, got 3D"),
        (lambda psf: np.full((259, 259), 1 / 259**2).tolist(), "odd sides of at most 257"),
        (lambda psf: [[0.0] * 3] * 10001, r"got sides \[10001, 3\]"),
        (lambda psf: (psf * 0).tolist(), "must sum to 1 .* got a sum of 0"),
        (lambda psf: (psf * 5).tolist(), "must sum to 1"),
        (lambda psf: [[0.0, 0.0, 0.0], [0.0, 1.0], [0.0, 0.0, 0.0]], "regular 2D grid"),
        (lambda psf: [[True] * 3] * 3, "regular 2D grid of numbers"),
        (lambda psf: "gaussian", "psf must be a 2D list of numbers or null"),
    ],
    ids=[
        "nan",
        "negative",
        "beyond-float32",
        "even",
        "1d",
        "3d",
        "259",
        "10001",
        "zero-sum",
        "sum-5",
        "ragged",
        "booleans",
        "text",
    ],
)
def test_unusable_psfs_are_refused(tiny, tmp_path, change, expected):
    message = refusal(edited_file(tmp_path, tiny, psf_edit(change)))
    assert re.search(expected, message), message


def test_a_huge_psf_is_refused_before_it_becomes_an_array(tiny, tmp_path, monkeypatch):
    """The nested lists' shape is checked first: no array of 10001 x 10001 is ever made."""
    made = []
    original = np.asarray
    monkeypatch.setattr(np, "asarray", lambda *a, **k: made.append(1) or original(*a, **k))
    row = [0.0] * 10001
    path = edited_file(tmp_path, tiny, setter("psf", value=[row] * 3))
    made.clear()
    assert "odd sides of at most 257" in refusal(path)
    assert made == []


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (setter("architecture", "widths", value=[20000, 20000]), "architecture widths must be"),
        (setter("architecture", "widths", value=[4, 6]), r"weight .* has shape .* needs"),
        (setter("architecture", "widths", value=[4.0, 8]), "architecture widths"),
        (setter("architecture", "network", "depth", value="x"), "network depth must be a whole"),
        (setter("architecture", "network", "depth", value=9), r"network depth .* in \[1, 5\]"),
        (setter("architecture", "network", "depth", value=10**400), "network depth"),
        (setter("architecture", "network", "start_filters", value=2.5), "start_filters"),
        (setter("architecture", "network", "convs_per_level", value=3), "do not match"),
        (setter("architecture", "network", "downsampling", value="avg"), "one of max, blur"),
        (setter("architecture", "network", "top_skip", value=1), "top_skip"),
        (setter("architecture", "network", "colour", value=1), "unknown settings"),
        (setter("architecture", "spatial_dims", value=4), "spatial_dims must be 2 or 3"),
        (setter("architecture", "spatial_dims", value=3), "psf must be 3D"),
        (setter("architecture", "pooling", value=[[64, 64]]), "pooling must be"),
        (setter("architecture", value=[]), "architecture must be a JSON object"),
    ],
    ids=[
        "widths-20000",
        "widths-mismatch",
        "widths-float",
        "depth-text",
        "depth-9",
        "depth-huge",
        "filters-float",
        "convs",
        "downsampling",
        "top-skip-int",
        "unknown",
        "dims-4",
        "dims-3",
        "pooling",
        "architecture-list",
    ],
)
def test_unusable_architectures_are_refused_before_building(
    tiny, tmp_path, monkeypatch, edit, expected
):
    built = []
    monkeypatch.setattr("napari_deconoising.model.bundle.build_unet", lambda *a: built.append(a))
    message = refusal(edited_file(tmp_path, tiny, edit))
    assert re.search(expected, message), message
    assert built == []


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (setter("metadata", "pixel_size_um", value="abc"), "pixel_size_um must be a positive"),
        (setter("metadata", "pixel_size_um", value=-0.1), "pixel_size_um"),
        (setter("metadata", "pixel_size_um", value=math.nan), "pixel_size_um"),
        (setter("metadata", "voxel_size_um", value=[1, 0.1]), "voxel_size_um must be three"),
        (setter("metadata", "steps", value="many"), "metadata steps"),
        (setter("metadata", value="none"), "metadata must be a JSON object"),
        (setter("training_config", value=7), "training_config must be a JSON object"),
    ],
)
def test_unusable_free_metadata_is_refused(tiny, tmp_path, edit, expected):
    assert expected in refusal(edited_file(tmp_path, tiny, edit))


def save_payload(folder: Path, payload: dict[str, Any]) -> Path:
    path = folder / "m.pt"
    torch.save(payload, path)
    return path


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("format_version", "x", "format_version must be 1 or 2, got 'x'"),
        ("format_version", None, "format_version must be 1 or 2, got None"),
        ("format_version", 1.0, "format_version must be 1 or 2, got 1.0"),
        ("format_version", 0, "format_version must be 1 or 2, got 0"),
        ("format_version", 99, "newer napari-deconoising (format 99); please upgrade"),
        ("format", "other", "is not a napari-deconoising model file"),
        ("format", torch.zeros(2), "is not a napari-deconoising model file"),
        ("metadata", b"{}", "metadata must be JSON text"),
        ("metadata", "[" * 100_000, "metadata is not valid JSON"),
        ("metadata", "[1, 2]", "metadata must be a JSON object"),
        ("state_dict", [1, 2], "state_dict must map weight names to tensors"),
    ],
)
def test_unusable_payloads_are_refused(tiny, tmp_path, key, value, expected):
    payload = payload_of(tiny)
    payload[key] = value
    assert expected in refusal(save_payload(tmp_path, payload))


def test_a_missing_format_version_is_refused(tiny, tmp_path):
    payload = payload_of(tiny)
    del payload["format_version"]
    assert "format_version must be 1 or 2, got nothing" in refusal(save_payload(tmp_path, payload))


def test_overlong_metadata_is_refused_before_parsing(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(model_checks, "MAX_METADATA_CHARS", 100)
    monkeypatch.setattr(json, "loads", lambda *a, **k: pytest.fail("parsed"))
    path = tiny.save(tmp_path / "m.pt")
    assert "characters long (at most 100)" in refusal(path)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda state: state.update(extra=torch.zeros(1)), "unexpected 'extra'"),
        (lambda state: state.pop("out.bias"), "missing 'out.bias'"),
        (lambda state: state.update({"out.bias": torch.ones(1, dtype=torch.int64)}), "int64"),
        (lambda state: state.update({"out.bias": torch.ones(1, dtype=torch.bool)}), "bool"),
        (lambda state: state.update({"out.bias": 1.5}), "tensor of floats, got float"),
        (lambda state: state.update({"out.bias": torch.ones(2)}), "shape [2]"),
        (lambda state: state.update({"out.bias": torch.tensor([math.nan])}), "NaN or infinite"),
        (lambda state: state.update({3: torch.ones(1)}), "state_dict must map weight names"),
    ],
)
def test_weights_that_do_not_fit_the_architecture_are_refused(tiny, tmp_path, change, expected):
    payload = payload_of(tiny)
    change(payload["state_dict"])
    message = refusal(save_payload(tmp_path, payload))
    assert expected in message


def test_a_weight_expanded_from_one_value_cannot_make_a_huge_network(tiny, tmp_path):
    """Widths at the declared maximum with weights that are stride-0 views of one value: the
    network such a file describes is refused by its size, never built."""
    depth_high = int(model_checks.bounds(NetworkConfig, "depth").high)
    widths = [model_checks.MAX_WIDTH] * (depth_high + 1)
    payload = payload_of(tiny)
    meta = json.loads(payload["metadata"])
    meta["architecture"]["network"]["depth"] = depth_high
    meta["architecture"]["widths"] = widths
    payload["metadata"] = json.dumps(meta)
    assert "of weights (at most 1 GiB)" in refusal(save_payload(tmp_path, payload))


def test_two_channel_files_are_checked_channel_by_channel(two_channels, tmp_path):
    payload = payload_of(two_channels)
    meta = json.loads(payload["metadata"])
    meta["channels"][1]["normalisation"]["std"] = -1
    payload["metadata"] = json.dumps(meta)
    assert "channel 1 normalisation std" in refusal(save_payload(tmp_path, payload))
    payload = payload_of(two_channels)
    payload["state_dict"]["channel2.out.bias"] = torch.zeros(1)
    assert "unexpected 'channel2.out.bias'" in refusal(save_payload(tmp_path, payload))
    payload = payload_of(two_channels)
    payload["metadata"] = json.dumps({**json.loads(payload["metadata"]), "channels": []})
    assert "channels must be a list of two or more" in refusal(save_payload(tmp_path, payload))


def test_valid_files_still_load(tiny, two_channels, tmp_path):
    loaded = load_model(tiny.save(tmp_path / "one.pt"))
    assert loaded.normalisation == tiny.normalisation
    assert load_model(two_channels.save(tmp_path / "two.pt")).n_channels == 2
    volume = DecoNoisingModel(
        tiny_network(spatial_dims=3, pooling=[(1, 2, 2)]),
        np.ones((3, 5, 5), np.float32) / 75,
        Normalisation(100.0, 20.0, 90.0),
        metadata={"voxel_size_um": [0.3, 0.1, 0.1], "pixel_size_um": 0.1},
    )
    assert load_model(volume.save(tmp_path / "3d.pt")).voxel_size_um == (0.3, 0.1, 0.1)
    n2v = replace(tiny, psf=None)
    assert load_model(n2v.save(tmp_path / "n2v.pt")).is_n2v


# -- pickled code and archive bombs --------------------------------------------------------------
class NotAWeight:
    pass


def test_python_objects_are_refused_in_our_own_words(tmp_path):
    path = tmp_path / "code.pt"
    torch.save({"format": "napari-deconoising-model", "state_dict": NotAWeight()}, path)
    message = refusal(path)
    assert "holds Python objects other than network weights" in message
    assert "never loaded" in message and "trust" not in message


def test_a_file_that_is_not_a_zip_archive_is_refused(tmp_path):
    path = tmp_path / "legacy.pt"
    torch.save({"a": torch.zeros(2)}, path, _use_new_zipfile_serialization=False)
    assert "not the zip archive that torch.save writes" in refusal(path)


def write_zeros(archive: zipfile.ZipFile, name: str, mebibytes: int) -> None:
    """A member of ``mebibytes`` MiB of zeros, written in chunks (never whole in memory)."""
    chunk = bytes(1 << 20)
    with archive.open(name, "w", force_zip64=True) as member:
        for _ in range(mebibytes):
            member.write(chunk)


def test_a_model_file_declaring_a_huge_member_is_refused_before_torch_reads_it(
    tiny, tmp_path, monkeypatch
):
    path = tmp_path / "bomb.pt"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        write_zeros(archive, "bomb/data/0", 8)
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load was called"))
    assert "would unpack to 8 MiB from" in refusal(path)
    # the declared sizes count too: a stored (uncompressed) member above the cap
    monkeypatch.setattr(archive_checks, "MAX_MODEL_BYTES", 1 << 20)
    stored = tmp_path / "big.pt"
    stored.write_bytes(tiny.to_bytes())
    with zipfile.ZipFile(stored, "a") as archive:
        archive.writestr("big/data/99", bytes(2 << 20))
    assert "would unpack to 2 MiB (at most 1 MiB)" in refusal(stored)


@pytest.fixture(scope="module")
def package_bomb(tmp_path_factory) -> Path:
    """A 300 kB bioimage.io package whose model member inflates to 300 MB of zeros."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("rdf.yaml", "type: model\nname: bomb\nnapari_deconoising: {}\n")
        write_zeros(archive, MODEL_MEMBER, 300)
    return path


def test_a_package_bomb_is_refused_without_inflating_it(package_bomb, monkeypatch):
    opened: list[str] = []
    original = zipfile.ZipFile.open

    def spy(self, name, *args, **kwargs):
        opened.append(getattr(name, "filename", name))
        return original(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    start = time.perf_counter()
    message = refusal(package_bomb)
    assert time.perf_counter() - start < 2
    assert "the model member would unpack to 300 MiB from" in message
    assert "the package is damaged or not made by napari-deconoising" in message
    assert MODEL_MEMBER not in opened


def package_with_model(folder: Path, data: bytes, name: str = "package.zip") -> Path:
    path = folder / name
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("rdf.yaml", "type: model\nname: test\nnapari_deconoising: {}\n")
        archive.writestr(MODEL_MEMBER, data)
    return path


def test_package_members_above_the_caps_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(package_reader, "MAX_MODEL_BYTES", 1 << 20)
    path = package_with_model(tmp_path, np.random.default_rng(0).bytes(2 << 20))
    assert "the model member would unpack to 2 MiB (at most 1 MiB)" in refusal(path)
    monkeypatch.setattr(package_reader, "MAX_DESCRIPTION_BYTES", 10)
    assert "the description rdf.yaml would unpack to" in refusal(path)


def test_unpacking_stops_at_the_cap_even_when_the_header_lies(tmp_path, monkeypatch):
    """The bytes are counted as they are unpacked, whatever the declared size says."""
    monkeypatch.setattr(package_reader, "MAX_MODEL_BYTES", 1 << 20)
    monkeypatch.setattr(package_reader, "unpacked_size_problem", lambda member, limit: None)
    path = package_with_model(tmp_path, bytes(3 << 20))
    assert "the model member would unpack to more than 1 MiB" in refusal(path)


def test_a_package_whose_header_understates_a_member_is_damaged(tiny, tmp_path):
    path = package_with_model(tmp_path, tiny.to_bytes())
    data = bytearray(path.read_bytes())
    # the central directory's uncompressed size of the member (offset 24): say 100 bytes
    name, entry = MODEL_MEMBER.encode(), 0
    while data[entry + 46 : entry + 46 + len(name)] != name:
        entry = data.index(b"PK\x01\x02", entry + 1)
    data[entry + 24 : entry + 28] = (100).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    assert "damaged" in refusal(path)


def test_a_package_inside_a_package_is_not_unpacked_in_turn(tiny, tmp_path):
    inner = package_with_model(tmp_path, tiny.to_bytes(), "inner.zip").read_bytes()
    message = refusal(package_with_model(tmp_path, inner, "outer.zip"))
    assert f"{MODEL_MEMBER} is not a napari-deconoising model file" in message


def test_a_valid_package_still_loads(tiny, tmp_path):
    assert load_model(package_with_model(tmp_path, tiny.to_bytes())).n_channels == 1


# -- the command line ----------------------------------------------------------------------------
def one_error_line(capsys, args: list[str]) -> str:
    assert main([str(a) for a in args]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    return lines[0]


def test_the_cli_ends_with_one_line_and_exit_code_2(tiny, tmp_path, capsys, package_bomb):
    image = tmp_path / "image.tif"
    tifffile.imwrite(image, np.full((32, 32), 100, np.uint16))
    text = edited_file(tmp_path, tiny, setter("metadata", "pixel_size_um", value="abc"), "a.pt")
    nan_std = edited_file(tmp_path, tiny, setter("normalisation", "std", value=math.nan), "b.pt")
    payload = payload_of(tiny)
    payload["format_version"] = "x"
    version = tmp_path / "c.pt"
    torch.save(payload, version)
    for model, expected in [
        (text, "pixel_size_um"),
        (nan_std, "normalisation std"),
        (version, "format_version"),
        (package_bomb, "would unpack to 300 MiB"),
    ]:
        assert expected in one_error_line(capsys, ["info", model])
        outputs = ["--denoised", tmp_path / "d.tif", "--deconvolved", tmp_path / "e.tif"]
        line = one_error_line(capsys, ["predict", image, "--model", model, *outputs])
        assert expected in line
    assert not (tmp_path / "d.tif").exists()


# -- random edits --------------------------------------------------------------------------------
Path_ = tuple[Any, ...]

NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 2, 3, 0.5, 1e-300, 1e-7, 1e6, 1e12, 1e300, 20000, 10**30]),
)
VALUES = st.one_of(
    NUMBERS,
    st.none(),
    st.booleans(),
    st.text(max_size=6),
    st.lists(NUMBERS, max_size=3),
    st.lists(st.lists(NUMBERS, min_size=1, max_size=3), max_size=3),
    st.dictionaries(st.text(max_size=4), NUMBERS, max_size=2),
)


ACTIONS = ("replace", "delete", "retype", "add", "scale")
#: What "scale" multiplies a number by: mostly plausible edits, which load.
FACTORS = (0.5, 2.0, 10.0, 1e6, 1e-6, -1.0, 0.0)


def paths(tree: Any, prefix: Path_ = ()) -> list[Path_]:
    """Every key path in nested dicts and lists (the root excluded)."""
    found: list[Path_] = []
    items = tree.items() if isinstance(tree, dict) else enumerate(tree)
    for key, value in items:
        found.append((*prefix, key))
        if isinstance(value, dict | list):
            found.extend(paths(value, (*prefix, key)))
    return found


def mutate(tree: Any, path: Path_, action: str, value: Any) -> None:
    parent = tree
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    if action == "delete":
        del parent[key]
    elif action == "retype":
        old = parent[key]
        parent[key] = [old] if isinstance(old, str | int | float) or old is None else str(old)
    elif action == "add" and isinstance(parent[key], dict):
        parent[key]["added"] = value
    elif action == "scale":
        old = parent[key]
        number = isinstance(old, int | float) and not isinstance(old, bool)
        parent[key] = old * value if number else old
    else:
        parent[key] = value


@pytest.fixture(scope="module")
def edit_roots(tiny, two_channels) -> list[dict[str, Any]]:
    """A one- and a two-channel payload, their metadata parsed (what the edits change)."""
    roots = []
    for model in (tiny, two_channels):
        payload = payload_of(model)
        payload["metadata"] = json.loads(payload["metadata"])
        roots.append(payload)
    return roots


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("edits") / "edited.pt"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_edits_load_and_predict_finite_values_or_are_refused(data, edit_roots, scratch):
    channels = data.draw(st.sampled_from([1, 2]), label="channels")
    root = copy.deepcopy(edit_roots[channels - 1])
    state = root.pop("state_dict")
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        candidates = paths(root)
        if not candidates:
            break
        in_psf = [p for p in candidates if "psf" in p]
        elsewhere = [p for p in candidates if "psf" not in p]
        psf_first = in_psf and (not elsewhere or data.draw(st.integers(0, 4)) == 0)
        path = data.draw(st.sampled_from(in_psf if psf_first else elsewhere), label="path")
        action = data.draw(st.sampled_from(ACTIONS), label="do")
        value = data.draw(st.sampled_from(FACTORS) if action == "scale" else VALUES, label="value")
        mutate(root, path, action, value)
    if isinstance(root.get("metadata"), dict | list):
        root["metadata"] = json.dumps(root["metadata"])
    torch.save({**root, "state_dict": state}, scratch)
    try:
        model = load_model(scratch)
    except ModelFileError as err:
        assert len(str(err).splitlines()) == 1
        event("refused")
        return
    event("loaded")
    describe(str(scratch), {**model.info(), "file_bytes": 1})
    image = np.random.default_rng(0).normal(100, 10, (model.n_channels, 32, 32))
    predictor = Predictor(model, PredictionConfig(tile=32, overlap=8, device="cpu"))
    result = predictor.predict(image.astype(np.float32), axes="CYX")
    assert np.isfinite(result.denoised).all() and np.isfinite(result.deconvolved).all()
