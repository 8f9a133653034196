import torch

from napari_deconoising.training.masking import blind_spot_mask, box_size


def test_stratified_positions_and_fraction():
    patches = torch.randn(4, 1, 64, 64)
    _, mask = blind_spot_mask(patches, 1 / 36, generator=torch.Generator().manual_seed(0))
    assert box_size(1 / 36) == 6
    per_patch = mask.sum(dim=(1, 2, 3))
    assert torch.all(per_patch == 11 * 11)  # one per 6x6 box, edge boxes included
    boxes = mask[0, 0, :60, :60].reshape(10, 6, 10, 6).sum(dim=(1, 3))
    assert torch.all(boxes == 1)


def test_only_masked_pixels_change_and_never_take_their_own_value():
    # Unique values everywhere: a masked pixel equal to its original would mean self-replacement.
    patches = torch.arange(8 * 32 * 32, dtype=torch.float32).reshape(8, 1, 32, 32)
    for seed in range(20):
        manipulated, mask = blind_spot_mask(
            patches, 1 / 4, generator=torch.Generator().manual_seed(seed)
        )
        changed = manipulated != patches
        assert torch.equal(changed, mask.bool())


def test_replacement_comes_from_the_neighbourhood_at_borders():
    patches = torch.arange(32 * 32, dtype=torch.float32).reshape(1, 1, 32, 32)
    manipulated, mask = blind_spot_mask(patches, 1 / 4, 5, torch.Generator().manual_seed(3))
    rows, cols = torch.nonzero(mask[0, 0], as_tuple=True)
    sources = manipulated[0, 0, rows, cols].long()
    assert torch.all((sources // 32 - rows).abs() <= 2)
    assert torch.all((sources % 32 - cols).abs() <= 2)
    assert torch.any(rows == 0) and torch.any(cols == 0)


def test_seeded_masks_are_reproducible():
    patches = torch.randn(2, 1, 32, 32)
    first = blind_spot_mask(patches, generator=torch.Generator().manual_seed(5))
    second = blind_spot_mask(patches, generator=torch.Generator().manual_seed(5))
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
