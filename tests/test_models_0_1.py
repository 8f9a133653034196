"""Model files written by version 0.1 (before the package was split into sub-packages) still load
and predict what 0.1 predicted, and training with the same settings and seed gives the same weights
(files and expected outputs made by ``tests/data/models-0.1/make_models.py``). On the machine that
made them the results are bit-identical; the tolerance only absorbs the last bits that another CPU
class (AVX2 vs AVX-512 kernels) may round differently."""

from pathlib import Path

import numpy as np
import pytest

import napari_deconoising as dn

MODELS_0_1 = Path(__file__).parent / "data" / "models-0.1"
# float32, as 0.1 computed the expected outputs (native-bfloat16 CPUs default to bfloat16)
PREDICTION = dn.PredictionConfig(tile=64, overlap=16, tile_z=16, overlap_z=4, precision="float32")
CASES = {"model-2d": "YX", "model-channels": "CYX", "model-3d": "ZYX"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_model_file_of_0_1_predicts_what_0_1_predicted(name: str) -> None:
    model = dn.load_model(MODELS_0_1 / f"{name}.pt")
    expected = np.load(MODELS_0_1 / f"{name}.npz")

    result = dn.predict(model, expected["image"], PREDICTION, axes=CASES[name])

    for output in ("denoised", "deconvolved"):
        scale = float(np.ptp(expected[output]))
        np.testing.assert_allclose(getattr(result, output), expected[output], atol=1e-5 * scale)


def test_training_with_the_settings_of_0_1_gives_the_weights_of_0_1() -> None:
    """In float32, which every CPU class computes alike (0.1's model-2d.pt trained in bfloat16
    on a CPU with native bfloat16, which an AVX2 CPU only emulates, with other roundings)."""
    rng = np.random.default_rng(0)
    frames = rng.poisson(40, (2, 48, 48)).astype(np.float32)
    config = dn.TrainingConfig(
        steps=4,
        batch_size=2,
        patch_size=32,
        validation_fraction=0,
        seed=1,
        network=dn.NetworkConfig(depth=1, start_filters=4),
        precision="float32",
    )

    trained = dn.train(frames, dn.gaussian_psf(1.5), config, axes="SYX")

    saved = np.load(MODELS_0_1 / "model-2d-float32-weights.npz")
    assert set(saved.files) == set(trained.network.state_dict())
    for name, weights in trained.network.state_dict().items():
        np.testing.assert_allclose(weights.numpy(), saved[name], rtol=1e-4, atol=1e-6)


def test_the_0_1_files_hold_the_kinds_they_claim() -> None:
    assert isinstance(dn.load_model(MODELS_0_1 / "model-channels.pt"), dn.ChannelModels)
    assert dn.load_model(MODELS_0_1 / "model-3d.pt").spatial_dims == 3
    assert dn.load_model(MODELS_0_1 / "model-2d.pt").spatial_dims == 2
