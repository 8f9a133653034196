import math

import numpy as np
import pytest
import torch

from napari_deconoising import (
    Cancelled,
    DecoNoisingModel,
    ModelFileError,
    NetworkConfig,
    Normalisation,
    PredictionConfig,
    PredictionProgress,
    PredictionResult,
    Predictor,
    gaussian_psf,
    load_model,
)
from napari_deconoising.config.prediction import MAX_TILE_VOXELS, tile_sides
from napari_deconoising.model.unet import UNet
from napari_deconoising.prediction.predictor import plan_balanced_tiles


def identity_like_model(psf=None) -> DecoNoisingModel:
    """A tiny random network: enough to check tiling, shapes and scaling."""
    torch.manual_seed(0)
    network = UNet(NetworkConfig(depth=2, start_filters=4))
    return DecoNoisingModel(network, psf, Normalisation(mean=100.0, std=10.0, offset=90.0))


def test_tiled_prediction_equals_whole_image_prediction():
    """Tiles with enough overlap stitch to what one big tile gives: no seams."""
    model = identity_like_model(gaussian_psf(1.0))
    image = np.random.default_rng(0).normal(100, 10, (100, 130)).astype(np.float32)
    exact = {"precision": "float32"}  # bfloat16 rounding would differ by a unit here and there
    whole = Predictor(model, PredictionConfig(tile=256, overlap=24, **exact)).predict(image)
    tiled = Predictor(model, PredictionConfig(tile=48, overlap=12, batch_size=3, **exact))
    tiled = tiled.predict(image)
    assert tiled.denoised.shape == image.shape
    interior = np.s_[16:-16, 16:-16]  # the image borders see different padding
    np.testing.assert_allclose(tiled.deconvolved[interior], whole.deconvolved[interior], atol=1e-3)


def test_stack_in_stack_out_with_progress():
    model = identity_like_model()
    stack = np.random.default_rng(1).normal(100, 10, (3, 40, 40)).astype(np.float32)
    events = list(Predictor(model, PredictionConfig(tile=32, overlap=8)).run(stack))
    progress = [e for e in events if isinstance(e, PredictionProgress)]
    result = events[-1]
    assert isinstance(result, PredictionResult)
    assert result.denoised.shape == stack.shape == result.deconvolved.shape
    assert progress[-1].tiles_done == progress[-1].tiles_total
    # N2V model: no PSF, so both outputs coincide.
    np.testing.assert_array_equal(result.denoised, result.deconvolved)


def test_tiles_are_balanced_rounded_and_never_larger_than_needed():
    grid = plan_balanced_tiles(1000, tile=250, overlap=20, multiple=8)
    assert grid.tile % 8 == 0 and grid.tile <= 256 and grid.count * grid.stride >= 1000
    assert grid.count == 5  # as few as tiles of 256 allow, each just as large as its share
    small = plan_balanced_tiles(50, tile=256, overlap=20, multiple=8)
    assert small.count == 1 and small.tile == 96  # the padded image, rounded up


def test_frames_get_the_overlap_the_network_sees_and_few_tiles():
    predictor = Predictor(identity_like_model(), PredictionConfig(tile=256, overlap=120))
    reach, multiple = predictor.networks[0].context, 4
    grids, batch = predictor.tiling((512, 512))
    # no more context than it can use, rounded up to the pooling multiple
    assert [g.overlap for g in grids] == [-(-r // multiple) * multiple for r in reach]
    computed = math.prod(g.tile for g in grids) * math.prod(g.count for g in grids)
    assert computed < 1.8 * 512 * 512  # fixed 256-pixel tiles computed 2.25 times the frame
    assert batch == PredictionConfig().batch_size


def test_default_tiles_hold_a_512_frame_in_one_tile_and_bound_3d_tiles():
    """Each tile recomputes its margin: by default a 512 x 512 frame is one tile (1.23x its
    pixels computed), and 3D tiles shrink in Y and X to stay within the voxel budget."""
    grids, _ = Predictor(identity_like_model()).tiling((512, 512))
    assert [g.count for g in grids] == [1, 1]
    assert math.prod(g.tile for g in grids) < 1.25 * 512 * 512
    defaults = PredictionConfig()
    assert tile_sides(defaults, 3) == (64, 256, 256)  # the 3D tiles of the 256-pixel default
    assert math.prod(tile_sides(defaults.replace(tile_z=16, overlap_z=4), 3)) <= MAX_TILE_VOXELS
    assert tile_sides(defaults.replace(tile=300, tile_z=16, overlap_z=4), 3) == (16, 300, 300)


def test_cancel_raises_cancelled():
    predictor = Predictor(identity_like_model(), PredictionConfig(tile=32, overlap=4, batch_size=1))
    with pytest.raises(Cancelled):
        for event in predictor.run(np.zeros((5, 64, 64), np.float32)):
            if isinstance(event, PredictionProgress):
                predictor.cancel()


def test_model_file_round_trip(tmp_path):
    model = identity_like_model(gaussian_psf(1.2))
    model.training_config = {"steps": 3}
    path = model.save(tmp_path / "exact-name.model")
    assert path == tmp_path / "exact-name.model" and path.is_file()
    loaded = load_model(path)
    assert loaded.normalisation == model.normalisation
    np.testing.assert_allclose(loaded.psf, model.psf)
    x = torch.randn(1, 1, 16, 16)
    assert torch.allclose(loaded.network(x), model.network(x))
    assert loaded.info()["metadata"]["package_version"]


def test_model_file_holds_no_pickled_code(tmp_path):
    path = identity_like_model().save(tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)  # would refuse pickled classes
    assert set(payload) == {"format", "format_version", "metadata", "state_dict"}


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"hello", "not a napari-deconoising model"), (b"", "not a napari-deconoising model")],
)
def test_foreign_files_are_refused(tmp_path, content, message):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=message):
        load_model(path)


