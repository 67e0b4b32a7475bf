"""The stages each kind of torch model trains through (see ``stages.py``)."""

from __future__ import annotations

from benchmarks.models.three_tier import SCHEDULES, TIER_NAMES
from benchmarks.training.presets import Preset
from benchmarks.training.stages import (
    Stage,
    deep_supervision_objective,
    label_objective,
    severity_objective,
    train_everything,
)
from rbc_dataset.errors import check_choice

TIERS = TIER_NAMES


def cnn_stages(preset: Preset) -> list[Stage]:
    """A CNN baseline: every parameter, ``preset.epochs`` epochs, the epoch kept by validation balanced accuracy."""
    return [
        Stage(
            "classifier",
            train_everything,
            label_objective(None),
            preset.epochs,
            select_task="module1",
            select_head="global",
            patience=preset.patience,
        )
    ]


def _trainable(tiers: tuple[str, ...], fusion: bool = False, severity: bool = False):
    def prepare(model):
        model.set_trainable(tiers, fusion=fusion, severity=severity)
        return [p for p in model.parameters() if p.requires_grad]

    return prepare


def three_tier_stages(preset: Preset, anaemic_label: int, *, schedule: str = "validation-point") -> list[Stage]:
    """3-TierDCFNet: the tiers and the fusion (by ``schedule``), then Module-II.

    ``validation-point`` (the paper's): tier k trains its own body and head on the features of tiers < k, which are
    frozen (``tier_mode`` freeze) or keep training (finetune), until its training accuracy reaches the threshold;
    then the fusion stage learns only the fusion (freeze) or everything (finetune) and keeps the epoch with the
    best validation balanced accuracy of the global head. ``end-to-end`` (an ablation): one stage trains every
    tier and the fusion at once against the global loss plus the tier heads' losses, selected the same way. The
    severity head then trains on anaemic training samples with a known or derived severity.
    """
    check_choice("3tier schedule", schedule, choices=SCHEDULES)
    stages = _tier_stages(preset) if schedule == "validation-point" else [_end_to_end_stage(preset)]
    stages.append(
        Stage(
            "severity",
            _trainable((), severity=True),
            severity_objective(anaemic_label),
            preset.severity_epochs,
            select_task="module2",
            select_head="learned",
            patience=preset.patience,
        )
    )
    return stages


def _tier_stages(preset: Preset) -> list[Stage]:
    stages = []
    for k, tier in enumerate(TIERS):
        trains = TIERS[: k + 1] if preset.tier_mode == "finetune" else (tier,)
        stages.append(
            Stage(
                tier,
                _trainable(trains),
                label_objective(tier),
                preset.tier_max_epochs,
                threshold=preset.tier_threshold,
            )
        )
    fusion_trains = TIERS if preset.tier_mode == "finetune" else ()
    stages.append(_fusion_stage("fusion", _trainable(fusion_trains, fusion=True), label_objective("global"), preset))
    return stages


def _end_to_end_stage(preset: Preset) -> Stage:
    objective = deep_supervision_objective("global", TIERS)
    return _fusion_stage("end-to-end", _trainable(TIERS, fusion=True), objective, preset)


def _fusion_stage(name: str, prepare, objective, preset: Preset) -> Stage:
    """A stage that trains the global head and keeps its best validation epoch."""
    return Stage(
        name, prepare, objective, preset.epochs, select_task="module1", select_head="global", patience=preset.patience
    )
