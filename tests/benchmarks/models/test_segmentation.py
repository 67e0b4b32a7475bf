"""Registration of the segmentation models, U-Net weights loading, the propose baseline."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from benchmarks.catalog import get_model
from benchmarks.models.segmentation import ProposeSegmenter, build_propose, build_unet
from benchmarks.models.unet import SmallUNet
from rbc_dataset.errors import DataError, UsageError


@pytest.mark.parametrize("name", ["unet", "propose"])
def test_registered_as_segmentation(name):
    spec = get_model(name)
    assert (spec.family, spec.task, spec.needs_mask) == ("segmentation", "segmentation", True)


def test_unet_factory_builds_the_network():
    model = get_model("unet").factory(input_size=48)
    assert isinstance(model, SmallUNet)
    assert model.input_size == 48


def test_unet_factory_refuses_a_bad_size():
    with pytest.raises(UsageError, match="input_size"):
        build_unet(input_size=0)


def test_unet_weights_round_trip(tmp_path):
    source = build_unet()
    path = tmp_path / "seed0.pt"
    torch.save(source.state_dict(), path)
    loaded = build_unet(weights_path=path)
    for name, value in source.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[name])


def test_unet_weights_missing_or_wrong(tmp_path):
    with pytest.raises(DataError, match="absent.pt.*no such file.*U-Net checkpoint"):
        build_unet(weights_path=tmp_path / "absent.pt")
    wrong = tmp_path / "wrong.pt"
    torch.save(build_unet(base_width=8).state_dict(), wrong)
    with pytest.raises(DataError, match=r"wrong.pt.*SmallUNet state dict.*shapes \(file vs model\).*base_width=16"):
        build_unet(weights_path=wrong)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="garbage.pt.*torch.load cannot read.*U-Net checkpoint"):
        build_unet(weights_path=garbage)
    assert isinstance(build_unet(base_width=8, weights_path=wrong), SmallUNet)  # the width it was saved with fits


def _disc_image() -> tuple[np.ndarray, np.ndarray]:
    """A light background with dark pink discs of radius 9, and their mask."""
    image = np.full((120, 120, 3), (225, 220, 230), np.uint8)
    mask = np.zeros((120, 120), np.uint8)
    for y in range(15, 120, 30):
        for x in range(15, 120, 30):
            cv2.circle(image, (x, y), 9, (170, 110, 150), -1)
            cv2.circle(mask, (x, y), 9, 1, -1)
    return image, mask


def test_propose_finds_the_cells():
    image, mask = _disc_image()
    pred = get_model("propose").factory().predict_mask(image)
    assert pred.shape == mask.shape and pred.dtype == np.uint8
    dice = 2 * (pred & mask).sum() / (pred.sum() + mask.sum())
    assert dice > 0.9
    empty = build_propose()(np.full((60, 60, 3), 220, np.uint8))
    assert isinstance(build_propose(), ProposeSegmenter) and empty.shape == (60, 60)


def test_propose_refuses_a_non_rgb_array():
    with pytest.raises(UsageError, match=r"\(H, W, 3\)"):
        build_propose().predict_mask(np.zeros((20, 20), np.uint8))
