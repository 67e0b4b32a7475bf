"""3-TierDCFNet: tier shapes, heads, fusion, staged-training controls and the weights file."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.models.three_tier import TIER_NAMES, ThreeTierDCFNet, build_three_tier, tier_sizes
from rbc_dataset.errors import DataError, UsageError

HEADS = ("tier1", "tier2", "tier3", "global", "severity")


def _batch(size: int, count: int = 2) -> torch.Tensor:
    """ImageNet-normalised-looking RGB plus a 0/1 mask channel."""
    generator = torch.Generator().manual_seed(0)
    rgb = torch.randn(count, 3, size, size, generator=generator)
    mask = (torch.rand(count, 1, size, size, generator=generator) > 0.5).float()
    return torch.cat([rgb, mask], dim=1)


def _batchnorms(module: nn.Module) -> list[nn.Module]:
    return [layer for layer in module.modules() if isinstance(layer, nn.modules.batchnorm._BatchNorm)]


@pytest.fixture()
def small_model() -> ThreeTierDCFNet:
    torch.manual_seed(0)
    return ThreeTierDCFNet(num_classes=2, input_size=64)


@pytest.fixture()
def output_fusion_model() -> ThreeTierDCFNet:
    torch.manual_seed(0)
    return ThreeTierDCFNet(num_classes=2, input_size=64, fusion="outputs")


def test_tier_sizes_follow_the_paper():
    assert tier_sizes(300) == (200, 100, 10)
    assert tier_sizes(64) == (43, 21, 2)
    assert tier_sizes(16)[2] == 1  # never below one pixel


def test_feature_maps_at_300_have_the_paper_shapes():
    model = ThreeTierDCFNet(input_size=300).eval()
    with torch.no_grad():
        tier1, tier2, tier3 = model.features(_batch(300, count=1))
    assert tuple(tier1.shape) == (1, 64, 200, 200)
    assert tuple(tier2.shape) == (1, 128, 100, 100)
    assert tuple(tier3.shape) == (1, 256, 10, 10)


def test_tier_maps_follow_the_input_given_not_the_size_built_for(small_model):
    """Trained on crops, predicting whole tiles or images: the maps keep the same scale per input pixel."""
    small_model.eval()
    rgb_mask = torch.cat([torch.randn(1, 3, 96, 150), torch.ones(1, 1, 96, 150)], dim=1)
    with torch.no_grad():
        tier1, tier2, tier3 = small_model.features(rgb_mask)
        outputs = small_model(_batch(90, count=2))
    assert tuple(tier1.shape[-2:]) == (64, 100)
    assert tuple(tier2.shape[-2:]) == (32, 50)
    assert tuple(tier3.shape[-2:]) == (3, 5)
    assert tuple(outputs["global"].shape) == (2, 2)


def test_forward_returns_every_head(small_model):
    outputs = small_model(_batch(64, count=3))
    assert set(outputs) == set(HEADS)
    for name in HEADS:
        assert tuple(outputs[name].shape) == (3, 2), name


def test_class_and_severity_counts_are_configurable():
    model = ThreeTierDCFNet(num_classes=3, input_size=32, num_severity=4).eval()
    with torch.no_grad():
        outputs = model(_batch(32))
    assert outputs["global"].shape[1] == 3 and outputs["severity"].shape[1] == 4


@pytest.mark.parametrize(
    "arguments",
    [{"input_size": 8}, {"num_classes": 0}, {"in_channels": 0}, {"dropout": 1.0}, {"input_size": 64.0}],
)
def test_bad_sizes_are_refused(arguments):
    with pytest.raises(UsageError):
        ThreeTierDCFNet(**arguments)


def test_backward_reaches_every_parameter(small_model):
    outputs = small_model(_batch(64))
    labels = torch.tensor([0, 1])
    loss = sum(F.cross_entropy(outputs[name], labels) for name in HEADS)
    loss.backward()
    without_gradient = [name for name, parameter in small_model.named_parameters() if parameter.grad is None]
    assert without_gradient == []


def test_output_fusion_weights_start_equal_and_global_is_their_mean(output_fusion_model):
    output_fusion_model.eval()
    weights = output_fusion_model.fusion_weights()
    assert torch.allclose(weights, torch.full((3,), 1 / 3))
    with torch.no_grad():
        outputs = output_fusion_model(_batch(64))
    mean_log_probs = torch.stack([F.log_softmax(outputs[name], dim=1) for name in TIER_NAMES]).mean(0)
    assert torch.allclose(outputs["global"], mean_log_probs, atol=1e-6)
    # log-probabilities: the global prediction's probabilities sum to at most one (a geometric mean)
    assert bool((outputs["global"].exp().sum(1) <= 1 + 1e-6).all())


def test_output_fusion_weights_move_the_global_prediction(output_fusion_model):
    output_fusion_model.eval()
    with torch.no_grad():
        output_fusion_model.fusion_logits.copy_(torch.tensor([0.0, 0.0, 50.0]))  # all weight on tier 3
        outputs = output_fusion_model(_batch(64))
    assert torch.allclose(outputs["global"], F.log_softmax(outputs["tier3"], dim=1), atol=1e-5)


def test_feature_fusion_reads_every_tier_s_features_not_their_heads(small_model):
    """The global head is one linear map of the concatenated pooled features: changing a tier head leaves it alone."""
    small_model.eval()
    batch = _batch(64)
    with torch.no_grad():
        before = small_model(batch)["global"]
        for name in TIER_NAMES:
            small_model.heads[name][1].weight.mul_(-3.0)
        after = small_model(batch)["global"]
        pooled = [F.adaptive_avg_pool2d(feature, 1).flatten(1) for feature in small_model.features(batch)]
        expected = small_model.fusion_head(torch.cat(pooled, dim=1))
    assert torch.allclose(before, after) and torch.allclose(after, expected, atol=1e-6)
    assert small_model.fusion_head[1].in_features == 64 + 128 + 256
    with pytest.raises(UsageError, match="fusion='outputs'"):
        small_model.fusion_weights()


def test_every_tier_s_features_move_the_fused_prediction(small_model):
    small_model.eval()
    batch = _batch(64)
    with torch.no_grad():
        before = small_model(batch)["global"].clone()
        for width_start, width in ((0, 64), (64, 128), (192, 256)):
            weight = small_model.fusion_head[1].weight
            saved = weight[:, width_start : width_start + width].clone()
            weight[:, width_start : width_start + width] = 0.0
            assert not torch.allclose(small_model(batch)["global"], before)
            weight[:, width_start : width_start + width] = saved


def test_registered_ablations_differ_only_in_their_one_choice():
    from benchmarks.catalog import get_model

    paper = get_model("3tier").factory(num_classes=2, input_size=64)
    assert (paper.fusion, paper.schedule, get_model("3tier").needs_mask) == ("features", "validation-point", True)
    outputs = get_model("3tier-outputs").factory(num_classes=2, input_size=64)
    assert (outputs.fusion, outputs.schedule) == ("outputs", "validation-point")
    rgb = get_model("3tier-rgb")
    assert rgb.needs_mask is False
    rgb_model = rgb.factory(num_classes=2, input_size=64)
    assert rgb_model.bodies["tier1"][0][0].in_channels == 3 and rgb_model.fusion == "features"
    assert rgb_model(_batch(64)[:, :3])["global"].shape == (2, 2)
    end_to_end = get_model("3tier-end-to-end").factory(num_classes=2, input_size=64)
    assert (end_to_end.fusion, end_to_end.schedule) == ("features", "end-to-end")


@pytest.mark.parametrize(("fusion", "schedule"), [("sideways", "validation-point"), ("features", "all-at-once")])
def test_unknown_fusion_or_schedule_is_refused(fusion, schedule):
    with pytest.raises(UsageError, match="valid choices"):
        ThreeTierDCFNet(input_size=64, fusion=fusion, schedule=schedule)


def _trainable_ids(model: nn.Module) -> set[int]:
    return {id(parameter) for parameter in model.parameters() if parameter.requires_grad}


def test_tier_parameters_split_the_model(small_model):
    groups = [small_model.tier_parameters(name) for name in TIER_NAMES]
    groups += [small_model.fusion_parameters(), small_model.severity_parameters()]
    ids = [id(parameter) for group in groups for parameter in group]
    assert len(ids) == len(set(ids))  # no parameter in two groups
    assert set(ids) == {id(parameter) for parameter in small_model.parameters()}  # and none left out
    with pytest.raises(UsageError, match="tier1"):
        small_model.tier_parameters("tier4")


def test_set_trainable_freezes_exactly_what_is_not_named(small_model):
    small_model.set_trainable(["tier2"])
    assert _trainable_ids(small_model) == {id(parameter) for parameter in small_model.tier_parameters("tier2")}

    small_model.set_trainable([], fusion=True, severity=True)
    expected = small_model.fusion_parameters() + small_model.severity_parameters()
    assert _trainable_ids(small_model) == {id(parameter) for parameter in expected}

    small_model.set_trainable(TIER_NAMES, fusion=True, severity=True)
    assert _trainable_ids(small_model) == {id(parameter) for parameter in small_model.parameters()}


@pytest.mark.parametrize("tiers", [["tier9"], "tier1"])
def test_set_trainable_refuses_unknown_tiers(small_model, tiers):
    with pytest.raises(UsageError):
        small_model.set_trainable(tiers)


def test_frozen_batchnorm_stays_in_eval_after_train(small_model):
    small_model.set_trainable(["tier2"])
    small_model.eval()
    small_model.train()
    assert all(not layer.training for name in ("tier1", "tier3") for layer in _batchnorms(small_model.bodies[name]))
    assert all(layer.training for layer in _batchnorms(small_model.bodies["tier2"]))
    assert small_model.heads["tier1"].training  # only BatchNorm is pinned, the rest follows train()

    frozen_stats = [layer.running_mean.clone() for layer in _batchnorms(small_model.bodies["tier1"])]
    trained_stats = [layer.running_mean.clone() for layer in _batchnorms(small_model.bodies["tier2"])]
    small_model(_batch(64))
    after_frozen = [layer.running_mean for layer in _batchnorms(small_model.bodies["tier1"])]
    after_trained = [layer.running_mean for layer in _batchnorms(small_model.bodies["tier2"])]
    assert all(torch.equal(before, after) for before, after in zip(frozen_stats, after_frozen, strict=True))
    assert not all(torch.equal(before, after) for before, after in zip(trained_stats, after_trained, strict=True))


def test_unfreezing_restores_batchnorm_training(small_model):
    small_model.set_trainable(["tier3"])
    small_model.set_trainable(TIER_NAMES)
    small_model.train()
    assert all(layer.training for layer in _batchnorms(small_model))
    small_model.eval()
    assert not any(layer.training for layer in _batchnorms(small_model))


def test_weights_file_round_trip(tmp_path, small_model):
    path = tmp_path / "3tier.pth"
    torch.save(small_model.state_dict(), path)
    loaded = build_three_tier(num_classes=2, input_size=64, weights_path=path)
    for key, value in small_model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_missing_weights_file_is_a_data_error(tmp_path):
    path = tmp_path / "absent.pth"
    with pytest.raises(DataError, match="absent.pth"):
        build_three_tier(input_size=64, weights_path=path)


def test_weights_of_another_shape_are_a_data_error(tmp_path):
    path = tmp_path / "three_classes.pth"
    torch.save(ThreeTierDCFNet(num_classes=3, input_size=64).state_dict(), path)
    with pytest.raises(DataError, match="three_classes.pth") as error:
        build_three_tier(num_classes=2, input_size=64, weights_path=path)
    assert "heads.tier1.1.weight" in str(error.value)


def test_weights_with_foreign_keys_are_a_data_error(tmp_path):
    path = tmp_path / "foreign.pth"
    torch.save({"backbone.weight": torch.zeros(1)}, path)
    with pytest.raises(DataError, match="foreign.pth") as error:
        build_three_tier(input_size=64, weights_path=path)
    assert "backbone.weight" in str(error.value) and "missing keys" in str(error.value)
