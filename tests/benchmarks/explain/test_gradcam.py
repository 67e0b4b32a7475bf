"""Grad-CAM: shape, normalisation, the layer it explains, and the cases hooks get wrong."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from benchmarks.explain.gradcam import grad_cam, last_spatial_layer, normalise_maps, spatial_layers
from rbc_dataset.errors import UsageError


class Toy(nn.Module):
    """Two convolutions, an in-place ReLU after the second (as DenseNet's forward has), pooling, a linear head."""

    def __init__(self):
        super().__init__()
        self.first = nn.Conv2d(3, 4, 3, padding=1)
        self.second = nn.Conv2d(4, 6, 3, stride=2, padding=1)
        self.head = nn.Linear(6, 2)

    def forward(self, x):
        features = self.second(torch.relu(self.first(x)))
        pooled = torch.relu_(features).mean(dim=(2, 3))  # in place on the explained map
        return self.head(pooled)


class TwoHeads(Toy):
    def forward(self, x):
        features = self.second(torch.relu(self.first(x)))
        return {
            "global": self.head(features.mean(dim=(2, 3))),
            "other": self.head(x.mean(dim=(2, 3))[:, :6].repeat(1, 2)),
        }


def _toy(seed: int) -> Toy:
    torch.manual_seed(seed)
    return Toy().eval()


def test_maps_have_the_input_size_and_lie_in_0_1():
    model, inputs = _toy(0), torch.randn(3, 3, 20, 24)
    maps = grad_cam(model, inputs, targets=torch.tensor([0, 1, 1]), layer="second")
    assert maps.maps.shape == (3, 20, 24) and maps.maps.dtype == np.float32
    assert maps.feature_size == (10, 12) and maps.probs.shape == (3, 2)
    assert maps.maps.min() >= 0.0 and maps.maps.max() <= 1.0 + 1e-6
    for single in maps.maps:  # each map is divided by its own maximum, or is all zero
        assert single.max() == pytest.approx(1.0, abs=1e-6) or single.max() == 0.0
    assert np.allclose(maps.probs.sum(axis=1), 1.0)


def test_the_probe_finds_the_last_spatial_map():
    model, inputs = _toy(0), torch.randn(1, 3, 16, 16)
    assert [name for name, _size in spatial_layers(model, inputs)] == ["first", "second"]
    assert last_spatial_layer(model, inputs) == "second"


def test_a_1x1_map_is_not_explained_and_none_at_all_is_a_usage_error():
    model = _toy(0)
    assert last_spatial_layer(model, torch.randn(1, 3, 2, 2)) == "first"  # second gives 1x1 there
    with pytest.raises(UsageError, match="no module gives a feature map larger than 1x1"):
        last_spatial_layer(model, torch.randn(1, 3, 1, 1))


def test_unknown_layer_lists_the_modules():
    with pytest.raises(UsageError, match="unknown layer 'nope'.*second"):
        grad_cam(_toy(0), torch.randn(1, 3, 8, 8), targets=torch.tensor([0]), layer="nope")


def test_the_map_depends_on_the_target_class():
    model, inputs = _toy(1), torch.randn(1, 3, 16, 16)
    zero = grad_cam(model, inputs, targets=torch.tensor([0]), layer="second").maps
    one = grad_cam(model, inputs, targets=torch.tensor([1]), layer="second").maps
    assert not np.allclose(zero, one)


def test_a_dict_model_explains_the_named_head_and_the_model_is_left_without_hooks():
    torch.manual_seed(0)
    model, inputs = TwoHeads().eval(), torch.randn(2, 3, 12, 12)
    maps = grad_cam(model, inputs, targets=torch.tensor([0, 1]), layer="second", head="global")
    assert maps.maps.shape == (2, 12, 12) and maps.maps.max() > 0
    unused = grad_cam(model, inputs, targets=torch.tensor([0, 1]), layer="second", head="other")
    assert unused.maps.max() == 0.0  # that head never reads the map: no evidence on it, not an error
    assert not model.second._forward_hooks


def test_normalise_keeps_zero_maps_zero():
    maps = normalise_maps(torch.tensor([[[0.0, 2.0], [1.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]]))
    assert maps[0].max() == 1.0 and maps[1].abs().sum() == 0.0


@pytest.mark.parametrize("name", ["3tier", "densenet121", "mobilenet_v2", "resnet18", "shufflenet_v2", "vgg16"])
def test_every_kind_of_registered_network_is_explained_on_a_real_feature_map(name):
    from benchmarks.catalog import get_model

    spec = get_model(name)
    torch.manual_seed(0)
    model = spec.factory(num_classes=2, input_size=64).eval()
    inputs = torch.randn(1, 4 if spec.needs_mask else 3, 64, 64)
    layer = last_spatial_layer(model, inputs)
    assert not isinstance(dict(model.named_modules())[layer], nn.AdaptiveAvgPool2d)  # VGG: features, not avgpool
    maps = grad_cam(model, inputs, targets=torch.tensor([1]), layer=layer)
    assert maps.maps.shape == (1, 64, 64) and 1 < maps.feature_size[0] < 64
