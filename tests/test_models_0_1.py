"""Model files written by version 0.1 (before the package was split into sub-packages) still load
and predict exactly what 0.1 predicted (files and expected outputs made by
``tests/data/models-0.1/make_models.py``)."""

from pathlib import Path

import numpy as np
import pytest

import napari_deconoising as dn

MODELS_0_1 = Path(__file__).parent / "data" / "models-0.1"
PREDICTION = dn.PredictionConfig(tile=64, overlap=16, tile_z=16, overlap_z=4)
CASES = {"model-2d": "YX", "model-channels": "CYX", "model-3d": "ZYX"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_model_file_of_0_1_predicts_what_0_1_predicted(name: str) -> None:
    model = dn.load_model(MODELS_0_1 / f"{name}.pt")
    expected = np.load(MODELS_0_1 / f"{name}.npz")

    result = dn.predict(model, expected["image"], PREDICTION, axes=CASES[name])

    np.testing.assert_array_equal(result.denoised, expected["denoised"])
    np.testing.assert_array_equal(result.deconvolved, expected["deconvolved"])


def test_the_0_1_files_hold_the_kinds_they_claim() -> None:
    assert isinstance(dn.load_model(MODELS_0_1 / "model-channels.pt"), dn.ChannelModels)
    assert dn.load_model(MODELS_0_1 / "model-3d.pt").spatial_dims == 3
    assert dn.load_model(MODELS_0_1 / "model-2d.pt").spatial_dims == 2
