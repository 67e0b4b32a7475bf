"""A small U-Net-style cell segmenter: the trained baseline of the segmentation suite.

Encoder-decoder after Ronneberger et al. (2015) at a fraction of the width: three down-sampling steps (four
resolution levels), two 3x3 conv + BatchNorm + ReLU blocks per level, bilinear up-sampling followed by a 1x1
convolution, and skip connections concatenated at every level. About 0.45 M parameters at ``base_width=16``, so
it trains on a CPU in the tests and in minutes on a GPU at 64-256 px.

Input: float32 (B, 3, S, S), ImageNet-normalised RGB. Output: (B, 1, S, S) logits of the cell class (cell = 1), or
(B, C, S, S) with ``out_channels=C`` (``annotation.learned`` adds a cell-centre map as a second channel).
The three poolings need S (and any other side) divisible by 8; other sizes are reflect-padded up to the next
multiple of 8 inside ``forward`` (edge-replicated when the image is smaller than the padding) and the logits
cropped back, so any size works, at the cost of a border of under 8 px seen through a mirror.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

DOWNSAMPLING = 8  # 2 ** number of poolings: sides divisible by this need no padding
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Two 3x3 convolutions, each followed by BatchNorm and ReLU (bias is redundant before BatchNorm)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class UpBlock(nn.Module):
    """Bilinear x2 up-sampling, a 1x1 conv halving the channels, concatenation with the skip, conv block."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        # Bilinear + 1x1 conv instead of a transposed conv: no checkerboard artefacts on round cell edges.
        self.reduce = nn.Conv2d(in_channels, out_channels, 1)
        self.block = conv_block(2 * out_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.block(torch.cat([skip, self.reduce(x)], dim=1))


class SmallUNet(nn.Module):
    """U-Net-style encoder-decoder returning cell-class logits (see the module docstring).

    Args:
        in_channels: input channels (3: RGB).
        base_width: channels at full resolution; doubled at each of the three lower levels.
        out_channels: output maps (1: the cell class).
    """

    def __init__(self, in_channels: int = 3, base_width: int = 16, *, out_channels: int = 1):
        super().__init__()
        widths = [base_width * 2**level for level in range(4)]
        self.encoders = nn.ModuleList(
            [conv_block(in_channels, widths[0]), *(conv_block(widths[k - 1], widths[k]) for k in range(1, 4))]
        )
        self.decoders = nn.ModuleList([UpBlock(widths[k], widths[k - 1]) for k in range(3, 0, -1)])
        self.head = nn.Conv2d(widths[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        pad_h, pad_w = -height % DOWNSAMPLING, -width % DOWNSAMPLING
        if pad_h or pad_w:
            mode = "reflect" if pad_h < height and pad_w < width else "replicate"  # reflect needs pad < side
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        skips = []
        for level, encoder in enumerate(self.encoders):
            x = encoder(x if level == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        for decoder, skip in zip(self.decoders, reversed(skips[:-1]), strict=True):
            x = decoder(x, skip)
        return self.head(x)[..., :height, :width]


def normalise(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 (B, 3, H, W) to float32 ImageNet-normalised on ``device``."""
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    return (images.to(device, non_blocking=True).float() / 255.0 - mean) / std


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy plus soft Dice of the cell class over the whole batch (Dice keeps the small cell
    class from being drowned by background pixels; BCE gives well-behaved gradients early on)."""
    bce = F.binary_cross_entropy_with_logits(logits, target)
    prob = torch.sigmoid(logits)
    soft_dice = (2 * (prob * target).sum() + 1) / (prob.sum() + target.sum() + 1)
    return bce + 1 - soft_dice
