"""Training as a list of stages: a CNN is one stage; 3-TierDCFNet is tier 1, tier 2, tier 3, fusion, severity.

A stage trains some parameters against one objective, stopping either after a fixed number of epochs or, for a
tier, at its "validation point": as soon as the tier's training accuracy reaches a threshold (3-TierDCFNet,
Shahzad et al. 2022), or at a maximum number of epochs, which is then reported as "threshold not reached".
Stages that select an epoch do so on the validation split only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F

# An objective maps (model outputs, batch on the device) to (loss, correct predictions, counted predictions); the
# counts make the stage's training accuracy. A batch with nothing to learn gives a zero loss still tied to the graph,
# so that every DDP process takes the same steps.
Objective = Callable[[object, dict], tuple[torch.Tensor, int, int]]


@dataclass(frozen=True)
class Stage:
    """One stage of a training."""

    name: str  # e.g. "classifier", "tier1", "fusion", "severity"
    prepare: Callable[[torch.nn.Module], list[torch.nn.Parameter]]  # sets requires_grad, returns what trains
    objective: Objective  # the loss of this stage
    max_epochs: int  # epochs at most
    threshold: float | None = None  # stop once the training accuracy reaches this (the tier validation point)
    select_task: str | None = None  # keep the epoch with the best validation balanced accuracy of this task ...
    select_head: str | None = None  # ... and head ("module1"/"global", "module2"/"learned")
    patience: int = 0  # early stopping: stop after this many epochs without a better validation score (0: off)


@dataclass
class StageRecord:
    """What happened in one stage (saved in checkpoints and summary.json)."""

    name: str
    train_accuracy: list[float] = field(default_factory=list)  # per epoch, measured on the fly while training
    train_loss: list[float] = field(default_factory=list)
    validation_score: list[float] = field(default_factory=list)  # per epoch when the stage selects on validation
    threshold: float | None = None
    reached_threshold: bool | None = None  # None for stages without a threshold
    selected_epoch: int | None = None  # 1-based epoch kept after validation selection (None: the last)
    selected_on: str | None = None  # what chose it: "balanced accuracy", or "loss" where the accuracy is undefined
    stopped_early: bool = False  # ended by ``patience`` before max_epochs
    learning_rate: list[float] = field(default_factory=list)  # per epoch, the rate the epoch trained with
    done: bool = False

    @property
    def epochs(self) -> int:
        return len(self.train_accuracy)

    def to_dict(self) -> dict:
        return {**asdict(self), "epochs": self.epochs}


def epochs_since_best(scores: list[float]) -> int:
    """Epochs after the first best validation score (undefined scores never count as best)."""
    defined = [k for k, score in enumerate(scores) if score == score]
    if not defined:
        return 0
    best = max(defined, key=lambda k: (scores[k], -k))
    return len(scores) - 1 - best


def stage_finished(stage: Stage, record: StageRecord) -> bool:
    """Whether ``stage`` stops after the epochs in ``record``: threshold reached, patience run out, or out of epochs."""
    if stage.threshold is not None and record.train_accuracy and record.train_accuracy[-1] >= stage.threshold:
        record.reached_threshold = True
        return True
    if (
        stage.patience
        and record.epochs < stage.max_epochs
        and epochs_since_best(record.validation_score) >= stage.patience
    ):
        record.stopped_early = True
        return True
    if record.epochs >= stage.max_epochs:
        if stage.threshold is not None:
            record.reached_threshold = False
        return True
    return False


def label_objective(key: str | None) -> Objective:
    """Cross-entropy on ``label`` of output ``key`` (None: the model returns logits directly)."""

    def objective(outputs, batch: dict):
        logits = outputs if key is None else outputs[key]
        labels = batch["label"]
        loss = F.cross_entropy(logits.float(), labels)
        correct = int((logits.argmax(1) == labels).sum())
        return loss, correct, len(labels)

    return objective


def deep_supervision_objective(key: str, auxiliary: tuple[str, ...]) -> Objective:
    """Cross-entropy of output ``key`` plus the mean cross-entropy of the ``auxiliary`` heads; accuracy of ``key``.

    Training every tier with the fused head at once would leave the tier heads untrained; their own losses keep each
    tier's features predictive on their own, as the tier-by-tier schedule does.
    """
    main = label_objective(key)

    def objective(outputs, batch: dict):
        loss, correct, counted = main(outputs, batch)
        extra = [F.cross_entropy(outputs[name].float(), batch["label"]) for name in auxiliary]
        return loss + torch.stack(extra).mean(), correct, counted

    return objective


def severity_objective(anaemic_label: int, key: str = "severity") -> Objective:
    """Cross-entropy on ``severity`` (0 mild, 1 chronic) for anaemic samples whose severity is known."""

    def objective(outputs, batch: dict):
        known = (batch["label"] == anaemic_label) & (batch["severity"] >= 0)
        if not bool(known.any()):
            return outputs[key].sum() * 0.0, 0, 0
        logits, target = outputs[key][known], batch["severity"][known]
        loss = F.cross_entropy(logits.float(), target)
        return loss, int((logits.argmax(1) == target).sum()), int(known.sum())

    return objective


def train_everything(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """``prepare`` of a single-stage model: every parameter trains."""
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    return list(model.parameters())
