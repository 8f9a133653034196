import numpy as np
import pytest
import torch
from scipy import ndimage

from napari_deconoising import NetworkConfig, gaussian_psf
from napari_deconoising.model.convolution import convolve, psf_tensor
from napari_deconoising.model.unet import UNet, build_unet, count_parameters
from napari_deconoising.training.losses import deconoising_loss, total_variation


def test_convolution_matches_scipy_with_reflection():
    rng = np.random.default_rng(0)
    image = rng.normal(size=(40, 50)).astype(np.float32)
    psf = np.zeros((5, 5), np.float32)
    psf[1, 2], psf[2, 2], psf[3, 3] = 0.2, 0.5, 0.3  # asymmetric: checks the flip
    ours = convolve(torch.from_numpy(image)[None, None], psf_tensor(psf))[0, 0].numpy()
    theirs = ndimage.convolve(image, psf, mode="mirror")
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_loss_counts_only_masked_pixels():
    target = torch.zeros(1, 1, 16, 16)
    deconvolved = torch.zeros(1, 1, 16, 16)
    deconvolved[0, 0, 0, 0] = 100.0  # an unmasked error must not count
    mask = torch.zeros_like(target)
    mask[0, 0, 8, 8] = 1
    terms = deconoising_loss(deconvolved, target, mask, None, zero_level=-1.0)
    assert float(terms.masked_error) == 0.0


def test_positivity_penalises_values_below_the_offset_only():
    mask = torch.ones(1, 1, 8, 8)
    above = torch.full((1, 1, 8, 8), 0.5)
    below = torch.full((1, 1, 8, 8), -2.0)
    kernel = psf_tensor(gaussian_psf(1.0))
    assert float(deconoising_loss(above, above, mask, kernel, 0.0).positivity) == 0.0
    assert float(deconoising_loss(below, below, mask, kernel, -1.0).positivity) == pytest.approx(
        1.0
    )


def test_total_variation_of_a_ramp():
    ramp = torch.arange(10, dtype=torch.float32).repeat(10, 1)[None, None]
    assert float(total_variation(ramp).mean()) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_unet_keeps_the_shape_and_rebuilds_from_json(depth):
    net = UNet(NetworkConfig(depth=depth, start_filters=8))
    x = torch.randn(2, 1, 32, 48)
    assert net(x).shape == x.shape
    clone = build_unet(net.architecture())
    clone.load_state_dict(net.state_dict())
    assert torch.allclose(clone(x), net(x))


def test_default_network_size():
    assert count_parameters(UNet(NetworkConfig(depth=2, start_filters=64))) == pytest.approx(
        1.7e6, rel=0.05
    )  # the 2020 network (3 levels, 64 filters)


@pytest.mark.parametrize("method", ["direct", "fft"])
def test_psf_coverage_is_the_share_of_the_psf_inside_the_patch(method, monkeypatch):
    from napari_deconoising.model import convolution

    monkeypatch.setattr(convolution, "fft_is_cheaper", lambda *_: method == "fft")
    psf = np.zeros((7, 7), np.float32)
    psf[3, 2:5] = [0.25, 0.5, 0.25]  # a horizontal 1-2-1 line
    coverage = convolution.psf_coverage((6, 10), psf_tensor(psf))[0, 0].numpy()
    assert coverage.shape == (6, 10)
    np.testing.assert_allclose(coverage[:, 1:-1], 1.0, atol=1e-6)
    np.testing.assert_allclose(coverage[:, 0], 0.75, atol=1e-6)
    np.testing.assert_allclose(coverage[:, -1], 0.75, atol=1e-6)
    gaussian = gaussian_psf(2.0, 15)
    corner = convolution.psf_coverage((40, 40), psf_tensor(gaussian))[0, 0, 0, 0]
    # the corner pixel sees the PSF's quadrant from its centre on (about 0.36 of it)
    assert float(corner) == pytest.approx(gaussian[7:, 7:].sum(), abs=1e-5)


def test_loss_weights_drop_blind_spots():
    target = torch.zeros(1, 1, 4, 4)
    deconvolved = torch.ones(1, 1, 4, 4)
    mask = torch.ones(1, 1, 4, 4)
    weights = torch.zeros(1, 1, 4, 4)
    weights[..., 1:3, 1:3] = 1
    deconvolved[..., 0, 0] = 5.0  # an error outside the weighted pixels does not count
    terms = deconoising_loss(deconvolved, target, mask, None, -10.0, weights=weights)
    assert float(terms.masked_error) == pytest.approx(1.0)
