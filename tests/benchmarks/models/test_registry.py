"""The model registry as seen from the models of this package (other packages register their own)."""

from __future__ import annotations

import fnmatch

import pytest
import torch

from benchmarks.catalog import get_model, list_models
from benchmarks.models.registry import ModelSpec, register_model
from benchmarks.models.three_tier import ThreeTierDCFNet
from rbc_dataset.errors import UsageError

CNN_NAMES = {"resnet18", "resnet50", "densenet121", "efficientnet_b0", "shufflenet_v2", "mobilenet_v2", "vgg16"}


def test_wildcards_select_the_resnets():
    names = [spec.name for spec in list_models("res*")]
    assert {"resnet18", "resnet50"} <= set(names)
    assert all(fnmatch.fnmatchcase(name, "res*") for name in names)
    assert "vgg16" not in names


def test_every_cnn_and_the_3tier_are_registered():
    cnns = {spec.name for spec in list_models(family="cnn")}
    assert CNN_NAMES <= cnns
    for name in CNN_NAMES:
        spec = get_model(name)
        assert (spec.task, spec.needs_mask) == ("classification", False)
    three_tier = get_model("3tier")
    assert (three_tier.family, three_tier.task, three_tier.needs_mask) == ("tiered", "classification", True)


def test_factories_follow_the_torch_classifier_signature():
    model = get_model("3tier").factory(num_classes=2, input_size=32, weights_path=None)
    assert isinstance(model, ThreeTierDCFNet)
    cnn = get_model("shufflenet_v2").factory(num_classes=3, input_size=64, weights_path=None).eval()
    with torch.no_grad():
        assert tuple(cnn(torch.randn(1, 3, 64, 64)).shape) == (1, 3)


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(UsageError, match="nope") as error:
        get_model("nope")
    message = str(error.value)
    assert "resnet18" in message and "3tier" in message and "vgg16" in message


def test_a_duplicate_name_is_refused():
    original = get_model("resnet18")
    with pytest.raises(ValueError, match="resnet18"):
        register_model(
            ModelSpec(
                "resnet18",
                "cnn",
                task="classification",
                needs_mask=False,
                description="duplicate",
                factory=original.factory,
            )
        )
    assert get_model("resnet18") is original
