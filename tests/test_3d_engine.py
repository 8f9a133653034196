"""3D engine pieces: the 3D U-Net and its pooling plan, 3D masking and patches, 2D/3D
convolution (direct and FFT) against scipy, and the 3D total variation."""

import numpy as np
import pytest
import torch
from scipy import ndimage, signal

from napari_deconoising.config.prediction import PredictionConfig
from napari_deconoising.config.training import NetworkConfig, TrainingConfig
from napari_deconoising.errors import ConfigError
from napari_deconoising.model.convolution import convolve, fft_is_cheaper, psf_tensor
from napari_deconoising.model.unet import UNet, build_unet, pooling_plan
from napari_deconoising.training.losses import total_variation
from napari_deconoising.training.masking import blind_spot_mask, box_size, z_extent
from napari_deconoising.training.sampling import PatchSampler


def test_pooling_plan_pools_z_only_with_enough_planes():
    assert pooling_plan(3, 32) == [(2, 2, 2), (2, 2, 2), (2, 2, 2)]
    # 16 -> 8 -> 4: the third level has fewer than 8 planes left
    assert pooling_plan(3, 16) == [(2, 2, 2), (2, 2, 2), (1, 2, 2)]
    assert pooling_plan(2, 6) == [(1, 2, 2), (1, 2, 2)]
    assert pooling_plan(2, 13) == [(1, 2, 2), (1, 2, 2)]  # an odd count cannot halve


def test_pooling_plan_waits_until_xy_pooling_makes_the_voxel_less_elongated():
    # 0.25 µm steps, 0.1 µm pixels: 2.5x elongated, then 1.25x after one XY pooling
    assert pooling_plan(2, 16, (0.25, 0.1, 0.1)) == [(1, 2, 2), (2, 2, 2)]
    # 0.5 / 0.1 = 5 -> 2.5 -> 1.25: Z is pooled from the third level on
    assert pooling_plan(3, 32, (0.5, 0.1, 0.1)) == [(1, 2, 2), (1, 2, 2), (2, 2, 2)]


def test_3d_unet_keeps_shape_and_rebuilds_from_its_architecture():
    torch.manual_seed(0)
    plan = pooling_plan(2, 8, (0.3, 0.1, 0.1))
    network = UNet(NetworkConfig(depth=2, start_filters=4), spatial_dims=3, pooling=plan).eval()
    assert network.size_multiples == (2, 4, 4)
    volume = torch.randn(2, 1, 6, 12, 16)
    with torch.no_grad():
        out = network(volume)
    assert out.shape == volume.shape
    architecture = network.architecture()
    assert architecture["spatial_dims"] == 3 and architecture["pooling"] == [[1, 2, 2], [2, 2, 2]]
    copy = build_unet(architecture)
    copy.load_state_dict(network.state_dict())
    with torch.no_grad():
        assert torch.equal(copy.eval()(volume), out)


def test_2d_unet_architecture_is_unchanged():
    network = UNet(NetworkConfig(depth=2, start_filters=4))
    assert set(network.architecture()) == {"network", "widths"}
    assert build_unet(network.architecture()).spatial_dims == 2
    assert network.size_multiple == 4 and network.size_multiples == (4, 4)


def test_3d_masking_never_picks_the_pixel_itself():
    generator = torch.Generator().manual_seed(0)
    # distinct values everywhere: a masked pixel equal to its original took its own value
    patches = torch.arange(4 * 5 * 12 * 12, dtype=torch.float32).reshape(4, 1, 5, 12, 12)
    for _ in range(20):
        manipulated, mask = blind_spot_mask(patches, 1 / 8, 5, generator)
        masked = mask.bool()
        assert masked.any()
        assert not (manipulated[masked] == patches[masked]).any()
        assert torch.equal(manipulated[~masked], patches[~masked])


