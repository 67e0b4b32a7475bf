"""SmallUNet: output shape for sides divisible by 8 and for others (padded inside)."""

from __future__ import annotations

import pytest
import torch

from benchmarks.models.unet import SmallUNet


@pytest.mark.parametrize("height, width", [(32, 32), (16, 40), (30, 37), (5, 3)])
def test_output_is_one_logit_map_of_the_input_size(height, width):
    model = SmallUNet().eval()
    with torch.no_grad():
        logits = model(torch.randn(2, 3, height, width))
    assert logits.shape == (2, 1, height, width)
    assert torch.isfinite(logits).all()


def test_wrong_channel_count_is_refused():
    with pytest.raises(RuntimeError):
        SmallUNet()(torch.randn(1, 4, 16, 16))


def test_base_width_sets_the_size():
    small, large = SmallUNet(base_width=8), SmallUNet(base_width=16)
    n_small = sum(p.numel() for p in small.parameters())
    n_large = sum(p.numel() for p in large.parameters())
    assert 3 * n_small < n_large < 5 * n_small  # widths double, so parameters roughly quadruple
