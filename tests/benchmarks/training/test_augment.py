"""Training augmentation: geometry shared by image and mask, colour on the image only, crops at native size."""

from __future__ import annotations

import pytest
import torch

from benchmarks.training.augment import AugmentSettings, augment_batch, augment_sample


def _pair(size: int = 64, seed: int = 0, block: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """An image whose mask is exactly where its red channel is bright: alignment is checkable after any warp."""
    generator = torch.Generator().manual_seed(seed)
    cells = torch.rand(size // block, size // block, generator=generator) > 0.5
    red = cells.repeat_interleave(block, 0).repeat_interleave(block, 1).to(torch.uint8) * 200 + 20
    image = torch.stack([red, torch.full_like(red, 90), torch.full_like(red, 140)])
    return image, (red > 128).to(torch.uint8)[None]


@pytest.mark.parametrize("seed", range(8))
def test_flips_turns_and_crops_keep_image_and_mask_aligned(seed):
    image, mask = _pair()
    torch.manual_seed(seed)
    out_image, out_mask = augment_sample(image, mask, settings=AugmentSettings(crop_size=40, flips=True))
    assert out_image.shape == (3, 40, 40) and out_mask.shape == (1, 40, 40)
    assert torch.equal(out_mask[0], (out_image[0] > 128).to(torch.uint8))


def test_the_augmentation_moves_pixels_and_is_not_the_identity():
    image, mask = _pair()
    torch.manual_seed(3)
    outputs = [augment_sample(image, mask, settings=AugmentSettings(flips=True))[0] for _ in range(6)]
    assert any(not torch.equal(out, image) for out in outputs)


def test_scale_jitter_resamples_the_mask_by_nearest_neighbour_and_stays_mostly_aligned():
    image, mask = _pair(size=96, block=8)  # cell-sized blobs, not single pixels that resampling blurs away
    torch.manual_seed(1)
    out_image, out_mask = augment_sample(
        image, mask, settings=AugmentSettings(crop_size=48, flips=False, scale_jitter=0.3)
    )
    assert set(out_mask.unique().tolist()) <= {0, 1}  # never blended
    agreement = (out_mask[0] == (out_image[0] > 128)).float().mean()
    assert agreement > 0.9  # the image is anti-aliased, the mask is not: edges may differ by a pixel


def test_colour_jitter_changes_the_image_and_never_the_mask():
    image, mask = _pair()
    torch.manual_seed(0)
    out_image, out_mask = augment_sample(image, mask, settings=AugmentSettings(flips=False, colour_jitter=0.5))
    assert torch.equal(out_mask, mask)
    assert not torch.equal(out_image, image) and out_image.dtype == torch.uint8


def test_a_batch_is_augmented_sample_by_sample_and_labels_are_untouched():
    images, masks = zip(*[_pair(seed=k) for k in range(4)], strict=True)
    batch = {"image": torch.stack(images), "mask": torch.stack(masks), "label": torch.tensor([0, 1, 0, 1])}
    torch.manual_seed(0)
    out = augment_batch(batch, AugmentSettings(crop_size=32, flips=True, colour_jitter=0.2))
    assert out["image"].shape == (4, 3, 32, 32) and out["mask"].shape == (4, 1, 32, 32)
    assert torch.equal(out["label"], batch["label"])
    assert torch.equal(batch["image"], torch.stack(images))  # the input batch is not modified


def test_nothing_active_returns_the_batch_itself():
    batch = {"image": torch.zeros(2, 3, 8, 8, dtype=torch.uint8)}
    assert augment_batch(batch, AugmentSettings(flips=False)) is batch


def test_the_same_seed_draws_the_same_augmentation():
    image, mask = _pair()
    settings = AugmentSettings(crop_size=32, flips=True, scale_jitter=0.1, colour_jitter=0.2)
    torch.manual_seed(7)
    first = augment_sample(image, mask, settings=settings)
    torch.manual_seed(7)
    second = augment_sample(image, mask, settings=settings)
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
