"""3-TierDCFNet's training schedules: tier by tier to validation points, or end to end with deep supervision."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from benchmarks.models.three_tier import TIER_NAMES, ThreeTierDCFNet
from benchmarks.training.batches import MemorySource
from benchmarks.training.loop import TrainContext, train_stages
from benchmarks.training.presets import PRESETS
from benchmarks.training.recipes import three_tier_stages
from benchmarks.training.stages import deep_supervision_objective
from rbc_dataset.errors import UsageError

PRESET = dataclasses.replace(
    PRESETS["cpu-smoke"], input_size=32, batch_size=8, epochs=2, tier_max_epochs=1, severity_epochs=1, patience=0
)


def test_the_schedules_name_their_stages():
    paper = [stage.name for stage in three_tier_stages(PRESET, 1)]
    assert paper == ["tier1", "tier2", "tier3", "fusion", "severity"]
    end_to_end = three_tier_stages(PRESET, 1, schedule="end-to-end")
    assert [stage.name for stage in end_to_end] == ["end-to-end", "severity"]
    assert end_to_end[0].threshold is None and (end_to_end[0].select_task, end_to_end[0].select_head) == (
        "module1",
        "global",
    )
    with pytest.raises(UsageError, match="valid choices"):
        three_tier_stages(PRESET, 1, schedule="all-at-once")


def test_deep_supervision_adds_the_mean_tier_loss_to_the_global_loss():
    generator = torch.Generator().manual_seed(0)
    outputs = {name: torch.randn(6, 2, generator=generator) for name in ("global", *TIER_NAMES)}
    labels = torch.tensor([0, 1, 0, 1, 1, 0])
    loss, correct, counted = deep_supervision_objective("global", TIER_NAMES)(outputs, {"label": labels})
    tiers = torch.stack([F.cross_entropy(outputs[name], labels) for name in TIER_NAMES]).mean()
    assert torch.isclose(loss, F.cross_entropy(outputs["global"], labels) + tiers)
    assert counted == 6 and correct == int((outputs["global"].argmax(1) == labels).sum())


def _source(n=16) -> MemorySource:
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % 2
    images = torch.randint(0, 100, (n, 3, 32, 32), generator=generator, dtype=torch.uint8)
    images[labels == 1] += 100
    return MemorySource(images, None, labels, torch.full((n,), -1))


def _snapshot(module: torch.nn.Module) -> list[torch.Tensor]:
    return [parameter.detach().clone() for parameter in module.parameters()]


def _moved(module: torch.nn.Module, before: list[torch.Tensor]) -> bool:
    return any(not torch.equal(now, was) for now, was in zip(module.parameters(), before, strict=True))


def test_end_to_end_trains_every_tier_and_the_fusion_in_one_stage():
    torch.manual_seed(0)
    model = ThreeTierDCFNet(input_size=32, in_channels=3, schedule="end-to-end")
    before = {name: _snapshot(model.bodies[name]) for name in TIER_NAMES}
    fusion, severity = _snapshot(model.fusion_head), _snapshot(model.severity_head)
    ctx = TrainContext(
        device=torch.device("cpu"), preset=PRESET, seed=0, with_mask=False, show_progress=False, log=lambda m: None
    )
    stages = three_tier_stages(PRESET, 1, schedule=model.schedule)
    records = train_stages(model, stages[:1], source=_source(), ctx=ctx)
    assert records[0].name == "end-to-end" and records[0].epochs == PRESET.epochs
    assert all(_moved(model.bodies[name], before[name]) for name in TIER_NAMES)
    assert _moved(model.fusion_head, fusion)
    assert not _moved(model.severity_head, severity)  # Module-II trains in its own stage afterwards