def test_3d_masking_replacements_stay_in_the_window():
    generator = torch.Generator().manual_seed(1)
    depth, side = 6, 16
    z, y, x = torch.meshgrid(
        torch.arange(depth), torch.arange(side), torch.arange(side), indexing="ij"
    )
    codes = (z * 10_000 + y * 100 + x).float()[None, None].repeat(3, 1, 1, 1, 1)
    manipulated, mask = blind_spot_mask(codes, 1 / 27, 5, generator)
    masked = mask.bool()
    source, target = manipulated[masked].long(), codes[masked].long()
    assert ((source // 10_000 - target // 10_000).abs() <= z_extent(5, depth) // 2).all()
    assert ((source // 100 % 100 - target // 100 % 100).abs() <= 2).all()
    assert ((source % 100 - target % 100).abs() <= 2).all()
    box = box_size(1 / 27, 3)
    assert box == 3
    boxes = np.prod([-(-n // box) for n in (depth, side, side)])
    assert int(masked.sum()) == 3 * boxes  # one pixel per box


def test_3d_patches_have_the_configured_shape_and_flip_z():
    volume = torch.arange(8 * 10 * 10, dtype=torch.float32).reshape(8, 10, 10)
    sampler = PatchSampler([volume], (4, 6), torch.Generator().manual_seed(0), augment=True)
    patches = sampler.sample(64)
    assert patches.shape == (64, 1, 4, 6, 6)
    # planes stay planes (rotations and flips in XY only); some patches run upwards in Z
    firsts = patches[:, 0, :, 0, 0]
    steps = (firsts[:, 1:] - firsts[:, :-1]) / 100
    assert torch.all(steps.abs() == 1)
    assert (steps[:, 0] < 0).any() and (steps[:, 0] > 0).any()


@pytest.mark.parametrize("method", ["direct", "fft"])
@pytest.mark.parametrize(
    "shape, kernel_shape",
    [((20, 24), (5, 5)), ((20, 24), (7, 3)), ((9, 20, 22), (5, 7, 7)), ((9, 20, 22), (3, 5, 3))],
)
def test_convolution_matches_scipy(method, shape, kernel_shape):
    rng = np.random.default_rng(0)
    image = rng.random(shape)
    psf = rng.random(kernel_shape)
    psf /= psf.sum()
    result = convolve(torch.from_numpy(image[None, None]).float(), psf_tensor(psf), method)
    # scipy's 'mirror' is torch's 'reflect' (the edge pixel is not repeated)
    expected = ndimage.convolve(image, psf, mode="mirror")
    np.testing.assert_allclose(result[0, 0].numpy(), expected, atol=1e-5)
    padded = np.pad(image, [(k // 2, k // 2) for k in kernel_shape], mode="reflect")
    np.testing.assert_allclose(
        result[0, 0].numpy(), signal.fftconvolve(padded, psf, mode="valid"), atol=1e-5
    )


def test_fft_and_direct_agree_with_replicated_edges_for_a_kernel_larger_than_the_image():
    rng = np.random.default_rng(1)
    image = torch.from_numpy(rng.random((2, 1, 4, 10, 10))).float()
    psf = rng.random((9, 5, 5))
    kernel = psf_tensor(psf / psf.sum())
    direct, fft = convolve(image, kernel, "direct"), convolve(image, kernel, "fft")
    assert direct.shape == image.shape
    torch.testing.assert_close(fft, direct, atol=1e-5, rtol=0)
    expected = ndimage.convolve(image[0, 0].double().numpy(), psf / psf.sum(), mode="nearest")
    np.testing.assert_allclose(direct[0, 0].numpy(), expected, atol=1e-5)


def test_fft_path_carries_gradients_like_the_direct_path():
    rng = np.random.default_rng(2)
    kernel = psf_tensor(rng.random((5, 5, 5)) / 125)
    image = torch.from_numpy(rng.random((1, 1, 8, 12, 12))).float()
    grads = []
    for method in ("direct", "fft"):
        leaf = image.clone().requires_grad_(True)
        (convolve(leaf, kernel, method) ** 2).sum().backward()
        grads.append(leaf.grad)
    torch.testing.assert_close(grads[0], grads[1], atol=1e-4, rtol=1e-4)


def test_auto_convolution_picks_fft_for_large_kernels_only():
    assert not fft_is_cheaper((64, 64), (9, 9))  # typical 2D PSFs stay direct (and bitwise)
    assert fft_is_cheaper((32, 256, 256), (31, 21, 21))  # a widefield 3D PSF
    assert fft_is_cheaper((256, 256), (41, 41))


def test_total_variation_in_3d():
    ramp = torch.arange(6, dtype=torch.float32).reshape(6, 1, 1).expand(6, 5, 5)[None, None]
    tv = total_variation(ramp * 2, eps=0.0)
    assert tv.shape == (1, 1, 4, 3, 3)
    torch.testing.assert_close(tv, torch.full_like(tv, 2.0))


def test_3d_settings_are_validated():
    assert TrainingConfig().mode == "auto" and TrainingConfig().patch_size_z == 16
    with pytest.raises(ConfigError, match="mode"):
        TrainingConfig(mode="4d")
    with pytest.raises(ConfigError, match="patch_size_z"):
        TrainingConfig(patch_size_z=2)
    with pytest.raises(ConfigError, match="overlap_z"):
        PredictionConfig(tile_z=16, overlap_z=8)
    three_d = TrainingConfig.for_mode("3d", steps=5)
    assert three_d.mode == "3d" and three_d.steps == 5
    assert three_d.network.start_filters < TrainingConfig().network.start_filters
    assert TrainingConfig.for_mode("2d") == TrainingConfig(mode="2d")
