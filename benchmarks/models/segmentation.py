"""The segmentation models of ``rbc-bench``: a trained U-Net-style network and the untrained ``annotate propose``.

Both predict the cell class (cell = 1) of one image; ``benchmarks.suite.segmentation`` trains and scores them.

- ``unet``: ``build_unet(input_size=64, weights_path=None) -> SmallUNet``, logits (B, 1, S, S) of ImageNet-normalised
  RGB (B, 3, S, S).
- ``propose``: ``build_propose() -> ProposeSegmenter``, whose ``predict_mask(image_rgb)`` returns a 0/1 uint8 mask
  at the image's own resolution. It has no parameters and sees no training data.

Torch is imported inside the factories, so importing this module (the catalog does) stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from benchmarks.models.registry import ModelSpec, register_model
from rbc_dataset.errors import UsageError

if TYPE_CHECKING:
    from annotation.propose import ProposeConfig
    from benchmarks.models.unet import SmallUNet

# base_width is named: a checkpoint of another width differs from the network only in its shapes.
WEIGHTS_FIX = (
    "pass a U-Net checkpoint of base_width={base_width} written by the segmentation suite "
    "(checkpoints/unet/seed<S>.pt), or no weights"
)


def build_unet(input_size: int = 64, *, weights_path: str | Path | None = None, base_width: int = 16) -> SmallUNet:
    """A ``SmallUNet`` for square inputs of ``input_size`` px, with weights from ``weights_path`` if given.

    Args:
        input_size: side the images are resized to; the network is fully convolutional, so this only records
            the training resolution (``model.input_size``); sides not divisible by 8 are padded inside.
        weights_path: a ``state_dict`` saved by ``torch.save``, loaded strictly by
            ``benchmarks.models.weights.load_state_dict_file`` (``weights_only=True``).
        base_width: channels at full resolution.

    Raises:
        UsageError: ``input_size`` or ``base_width`` below 1.
        DataError: the weights file is missing, unreadable or does not fit the network.
    """
    from benchmarks.models.unet import SmallUNet
    from benchmarks.models.weights import load_state_dict_file

    if input_size < 1 or base_width < 1:
        raise UsageError(f"unet: input_size and base_width must be >= 1, got {input_size} and {base_width}")
    model = SmallUNet(in_channels=3, base_width=base_width)
    model.input_size = int(input_size)
    if weights_path is not None:
        load_state_dict_file(model, weights_path, fix=WEIGHTS_FIX.format(base_width=base_width))
    return model


class ProposeSegmenter:
    """The untrained classical baseline: ``annotation.propose.propose_mask`` on each image.

    Args:
        config: how masks are proposed; None = ``ProposeConfig()``, the defaults of ``annotate propose``.
    """

    def __init__(self, config: ProposeConfig | None = None):
        self.config = config

    def predict_mask(self, image_rgb: np.ndarray) -> np.ndarray:
        """The (H, W) uint8 0/1 cell mask of an (H, W, 3) uint8 RGB image, at the image's resolution."""
        from annotation.propose import propose_mask

        image_rgb = np.asarray(image_rgb)
        if image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
            raise UsageError(f"propose: expected an (H, W, 3) RGB image, got an array of shape {image_rgb.shape}")
        return propose_mask(image_rgb, self.config).astype(np.uint8)

    __call__ = predict_mask


def build_propose(config: ProposeConfig | None = None) -> ProposeSegmenter:
    """The ``propose`` baseline (no weights, no training)."""
    return ProposeSegmenter(config)


register_model(
    ModelSpec(
        name="unet",
        family="segmentation",
        task="segmentation",
        needs_mask=True,  # the canonical mask is the training target (never an input)
        description="small U-Net-style segmenter (4 levels, base width 16), BCE + soft Dice, cell-class logits",
        factory=build_unet,
    )
)
register_model(
    ModelSpec(
        name="propose",
        family="segmentation",
        task="segmentation",
        needs_mask=True,  # needs the canonical mask only to be scored
        description="untrained `annotate propose` (flat field, Fisher colour axis, Otsu, hole filling)",
        factory=build_propose,
    )
)
