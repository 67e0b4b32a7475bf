"""torchvision CNN baselines: one table of (name, builder, classifier layer) and the factory that builds them.

Every model is built with ``weights=None``: nothing is ever downloaded. ImageNet weights come from a local ``.pth``
file (``weights_path``) that ``benchmarks.models.weights.load_state_dict_file`` loads, strictly, into the 1000-class
model before its final linear layer is replaced by a fresh one with ``num_classes`` outputs. The models take RGB
only (``needs_mask=False``).
"""

from __future__ import annotations

import functools
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torchvision import models

from benchmarks.models.registry import ModelSpec, register_model
from benchmarks.models.weights import load_state_dict_file, with_metadata
from rbc_dataset.errors import UsageError, check_choice

IMAGENET_CLASSES = 1000
MIN_INPUT_SIZE = 32  # five stride-2 stages: smaller inputs vanish before the global pooling


# e.g. features.denseblock1.denselayer1.norm.1.weight -> features.denseblock1.denselayer1.norm1.weight
_LEGACY_DENSENET_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.([12]\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$"
)


def _rename_legacy_densenet_keys(state: Mapping[str, torch.Tensor]) -> OrderedDict:
    """DenseNet files published before torchvision 0.3 name ``norm1`` as ``norm.1``; rename them to today's keys."""
    renamed = OrderedDict()
    for key, value in state.items():
        match = _LEGACY_DENSENET_KEY.match(key)
        renamed[match.group(1) + match.group(2) if match else key] = value
    return with_metadata(renamed, state)


@dataclass(frozen=True)
class CnnBaseline:
    """One torchvision baseline: how to build it and which layer is its final classifier."""

    name: str  # registry name
    builder: Callable[..., nn.Module]  # torchvision builder, called with weights=None, num_classes=1000
    classifier: str  # dotted path of the final nn.Linear, replaced by one with num_classes outputs
    description: str  # one line for `rbc-bench list`
    rename_keys: Callable[[Mapping[str, torch.Tensor]], Mapping[str, torch.Tensor]] | None = None  # legacy files


CNN_BASELINES: tuple[CnnBaseline, ...] = (
    CnnBaseline("resnet18", models.resnet18, "fc", "ResNet-18 (torchvision)"),
    CnnBaseline("resnet50", models.resnet50, "fc", "ResNet-50 (torchvision)"),
    CnnBaseline(
        "densenet121",
        models.densenet121,
        classifier="classifier",
        description="DenseNet-121 (torchvision)",
        rename_keys=_rename_legacy_densenet_keys,
    ),
    CnnBaseline("efficientnet_b0", models.efficientnet_b0, "classifier.1", "EfficientNet-B0 (torchvision)"),
    CnnBaseline("shufflenet_v2", models.shufflenet_v2_x1_0, "fc", "ShuffleNetV2 x1.0 (torchvision)"),
    CnnBaseline("mobilenet_v2", models.mobilenet_v2, "classifier.1", "MobileNetV2 (torchvision)"),
    CnnBaseline("vgg16", models.vgg16, "classifier.6", "VGG-16 (torchvision), best model of the AneRBC paper"),
)


def _replace_layer(model: nn.Module, dotted_path: str, layer: nn.Module) -> nn.Module:
    """Put ``layer`` at ``dotted_path`` (e.g. ``classifier.6``) in ``model``; returns the layer it replaced."""
    parent_path, _, child_name = dotted_path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    old = parent.get_submodule(child_name)
    setattr(parent, child_name, layer)
    return old


def build_cnn(
    name: str, *, num_classes: int = 2, input_size: int = 300, weights_path: str | Path | None = None
) -> nn.Module:
    """Build the torchvision baseline ``name`` with a fresh ``num_classes`` classifier.

    Args:
        name: one of the names in ``CNN_BASELINES``.
        num_classes: outputs of the new final linear layer.
        input_size: side of the square input; the models pool globally, so it only has to be large enough.
        weights_path: local ImageNet state dict of the 1000-class torchvision model, loaded before the
            classifier is replaced; None trains from scratch.

    Returns:
        The model; it maps (B, 3, H, W) to logits (B, num_classes).

    Raises:
        UsageError: unknown name, or sizes the model cannot take.
        DataError: the weights file is missing, unreadable, or does not match the model.
    """
    baselines = {baseline.name: baseline for baseline in CNN_BASELINES}
    baseline = baselines[check_choice("CNN baseline", name, choices=tuple(baselines))]
    if not isinstance(num_classes, int) or num_classes < 1:
        raise UsageError(f"{name}: num_classes must be a positive integer, found {num_classes!r}")
    if not isinstance(input_size, int) or input_size < MIN_INPUT_SIZE:
        raise UsageError(f"{name}: input_size must be an integer >= {MIN_INPUT_SIZE}, found {input_size!r}")
    model = baseline.builder(weights=None, num_classes=IMAGENET_CLASSES)
    if weights_path is not None:
        fix = (
            f"download the torchvision ImageNet weights for {name} on a machine with internet and pass the .pth path "
            f"(e.g. torch.save(torchvision.models.{baseline.builder.__name__}(weights='DEFAULT').state_dict(), path))"
        )
        load_state_dict_file(model, weights_path, fix=fix, rename_keys=baseline.rename_keys)
    old = model.get_submodule(baseline.classifier)
    if not isinstance(old, nn.Linear):
        raise TypeError(f"{name}: {baseline.classifier} is a {type(old).__name__}, not the final nn.Linear")
    _replace_layer(model, baseline.classifier, nn.Linear(old.in_features, num_classes))
    return model


for _baseline in CNN_BASELINES:
    register_model(
        ModelSpec(
            name=_baseline.name,
            family="cnn",
            task="classification",
            needs_mask=False,
            description=_baseline.description,
            factory=functools.partial(build_cnn, _baseline.name),
        )
    )
