"""The stages each kind of torch model trains through (see ``stages.py``)."""

from __future__ import annotations

from benchmarks.training.presets import Preset
from benchmarks.training.stages import Stage, label_objective, severity_objective, train_everything

TIERS = ("tier1", "tier2", "tier3")


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


def three_tier_stages(preset: Preset, anaemic_label: int) -> list[Stage]:
    """3-TierDCFNet: each tier until its validation point, then the fusion of the tier heads, then Module-II.

    Tier k trains its own body and head on the features of tiers < k, which are frozen (``tier_mode`` freeze)
    or keep training (finetune). The fusion stage learns only the fusion weights (freeze) or everything
    (finetune) and keeps the epoch with the best validation balanced accuracy of the global head; the
    severity head trains on anaemic training samples with a known or derived severity.
    """
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
    stages.append(
        Stage(
            "fusion",
            _trainable(fusion_trains, fusion=True),
            label_objective("global"),
            preset.epochs,
            select_task="module1",
            select_head="global",
            patience=preset.patience,
        )
    )
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
