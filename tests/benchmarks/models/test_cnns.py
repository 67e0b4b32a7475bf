"""torchvision baselines: forward at small inputs, local ImageNet weights files and their errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from benchmarks.models.cnns import CNN_BASELINES, build_cnn
from rbc_dataset.errors import DataError, UsageError

NAMES = [baseline.name for baseline in CNN_BASELINES]
BUILDERS = {baseline.name: baseline for baseline in CNN_BASELINES}


def _first_backbone_key(state: dict) -> str:
    """A weight far from the classifier: the first convolution's."""
    return next(key for key, value in state.items() if key.endswith("weight") and value.ndim == 4)


def test_the_table_holds_the_seven_baselines():
    assert NAMES == ["resnet18", "resnet50", "densenet121", "efficientnet_b0", "shufflenet_v2", "mobilenet_v2", "vgg16"]


@pytest.mark.parametrize("name", NAMES)
def test_forward_at_64_gives_two_logits(name):
    model = build_cnn(name, num_classes=2, input_size=64).eval()
    with torch.no_grad():
        logits = model(torch.randn(2, 3, 64, 64))
    assert tuple(logits.shape) == (2, 2)


@pytest.mark.parametrize("name", NAMES)
def test_imagenet_weights_file_round_trip(tmp_path, name):
    torch.manual_seed(1)
    imagenet_model = BUILDERS[name].builder(weights=None, num_classes=1000)
    saved = imagenet_model.state_dict()
    path = tmp_path / f"{name}_imagenet.pth"
    torch.save(saved, path)
    del imagenet_model

    model = build_cnn(name, num_classes=2, input_size=64, weights_path=path)
    key = _first_backbone_key(saved)
    assert torch.equal(model.state_dict()[key], saved[key])
    classifier = model.get_submodule(BUILDERS[name].classifier)
    assert isinstance(classifier, nn.Linear) and classifier.out_features == 2


@pytest.mark.parametrize("name", NAMES)
def test_missing_weights_file_is_a_data_error(tmp_path, name):
    path = tmp_path / "no_such_weights.pth"
    with pytest.raises(DataError, match="no_such_weights.pth") as error:
        build_cnn(name, weights_path=path)
    assert f"ImageNet weights for {name}" in str(error.value)


def test_weights_of_another_model_are_a_data_error(tmp_path):
    path = tmp_path / "resnet50_weights.pth"
    torch.save(BUILDERS["resnet50"].builder(weights=None).state_dict(), path)
    with pytest.raises(DataError, match="resnet50_weights.pth") as error:
        build_cnn("resnet18", weights_path=path)
    message = str(error.value)
    assert "unexpected keys" in message and "layer1.0.conv3.weight" in message
    assert "shapes" in message  # same names, other sizes: e.g. fc.weight (1000, 2048) vs (1000, 512)


def test_weights_missing_a_key_name_it(tmp_path):
    state = BUILDERS["mobilenet_v2"].builder(weights=None).state_dict()
    del state["features.0.0.weight"]
    path = tmp_path / "truncated.pth"
    torch.save(state, path)
    with pytest.raises(DataError, match="truncated.pth") as error:
        build_cnn("mobilenet_v2", weights_path=path)
    assert "1 missing keys: features.0.0.weight" in str(error.value)


def test_a_ddp_state_dict_gets_a_hint(tmp_path):
    plain = BUILDERS["shufflenet_v2"].builder(weights=None).state_dict()
    state = {f"module.{key}": value for key, value in plain.items()}
    path = tmp_path / "ddp.pth"
    torch.save(state, path)
    with pytest.raises(DataError, match="model.module.state_dict"):
        build_cnn("shufflenet_v2", weights_path=path)


@pytest.mark.parametrize(
    ("content", "found"),
    [([1, 2, 3], "list"), ({"epoch": 3, "model": {}}, "not named tensors")],
)
def test_a_file_that_is_not_a_state_dict_is_a_data_error(tmp_path, content, found):
    path = tmp_path / "checkpoint.pth"
    torch.save(content, path)
    with pytest.raises(DataError, match="checkpoint.pth") as error:
        build_cnn("shufflenet_v2", weights_path=path)
    assert found in str(error.value)


def test_an_unreadable_file_is_a_data_error(tmp_path):
    path = tmp_path / "broken.pth"
    path.write_text("not a torch file")
    with pytest.raises(DataError, match="broken.pth"):
        build_cnn("shufflenet_v2", weights_path=path)


def test_a_folder_is_not_a_weights_file(tmp_path):
    with pytest.raises(DataError, match="a folder"):
        build_cnn("shufflenet_v2", weights_path=tmp_path)


def test_old_batchnorm_files_without_counters_load(tmp_path):
    state = BUILDERS["resnet18"].builder(weights=None).state_dict()
    state = {key: value for key, value in state.items() if not key.endswith("num_batches_tracked")}
    path = tmp_path / "old_resnet18.pth"
    torch.save(state, path)
    model = build_cnn("resnet18", weights_path=path)
    assert torch.equal(model.conv1.weight, state["conv1.weight"])


def test_legacy_densenet_keys_are_renamed(tmp_path):
    state = BUILDERS["densenet121"].builder(weights=None).state_dict()
    legacy = {key.replace(".norm1.", ".norm.1.").replace(".conv2.", ".conv.2."): value for key, value in state.items()}
    assert legacy != state
    path = tmp_path / "densenet121-legacy.pth"
    torch.save(legacy, path)
    model = build_cnn("densenet121", weights_path=path)
    key = "features.denseblock1.denselayer1.norm1.weight"
    assert torch.equal(model.state_dict()[key], state[key])


@pytest.mark.parametrize(("arguments", "phrase"), [({"name": "alexnet"}, "resnet18"), ({"input_size": 16}, ">= 32")])
def test_bad_arguments_are_usage_errors(arguments, phrase):
    with pytest.raises(UsageError, match=phrase):
        build_cnn(**{"name": "resnet18", **arguments})
