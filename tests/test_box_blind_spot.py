"""A box blind spot for noise correlated alike along X and Y in every part of the image
(resampled data): the mask, its automatic choice for processed data, and what it gains."""

import numpy as np
import pytest
import tifffile
import torch
from scipy import ndimage

from napari_deconoising import (
    NetworkConfig,
    Predictor,
    Trainer,
    TrainingConfig,
    load_model,
    make_sample,
)
from napari_deconoising.cli import main
from napari_deconoising.data.noise import measure_noise
from napari_deconoising.evaluation.metrics import psnr
from napari_deconoising.export.bioimageio.readme import noise_assumption
from napari_deconoising.training import blind_spot as spots
from napari_deconoising.training.masking import blind_spot_mask, masked_offsets

#: A tiny network trained on 32-px patches, without validation.
TINY = dict(patch_size=32, batch_size=4, validation_fraction=0, device="cpu")
TINY["network"] = NetworkConfig(depth=2, start_filters=8)


def resampled(frames=2, side=96, noise=12.0, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """(noisy, clean): a smooth scene with white noise, both enlarged 1.6x by linear
    interpolation (as a rescaled export is), so the noise is correlated along X and Y alike."""
    rng = np.random.default_rng(seed)
    small = round(side / 1.6)
    smooth = ndimage.gaussian_filter(rng.random((small, small)), 2)
    scene = 30 + 180 * (smooth - smooth.min()) / (smooth.max() - smooth.min())
    noisy = scene + rng.normal(0, noise, (frames, small, small))
    zoom = (1, side / small, side / small)
    enlarged = ndimage.zoom(noisy, zoom, order=1, mode="nearest")
    clean = ndimage.zoom(np.broadcast_to(scene, noisy.shape), zoom, order=1, mode="nearest")
    return enlarged, clean


def as_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def chebyshev(first: torch.Tensor, second: torch.Tensor, width: int) -> torch.Tensor:
    """Chebyshev distance between flat pixel indices of a square of ``width``."""
    rows = (first // width - second // width).abs()
    cols = (first % width - second % width).abs()
    return torch.maximum(rows, cols)


@pytest.mark.parametrize("span", [1, 2])
def test_a_box_blind_spot_replaces_the_square_from_outside_it(span):
    width = 32
    patches = torch.arange(8 * width * width, dtype=torch.float32).reshape(8, 1, width, width)
    generator = torch.Generator().manual_seed(0)
    # span 2 makes a 5 x 5 box: the 5-pixel window is widened to draw from outside it
    manipulated, mask = blind_spot_mask(patches, 1 / 36, 5, generator, span=(span, span), box=True)
    assert torch.all(mask.sum(dim=(1, 2, 3)) == 36)  # one per 6 x 6 cell, as without a box
    batch, _, rows, cols = torch.nonzero(mask, as_tuple=True)
    centre = rows * width + cols
    # boxes of neighbouring masked pixels may overlap (the later replacement wins there):
    # check the masked pixels whose box is their own, away from the patch's edges
    apart = chebyshev(centre[:, None], centre[None, :], width) > 2 * span
    apart |= batch[:, None] != batch[None, :]
    apart.fill_diagonal_(True)
    inside = (rows >= span) & (rows < width - span) & (cols >= span) & (cols < width - span)
    isolated = inside & apart.all(dim=1)
    assert isolated.sum() >= 10
    batch, rows, cols, centre = batch[isolated], rows[isolated], cols[isolated], centre[isolated]
    for dy, dx in [(0, 0), *masked_offsets((span, span), box=True)]:
        values = manipulated[batch, 0, rows + dy, cols + dx].long() % (width * width)
        assert torch.all(chebyshev(values, centre, width) > span)  # from outside the box
    batch, _, rows, cols = torch.nonzero(mask, as_tuple=True)
    box = torch.zeros_like(mask, dtype=torch.bool)
    for dy in range(-span, span + 1):
        for dx in range(-span, span + 1):
            box[batch, 0, (rows + dy).clamp(0, width - 1), (cols + dx).clamp(0, width - 1)] = True
    assert torch.equal(manipulated[~box], patches[~box])  # nothing outside the boxes changes


def test_the_box_and_its_description():
    assert len(masked_offsets((1, 1), box=True)) == 8
    assert len(masked_offsets((0, 2, 2), box=True)) == 24  # 3D: the box lies in the plane
    assert len(masked_offsets((1, 1))) == 4  # lines: the cross
    assert spots.mask_span(TrainingConfig(blind_spot="box", blind_spot_span=2), 2) == (2, 2)
    # quarter turns stay: a box spans Y and X alike
    assert spots.keeps_axes(spots.mask_span(TrainingConfig(blind_spot="box"), 3))
    assert spots.describe_blind_spot("box", 2) == "a box of 5 x 5 pixels"
    assert spots.checked_blind_spot("box", 3) == ("box", 3)


def test_resampled_8bit_data_gets_a_box_and_raw_data_gets_the_advice():
    noisy, _ = resampled()
    report = measure_noise(as_uint8(noisy))
    assert report.correlated_everywhere() and report.box_chosen()
    assert report.box_span() >= 1
    auto = spots.choose_blind_spot(TrainingConfig(), [report])
    assert auto.config.blind_spot == "box"
    assert auto.config.blind_spot_span == report.box_span()
    side = 2 * report.box_span() + 1
    assert f"using a box blind spot of {side} x {side} pixels" in auto.notes[0]
    # the same noise in raw (float) data: the note advises the box, auto keeps one pixel
    raw = measure_noise(noisy.astype(np.float32))
    assert raw.correlated_everywhere() and not raw.box_chosen()
    kept = spots.choose_blind_spot(TrainingConfig(), [raw])
    assert kept.config.blind_spot == "pixel"
    assert "blind spot box" in kept.notes[0] and "stays one pixel" in kept.notes[0]
    asked = spots.choose_blind_spot(TrainingConfig(blind_spot="box", blind_spot_span=2), [raw])
    assert (asked.config.blind_spot, asked.config.blind_spot_span) == ("box", 2)
    assert "a box of 5 x 5 pixels (as asked)" in asked.notes[-1]


def test_sharp_structures_are_not_taken_for_noise_correlated_everywhere():
    # cell walls at PSF sigma 0.7 px and 1000 photons: neighbours are alike along X and Y,
    # but only where the walls are
    sample = make_sample((256, 256), 1, psf_sigma=0.7, photons=1000, cell_size=20, seed=1)
    report = measure_noise(as_uint8(sample.noisy / sample.noisy.max() * 255))
    assert report.correlated_alike() and not report.correlated_everywhere()
    assert spots.choose_blind_spot(TrainingConfig(), [report]).config.blind_spot == "pixel"
    white = measure_noise(as_uint8(100 + np.random.default_rng(0).normal(0, 10, (96, 96))))
    assert not white.correlated_everywhere()


def trained_psnr(noisy: np.ndarray, clean: np.ndarray, blind_spot: str) -> tuple[float, dict]:
    config = TrainingConfig(steps=400, n2v=True, blind_spot=blind_spot, seed=0, **TINY)
    trainer = Trainer(noisy, None, config)
    for _ in trainer.run():
        pass
    denoised = np.asarray(Predictor(trainer.model).predict(noisy[:1]).denoised)[0]
    return psnr(clean[0], denoised), trainer.model.training_config


def test_the_automatic_box_denoises_resampled_data_the_pixel_blind_spot_cannot():
    noisy, clean = resampled(frames=4, side=96, noise=20.0, seed=2)
    noisy = as_uint8(noisy)
    box, recorded = trained_psnr(noisy, clean, "auto")
    pixel, _ = trained_psnr(noisy, clean, "pixel")
    assert recorded["blind_spot"] == "box"
    assert box > pixel + 1.0, (box, pixel)
    assert box > psnr(clean[0], noisy[0]) + 3.0


def test_the_noise_command_train_and_info_show_the_box(capsys, tmp_path):
    image = tmp_path / "resampled.tif"
    frames = as_uint8(resampled()[0])
    tifffile.imwrite(image, frames)
    side = 2 * measure_noise(frames).box_span() + 1
    box = f"a box blind spot of {side} x {side} pixels"
    assert main(["noise", str(image), "--axes", "TYX"]) == 0
    out = capsys.readouterr().out
    assert "lag-1 correlation per block, lowest tenth / median: X +0." in out
    assert "correlated along both X and Y everywhere" in out and f"using {box}" in out
    model = tmp_path / "model"
    tiny = ["--steps", "2", "--patch-size", "32", "--batch-size", "2", "--start-filters", "8"]
    assert main(["train", str(image), "--axes", "TYX", "--n2v", "--out", str(model), *tiny]) == 0
    assert f"using {box}" in capsys.readouterr().err  # notes go to stderr
    assert main(["info", str(model)]) == 0
    assert f"blind spot:   a box of {side} x {side} pixels" in capsys.readouterr().out
    # a bioimage.io package's README says which noise the model was trained for
    said = noise_assumption(load_model(model))
    assert f"Its blind spot (a box of {side} x {side} pixels) was chosen" in said
