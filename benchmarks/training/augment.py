"""Training-time augmentation for smears: native-resolution crops, flips, 90-degree turns, scale and colour jitter.

A smear has no orientation, so flips and quarter turns change nothing a haematologist would read; a small scale
jitter covers magnification differences between microscopes; colour jitter (brightness, contrast, saturation, hue
and a per-channel gain that mimics white balance) is the standard defence against the acquisition shortcut of real
AneRBC, whose two classes were photographed under different light. Geometry is applied to the image and its mask
together (torchvision's ``tv_tensors.Mask`` is resampled by nearest neighbour and never colour-jittered), so the
mask channel of 3-TierDCFNet stays aligned with the cells.

Every sample of a batch gets its own draw from torch's global generator, which the training loop seeds per case
and saves in its checkpoints, so a resumed run draws the same augmentations as one that never stopped.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

HUE_PER_JITTER = 0.25  # hue shift (fraction of the colour circle) per unit of colour jitter: 0.2 -> +-0.05


@dataclass(frozen=True)
class AugmentSettings:
    """What ``augment_batch`` does; every field is a preset value recorded in the run's config.yaml."""

    crop_size: int = 0  # side of the random square crop taken at native resolution (0: the whole input)
    flips: bool = True  # horizontal / vertical flips and 90-degree turns
    scale_jitter: float = 0.0  # the crop covers crop_size * s pixels, s uniform in [1 - j, 1 + j], resized back
    colour_jitter: float = 0.0  # brightness, contrast, saturation, channel gain +-j; hue +-j/4

    @property
    def active(self) -> bool:
        return self.crop_size > 0 or self.flips or self.scale_jitter > 0 or self.colour_jitter > 0


def _geometry(settings: AugmentSettings, height: int, width: int) -> v2.Transform | None:
    """The crop (with scale jitter) as one torchvision transform, or None when the input is used whole."""
    jitter = settings.scale_jitter
    if settings.crop_size <= 0 and jitter <= 0:
        return None
    side = settings.crop_size if settings.crop_size > 0 else min(height, width)
    low, high = side * (1 - jitter), min(side * (1 + jitter), height, width)
    area = height * width
    # RandomResizedCrop draws an area share and an aspect ratio; a ratio of 1 keeps cells round.
    return v2.RandomResizedCrop(
        (side, side), scale=(low * low / area, high * high / area), ratio=(1.0, 1.0), antialias=True
    )


def _colour(settings: AugmentSettings) -> v2.Transform | None:
    strength = settings.colour_jitter
    if strength <= 0:
        return None
    return v2.ColorJitter(
        brightness=strength, contrast=strength, saturation=strength, hue=min(0.5, strength * HUE_PER_JITTER)
    )


def _channel_gain(image: torch.Tensor, strength: float) -> torch.Tensor:
    """White balance: each channel multiplied by its own gain in [1 - strength/2, 1 + strength/2]."""
    gains = 1.0 + (torch.rand(3, 1, 1) - 0.5) * strength
    return (image.float() * gains).round_().clamp_(0, 255).to(torch.uint8)


def augment_sample(image: torch.Tensor, mask: torch.Tensor | None, *, settings: AugmentSettings):
    """One augmented (image uint8 (3, H, W), mask uint8 (1, H, W) or None) pair, geometry shared by both."""
    geometry = _geometry(settings, image.shape[-2], image.shape[-1])
    return _augment(image, mask, settings=settings, geometry=geometry, colour=_colour(settings))


def _augment(image, mask, *, settings: AugmentSettings, geometry, colour):
    pair = [tv_tensors.Image(image), tv_tensors.Mask(mask if mask is not None else image[:1])]
    if geometry is not None:
        pair = geometry(pair)
    if settings.flips:
        pair = v2.RandomVerticalFlip()(v2.RandomHorizontalFlip()(pair))
        turns = int(torch.randint(0, 4, ()))
        pair = [torch.rot90(part, turns, dims=(-2, -1)) for part in pair]
    image, new_mask = (part.as_subclass(torch.Tensor) for part in pair)
    if colour is not None:
        image = _channel_gain(colour(image), settings.colour_jitter)
    return image.contiguous(), (new_mask.contiguous() if mask is not None else None)


def augment_batch(batch: dict, settings: AugmentSettings) -> dict:
    """``batch`` with its ``image`` (and ``mask``) augmented sample by sample; labels untouched.

    The transforms are built once per batch (every sample has the batch's size); each sample draws its own values.
    """
    if not settings.active:
        return batch
    images, masks = batch["image"], batch.get("mask")
    geometry, colour = _geometry(settings, images.shape[-2], images.shape[-1]), _colour(settings)
    pairs = [
        _augment(image, masks[k] if masks is not None else None, settings=settings, geometry=geometry, colour=colour)
        for k, image in enumerate(images)
    ]
    out = dict(batch, image=torch.stack([image for image, _ in pairs]))
    if masks is not None:
        out["mask"] = torch.stack([mask for _, mask in pairs])
    return out