def test_other_torch_files_are_refused(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"a": torch.zeros(2)}, path)
    with pytest.raises(ModelFileError, match="not a napari-deconoising model"):
        load_model(path)
    with pytest.raises(ModelFileError, match="not found"):
        load_model(tmp_path / "missing.pt")


def test_cancel_before_start_is_honoured_and_then_cleared():
    predictor = Predictor(identity_like_model(), PredictionConfig(tile=32, overlap=4))
    predictor.cancel()
    with pytest.raises(Cancelled):
        predictor.predict(np.zeros((64, 64), np.float32))
    assert predictor.predict(np.zeros((64, 64), np.float32)).denoised.shape == (64, 64)


def _payload(path):
    return torch.load(path, weights_only=True)


def test_a_newer_model_format_is_refused_clearly(tmp_path):
    path = identity_like_model().save(tmp_path / "m.pt")
    payload = _payload(path)
    payload["format_version"] = 99
    torch.save(payload, path)
    with pytest.raises(ModelFileError, match="newer napari-deconoising"):
        load_model(path)


@pytest.mark.parametrize("metadata", ["{not json", '{"architecture": {}}'])
def test_damaged_metadata_is_refused_clearly(tmp_path, metadata):
    path = identity_like_model().save(tmp_path / "m.pt")
    payload = _payload(path)
    payload["metadata"] = metadata
    torch.save(payload, path)
    with pytest.raises(ModelFileError, match="damaged napari-deconoising model file"):
        load_model(path)


def test_float16_storage_halves_the_file_and_loads_as_float32(tmp_path):
    model = identity_like_model(gaussian_psf(1.0))
    model.network = UNet(NetworkConfig(depth=2, start_filters=16))
    path = model.save(tmp_path / "half.pt", storage="float16")
    assert path.stat().st_size == model.file_size("float16") < 0.75 * model.file_size()
    loaded = load_model(path)
    assert all(p.dtype == torch.float32 for p in loaded.network.parameters())


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32])
def test_integer_inputs_give_the_same_values_as_float_inputs(dtype):
    """Integer images are predicted on their own value scale (no rescaling by dtype)."""
    model = identity_like_model(gaussian_psf(1.0))
    image = np.random.default_rng(2).integers(80, 130, (48, 48)).astype(dtype)
    as_int = Predictor(model, PredictionConfig(tile=64, overlap=8)).predict(image)
    as_float = Predictor(model, PredictionConfig(tile=64, overlap=8)).predict(
        image.astype(np.float32)
    )
    assert as_int.denoised.dtype == np.float32
    np.testing.assert_array_equal(as_int.denoised, as_float.denoised)
    assert 60 < float(as_int.denoised.mean()) < 150  # camera units, not [0, 1]


def test_prediction_does_not_move_or_change_the_callers_network():
    model = identity_like_model()
    before = {k: v.clone() for k, v in model.network.state_dict().items()}
    Predictor(model, PredictionConfig(tile=32, overlap=4)).predict(np.zeros((32, 32), np.float32))
    weight = model.network.down[0][2].weight  # 4 channels in: channels-last differs
    assert weight.is_contiguous() and not weight.is_contiguous(memory_format=torch.channels_last)
    for name, value in model.network.state_dict().items():
        assert torch.equal(value, before[name])


@pytest.mark.parametrize(
    ("native", "precision", "computed"),
    [
        (True, "auto", torch.bfloat16),  # a CPU with native bfloat16: about twice as fast
        (False, "auto", torch.float32),  # elsewhere bfloat16 is emulated, slower than float32
        (True, "float32", torch.float32),
        (False, "mixed", torch.bfloat16),
    ],
)
def test_prediction_computes_in_the_precision_the_cpu_does_natively(
    monkeypatch, tiny_model, tiny_sample, native, precision, computed
):
    from napari_deconoising.model import devices

    monkeypatch.setattr(devices, "cpu_computes_bfloat16", lambda: native)
    predictor = Predictor(tiny_model, PredictionConfig(device="cpu", precision=precision))
    seen = []
    first_conv = predictor.networks[0].down[0][0]
    first_conv.register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    result = predictor.predict(tiny_sample.noisy)
    assert seen and set(seen) == {computed}
    assert result.denoised.dtype == result.deconvolved.dtype == np.float32


def test_bfloat16_prediction_stays_close_to_float32(monkeypatch, tiny_model, tiny_sample):
    from napari_deconoising import psnr
    from napari_deconoising.model import devices

    monkeypatch.setattr(devices, "cpu_computes_bfloat16", lambda: True)
    outputs = {
        precision: Predictor(
            tiny_model, PredictionConfig(device="cpu", precision=precision)
        ).predict(tiny_sample.noisy)
        for precision in ("float32", "auto")
    }
    exact, mixed = outputs["float32"], outputs["auto"]
    assert not np.array_equal(exact.denoised, mixed.denoised)  # it did compute in bfloat16
    # measured on the image's scale (this barely trained network's outputs are nearly flat)
    peak = float(np.ptp(tiny_sample.blurred))
    for kind in ("denoised", "deconvolved"):
        error = np.sqrt(np.mean((getattr(exact, kind) - getattr(mixed, kind)) ** 2))
        assert 20 * np.log10(peak / error) > 40
    gap = psnr(tiny_sample.blurred, mixed.denoised) - psnr(tiny_sample.blurred, exact.denoised)
    assert abs(gap) < 0.1
