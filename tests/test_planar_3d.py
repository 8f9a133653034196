"""2.5D networks (``NetworkConfig.z_context``): the first layer mixes a few planes, the rest of
the U-Net works plane by plane; the model is a 3D model for everything around it."""

import numpy as np
import pytest
import torch

from napari_deconoising import (
    ConfigError,
    NetworkConfig,
    Trainer,
    TrainingStep,
    gaussian_psf,
    load_model,
    predict,
    psnr,
)
from napari_deconoising.cli import main
from napari_deconoising.compression import Compressor, preset_config
from napari_deconoising.export.bioimageio import export_bioimageio
from napari_deconoising.export.onnx import export_onnx
from napari_deconoising.io.axes import AxesImage
from napari_deconoising.model.devices import network_input, place_network
from napari_deconoising.model.unet import UNet
from test_3d_training import (
    SPACING,
    blurred_and_noisy,
    gaussian_psf_3d,
    noisy_volume,
    tiny_config,
)

PLANAR = {"depth": 2, "start_filters": 8, "z_context": 3}


def planar_unet(z_context: int = 5) -> UNet:
    torch.manual_seed(0)
    config = NetworkConfig(depth=2, start_filters=8, z_context=z_context)
    return UNet(config, spatial_dims=3, pooling=[(1, 2, 2)] * 2).eval()


def test_each_output_plane_sees_only_z_context_planes():
    network = place_network(planar_unet(5), torch.device("cpu"))
    volume = torch.randn(2, 1, 8, 32, 32)
    changed = volume.clone()
    changed[:, :, 0] += 10
    with torch.no_grad():
        before, after = network(network_input(volume)), network(network_input(changed))
    assert before.shape == volume.shape
    difference = (after - before).abs().amax(dim=(0, 1, 3, 4))
    assert difference[:3].min() > 0  # planes 0-2 see plane 0 (two planes either side)
    assert difference[3:].max() == 0  # the others do not
    assert network.context[0] == 2 and network.size_multiples == (1, 4, 4)
    assert isinstance(network.down[0][0], torch.nn.Conv3d)
    assert isinstance(network.up[0][0], torch.nn.Conv2d)  # the body works plane by plane


def test_z_context_is_refused_where_it_cannot_work():
    with pytest.raises(ConfigError, match="z_context must be 0 or odd"):
        NetworkConfig(z_context=4)
    with pytest.raises(ValueError, match="never pools Z"):
        UNet(NetworkConfig(z_context=3), spatial_dims=3, pooling=[(2, 2, 2)] * 2)
    with pytest.raises(ValueError, match="3D network"):
        UNet(NetworkConfig(z_context=3), spatial_dims=2)
    frames = np.random.default_rng(0).normal(100, 5, (4, 32, 32)).astype(np.float32)
    with pytest.raises(ConfigError, match="needs 3D training"):
        Trainer(frames, gaussian_psf(1.0), tiny_config(mode="2d", network=PLANAR))


@pytest.fixture(scope="module")
def planar_model(tmp_path_factory):
    blurred, noisy = blurred_and_noisy((16, 48, 48))
    volume = AxesImage(noisy, "ZYX", SPACING)
    path = tmp_path_factory.mktemp("planar") / "planar.pt"
    config = tiny_config(steps=200, patch_size=32, batch_size=4, network=PLANAR, design="two-stage")
    trainer = Trainer(volume, gaussian_psf_3d(), config, path)
    losses = [e.train_loss for e in trainer.run() if isinstance(e, TrainingStep)]
    return trainer, losses, path, volume, blurred


def test_a_planar_model_trains_never_pools_z_and_denoises(planar_model):
    trainer, losses, path, volume, blurred = planar_model
    assert trainer.pooling == [(1, 2, 2), (1, 2, 2)]
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:5])
    model = load_model(path)
    assert model.network.config.z_context == 3 and model.info()["z_context"] == 3
    result = predict(model, volume)
    assert result.denoised.shape == volume.shape
    gain = psnr(blurred, result.denoised) - psnr(blurred, volume.data)
    assert gain > 2, f"denoising gained {gain:.2f} dB"  # (200 steps: +4.4 dB measured)


def test_a_planar_model_exports_compresses_and_is_described(planar_model, tmp_path, capsys):
    trainer, _, path, volume, _ = planar_model
    exported = export_onnx(trainer.model, tmp_path / "planar.onnx")
    assert exported.max_relative_error < 1e-4
    package = export_bioimageio(trainer.model, tmp_path / "planar.zip", test=False, rl_iterations=3)
    assert load_model(package).network.config.z_context == 3
    config = preset_config("balanced").replace(
        steps=3, timing_repeats=1, timing_size=64, patch_size=32
    )
    volumes = [noisy_volume((8, 40, 40), seed) for seed in range(3)]
    compressor = Compressor(trainer.model, volumes, config=config, out_path=tmp_path / "s.pt")
    report = list(compressor.run())[-1].report
    assert report.params_after < report.params_before
    small = load_model(tmp_path / "s.pt")
    assert small.network.config.z_context == 3
    assert predict(small, volume).denoised.shape == volume.shape
    assert main(["info", str(path)]) == 0
    assert "2.5D: the first layer sees 3 planes, then plane by plane" in capsys.readouterr().out


def test_a_planar_model_continues_as_a_planar_model(planar_model):
    trainer, _, path, volume, _ = planar_model
    more = Trainer(volume, None, tiny_config(steps=3, patch_size=32), init=path)
    assert more.pooling == trainer.pooling == [(1, 2, 2), (1, 2, 2)]
    events = list(more.run())
    assert events[-1].steps == 200 + 3
    assert more.model.network.config.z_context == 3
