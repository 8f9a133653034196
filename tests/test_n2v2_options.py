"""N2V2-style options: blur-pool down-sampling, no top skip, median/mean blind-spot replacement."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch

from napari_deconoising import NetworkConfig, Predictor, TrainingConfig, train
from napari_deconoising.cli import build_parser
from napari_deconoising.cli.train import training_config
from napari_deconoising.errors import ConfigError
from napari_deconoising.model.bundle import load_model
from napari_deconoising.model.unet import BlurPool, UNet, build_unet
from napari_deconoising.training.masking import blind_spot_mask, z_extent

OPTIONS = list(itertools.product(("max", "blur"), (True, False)))


def _network(downsampling: str, top_skip: bool, dims: int = 2, seed: int = 0) -> UNet:
    torch.manual_seed(seed)
    config = NetworkConfig(depth=2, start_filters=4, downsampling=downsampling, top_skip=top_skip)
    pooling = [(1, 2, 2), (2, 2, 2)] if dims == 3 else None
    return UNet(config, spatial_dims=dims, pooling=pooling).eval()


@pytest.mark.parametrize(("downsampling", "top_skip"), OPTIONS)
def test_every_option_keeps_the_shape_in_2d_and_3d(downsampling, top_skip):
    flat = _network(downsampling, top_skip)(torch.randn(2, 1, 16, 24))
    assert flat.shape == (2, 1, 16, 24)
    volume = _network(downsampling, top_skip, dims=3)(torch.randn(1, 1, 4, 16, 8))
    assert volume.shape == (1, 1, 4, 16, 8)


@pytest.mark.parametrize("dims", [2, 3])
def test_the_options_change_the_computation_but_not_the_weights(dims):
    shape = (1, 1, 16, 16) if dims == 2 else (1, 1, 4, 16, 16)
    image = torch.randn(shape)
    outputs = {}
    reference = _network("max", True, dims).state_dict()
    for downsampling, top_skip in OPTIONS:
        network = _network(downsampling, top_skip, dims)
        network.load_state_dict(reference)  # same keys: the options add no weights
        with torch.no_grad():
            outputs[downsampling, top_skip] = network(image)
    for first, second in itertools.combinations(OPTIONS, 2):
        assert not torch.allclose(outputs[first], outputs[second]), (first, second)


def test_blur_pool_is_max_then_binomial_low_pass_then_stride_2():
    impulse = torch.zeros(1, 1, 1, 8)
    impulse[..., 3] = 1.0
    # max over (i, i+1): ones at 2 and 3; [1, 2, 1] / 4 at 0, 2, 4, 6 (reflected edges)
    expected = torch.tensor([0.0, 0.75, 0.25, 0.0])
    assert torch.allclose(BlurPool((1, 2))(impulse).flatten(), expected)
    flat = torch.full((1, 3, 8, 6, 10), 2.5)
    pooled = BlurPool((2, 2, 2))(flat)
    assert pooled.shape == (1, 3, 4, 3, 5) and torch.allclose(pooled, torch.tensor(2.5))


@pytest.mark.parametrize("shape", [(2, 3, 12, 10), (1, 2, 6, 8, 10)])
def test_blur_pool_matches_a_reflected_binomial_convolution(shape):
    x = torch.rand(shape, generator=torch.Generator().manual_seed(0))
    dims = len(shape) - 2
    expected = x
    for dim in range(2, 2 + dims):
        last = expected.narrow(dim, expected.shape[dim] - 1, 1)
        shifted = torch.cat([expected.narrow(dim, 1, expected.shape[dim] - 1), last], dim)
        peak = torch.maximum(expected, shifted).movedim(dim, -1)
        flat = peak.reshape(-1, 1, peak.shape[-1])
        padded = torch.nn.functional.pad(flat, (1, 1), mode="reflect")
        kernel = torch.tensor([[[0.25, 0.5, 0.25]]])
        pooled = torch.nn.functional.conv1d(padded, kernel, stride=2)
        expected = pooled.reshape(*peak.shape[:-1], -1).movedim(-1, dim)
    assert torch.allclose(BlurPool((2,) * dims)(x), expected, atol=1e-6)


def test_the_context_covers_the_blur_pool():
    blur = _network("blur", True)
    assert all(b > m for b, m in zip(blur.context, _network("max", True).context, strict=True))
    reach = blur.context[-1]
    image = torch.zeros(1, 1, 96, 96)
    changed = image.clone()
    changed[..., 48, 48 + reach + 1 :] = 1.0  # beyond the reach of pixel (48, 48)
    with torch.no_grad():
        assert blur(image)[..., 48, 48] == blur(changed)[..., 48, 48]


def test_architecture_round_trip_and_old_descriptions():
    network = _network("blur", False, dims=3)
    architecture = json.loads(json.dumps(network.architecture()))
    assert architecture["network"]["downsampling"] == "blur"
    assert architecture["network"]["top_skip"] is False
    copy = build_unet(architecture)
    copy.load_state_dict(network.state_dict())
    image = torch.randn(1, 1, 4, 16, 16)
    with torch.no_grad():
        assert torch.equal(copy(image), network(image))
    old = {"network": {"depth": 2, "start_filters": 4, "convs_per_level": 2}, "widths": [4, 8, 16]}
    rebuilt = build_unet(old)
    assert rebuilt.config.downsampling == "max" and rebuilt.config.top_skip is True
    reference = _network("max", True)
    rebuilt.load_state_dict(reference.state_dict())
    with torch.no_grad():
        assert torch.equal(rebuilt(image[:, :, 0]), reference(image[:, :, 0]))


@pytest.mark.parametrize(
    ("values", "message"),
    [({"downsampling": "average"}, "downsampling"), ({"top_skip": "no"}, "top_skip")],
)
def test_network_options_are_validated(values, message):
    with pytest.raises(ConfigError, match=message):
        NetworkConfig(**values)
    with pytest.raises(ConfigError, match="replacement"):
        TrainingConfig(replacement="nearest")


# -- replacement -----------------------------------------------------------------------------------
def _window_values(patch: np.ndarray, where: tuple[int, ...], extents: tuple[int, ...]):
    """The other pixels of the window around ``where``; offsets leaving the patch mirrored."""
    values = []
    ranges = [range(-(e // 2), e // 2 + 1) for e in extents]
    for offset in itertools.product(*ranges):
        if not any(offset):
            continue
        index = []
        for position, step, size in zip(where, offset, patch.shape, strict=True):
            moved = position + step
            index.append(position - step if not 0 <= moved < size else moved)
        values.append(patch[tuple(index)])
    return np.array(values)


@pytest.mark.parametrize("replacement", ["median", "mean"])
@pytest.mark.parametrize("shape", [(3, 1, 12, 11), (2, 1, 5, 9, 10)])
def test_median_and_mean_replacement_values(replacement, shape):
    patches = torch.rand(shape, generator=torch.Generator().manual_seed(1)) * 100
    generator = torch.Generator().manual_seed(2)
    manipulated, mask = blind_spot_mask(patches, 1 / 8, 5, generator, replacement)
    extents = (z_extent(5, shape[2]),) * (len(shape) - 4) + (5, 5)
    reduce = np.median if replacement == "median" else np.mean
    assert mask.sum() > 0
    for index in torch.nonzero(mask[:, 0]).tolist():
        patch = patches[index[0], 0].numpy()
        others = _window_values(patch, tuple(index[1:]), extents)
        assert len(others) == np.prod(extents) - 1
        got = float(manipulated[index[0], 0][tuple(index[1:])])
        assert got == pytest.approx(float(reduce(others)), rel=1e-6)
    unmasked = mask == 0
    assert torch.equal(manipulated[unmasked], patches[unmasked])


def test_replacement_on_a_known_patch():
    patch = torch.zeros(1, 1, 5, 5)
    patch[0, 0, 1:4, 1:4] = torch.tensor([[1.0, 2, 3], [4, 1000, 6], [7, 8, 20]])
    # one masked pixel, at the centre (mask fraction 1/25 -> one box of 5 pixels)
    generator = torch.Generator().manual_seed(0)
    for replacement, expected in [("median", 5.0), ("mean", 51 / 8)]:
        manipulated, _ = _mask_centre(patch, replacement, generator)
        assert float(manipulated[0, 0, 2, 2]) == pytest.approx(expected)


def _mask_centre(patch, replacement, generator):
    """Mask with a 3-pixel window until the drawn pixel is the centre (positions are random)."""
    for _ in range(500):
        manipulated, mask = blind_spot_mask(patch, 1 / 25, 3, generator, replacement)
        if mask[0, 0, 2, 2] == 1:
            return manipulated, mask
    raise AssertionError("the centre was never drawn")


@pytest.mark.parametrize("replacement", ["random", "median", "mean"])
def test_a_masked_pixel_never_gets_its_own_value(replacement):
    """Positions do not depend on the values: give the masked pixels huge values and mask again
    with the same seed; a masked pixel with no other masked pixel in its window gets the same
    value as before, far below its own."""
    patches = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    first, mask = blind_spot_mask(patches, 1 / 16, 3, torch.Generator().manual_seed(5), replacement)
    marked = patches + 1e9 * mask
    second, again = blind_spot_mask(
        marked, 1 / 16, 3, torch.Generator().manual_seed(5), replacement
    )
    assert torch.equal(mask, again)
    masked_near = torch.nn.functional.conv2d(mask, torch.ones(1, 1, 3, 3), padding=1)
    alone = (mask == 1) & (masked_near == 1)
    assert alone.sum() > 10
    assert torch.equal(second[alone], first[alone])
    assert torch.all(second[alone] <= 1)


def test_random_replacement_takes_a_pixel_of_the_window():
    patches = torch.arange(16 * 16, dtype=torch.float32).reshape(1, 1, 16, 16)
    manipulated, mask = blind_spot_mask(patches, 1 / 16, 5, torch.Generator().manual_seed(4))
    for _, _, row, col in torch.nonzero(mask).tolist():
        value = int(manipulated[0, 0, row, col])
        source_row, source_col = divmod(value, 16)
        assert max(abs(source_row - row), abs(source_col - col)) <= 2
        assert (source_row, source_col) != (row, col)


def test_unknown_replacement_is_refused():
    with pytest.raises(ValueError, match="replacement"):
        blind_spot_mask(torch.zeros(1, 1, 8, 8), replacement="nearest")


# -- command line and a tiny training --------------------------------------------------------------
def test_cli_flags_reach_the_config():
    base = ["train", "x.tif", "--out", "m.pt", "--psf-sigma", "2"]
    args = build_parser().parse_args(
        [*base, "--downsampling", "blur", "--no-top-skip", "--replacement", "median"]
    )
    config = training_config(args, "2d")
    assert config.network.downsampling == "blur" and config.network.top_skip is False
    assert config.replacement == "median"
    volume = training_config(args, "3d")
    assert volume.network.downsampling == "blur" and volume.network.start_filters == 16
    default = training_config(build_parser().parse_args(base), "2d")
    assert default.network == NetworkConfig() and default.replacement == "random"
    for wrong in (["--downsampling", "avg"], ["--replacement", "nearest"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args([*base, *wrong])


def test_tiny_training_with_the_options_saves_and_reloads(tiny_sample, tmp_path):
    config = TrainingConfig(
        steps=3,
        patch_size=32,
        batch_size=2,
        network=NetworkConfig(depth=2, start_filters=4, downsampling="blur", top_skip=False),
        replacement="median",
        validation_interval=3,
        device="cpu",
    )
    model = train(tiny_sample.noisy, tiny_sample.psf, config)
    assert model.network.config.downsampling == "blur" and not model.network.top_skip
    path = model.save(tmp_path / "n2v2.pt")
    loaded = load_model(path)
    assert loaded.network.config == model.network.config
    assert loaded.training_config["replacement"] == "median"
    first = Predictor(model).predict(tiny_sample.noisy[0])
    second = Predictor(loaded).predict(tiny_sample.noisy[0])
    assert np.isfinite(first.deconvolved).all()
    np.testing.assert_array_equal(first.deconvolved, second.deconvolved)


def test_pruning_keeps_the_options():
    from napari_deconoising.compression import prune_unet

    network = _network("blur", False)
    pruned = prune_unet(network, [2, 4, 8])
    assert pruned.widths == [2, 4, 8]
    assert pruned.config.downsampling == "blur" and pruned.config.top_skip is False
    shape = (1, 1, 16, 16)
    with torch.no_grad():
        assert pruned(torch.randn(shape)).shape == shape


def test_the_training_form_offers_the_options(qtbot):
    from napari_deconoising.widgets.training_form import TrainingSettings

    form = TrainingSettings()
    assert form.config().network == NetworkConfig() and form.config().replacement == "random"
    assert {form.downsampling, form.top_skip, form.replacement} <= set(form.advanced)
    form.set_values(downsampling="blur", top_skip=False, replacement="mean")
    config = form.config()
    assert config.network.downsampling == "blur" and config.network.top_skip is False
    assert config.replacement == "mean"


def test_continuing_shows_the_models_options(qtbot):
    from types import SimpleNamespace

    from napari_deconoising.widgets.training_form import TrainingSettings

    form = TrainingSettings()
    model = SimpleNamespace(network=_network("blur", False), output_scale=10.0, two_stage=False)
    form.follow_model(model, continuing=True)
    assert form.downsampling.value == "blur" and form.top_skip.value is False
    assert not form.downsampling.enabled and not form.top_skip.enabled
    form.follow_model(None, continuing=False)
    assert form.downsampling.value == "max" and form.top_skip.value is True


def test_a_model_with_the_options_exports_to_onnx(tmp_path):
    pytest.importorskip("onnxruntime")
    from napari_deconoising import DecoNoisingModel, Normalisation, gaussian_psf
    from napari_deconoising.export.onnx import export_onnx

    network = _network("blur", False)
    with torch.no_grad():  # weights of a trained size: an untrained output spans too little
        for parameter in network.parameters():
            parameter.mul_(3)
    model = DecoNoisingModel(network, gaussian_psf(1.5), Normalisation(110.0, 6.0, 100.0))
    exported = export_onnx(model, tmp_path / "n2v2.onnx")
    assert exported.path.is_file() and exported.max_relative_error < 1e-4


def test_compressing_a_3d_blur_pool_model_is_refused_before_any_work():
    from napari_deconoising.compression import Compressor
    from napari_deconoising.errors import DeconoisingError
    from napari_deconoising.model.bundle import DecoNoisingModel, Normalisation
    from napari_deconoising.model.unet import UNet

    network = UNet(NetworkConfig(depth=1, start_filters=4, downsampling="blur"), spatial_dims=3)
    model = DecoNoisingModel(
        network=network,
        psf=np.ones((3, 3, 3), np.float32) / 27,
        normalisation=Normalisation(0.0, 1.0, 0.0),
    )
    volumes = np.zeros((1, 8, 16, 16), np.float32)
    with pytest.raises(DeconoisingError, match="3D models with blur-pool down-sampling"):
        Compressor(model, volumes)


def test_info_names_the_n2v2_options_and_the_bioimageio_text_follows():
    from napari_deconoising.cli.info import describe
    from napari_deconoising.export.bioimageio.describe import unet_layout
    from napari_deconoising.model.bundle import DecoNoisingModel, Normalisation

    network = UNet(NetworkConfig(depth=2, start_filters=8, downsampling="blur", top_skip=False))
    model = DecoNoisingModel(
        network=network, psf=np.ones((3, 3), np.float32) / 9, normalisation=Normalisation(0, 1, 0)
    )
    info = {**model.info(), "file_bytes": 1000}
    assert info["downsampling"] == "blur" and info["top_skip"] is False
    line = describe("m.pt", info)[2]
    assert line.endswith("blur-pool down-sampling, no full-resolution skip")
    assert "none at full resolution" in unet_layout(network.config)
    plain = DecoNoisingModel(
        network=UNet(NetworkConfig(depth=2, start_filters=8)),
        psf=np.ones((3, 3), np.float32) / 9,
        normalisation=Normalisation(0, 1, 0),
    )
    assert describe("m.pt", {**plain.info(), "file_bytes": 1000})[2].endswith("parameters")
