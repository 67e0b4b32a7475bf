"""One case = one model x seed (x fold): train, select on validation, then look at the test split once.

Each case writes its validation and test predictions (docs/RBC_BENCH.md); scoring reads only those files, so
``rbc-bench score`` reproduces the run's metrics from the run folder alone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import balanced_accuracy_score, log_loss

from benchmarks.evaluation.cascade import cascade_calls, cascade_truth
from benchmarks.evaluation.scoring import CASCADE_TASK
from benchmarks.models.registry import ModelSpec
from benchmarks.suite.protocol import TestSplitGuard
from benchmarks.suite.run_folder import RunFolder, case_name
from benchmarks.suite.split_data import SplitData
from benchmarks.training.loop import TrainContext, predict, train_stages
from benchmarks.training.recipes import cnn_stages, three_tier_stages

ID_COLUMNS = ("sample_id", "parent_id", "group_id")


@dataclass(frozen=True)
class CaseSetup:
    """What every case of a run shares."""

    run: RunFolder
    guard: TestSplitGuard  # hands out the test SplitData once per case
    anaemic: int | None  # label of the anaemic class (Module-II), None without one
    context: TrainContext  # device, preset, progress, log (seed and mask are set per case)
    severity_rule: dict  # split name -> rule predictions table (sample_id, prob, pred), filled lazily


def _rows(table: pd.DataFrame, keep: np.ndarray, *, task: str, head: str, labels, prob) -> pd.DataFrame:
    frame = table.loc[keep, list(ID_COLUMNS)].copy()
    frame.insert(0, "head", head)
    frame.insert(0, "task", task)
    frame["label"] = np.asarray(labels)[keep].astype(int)
    frame["prob"] = np.clip(np.asarray(prob, dtype=np.float64)[keep], 0.0, 1.0)
    frame["pred"] = (frame["prob"] >= 0.5).astype(int)
    frame["label_source"] = "dataset"
    # The dataset's severity (-1 unknown; never a rule-derived one), so Module-I recall can be split by severity.
    known = "dataset_severity" if "dataset_severity" in table else "severity"
    frame["severity"] = table.loc[keep, known].to_numpy(dtype=int)
    return frame


def prediction_frame(data: SplitData, probs: dict[str, np.ndarray], *, anaemic: int | None) -> pd.DataFrame:
    """Long-format predictions: module1 for every head, module2 (``learned``) on anaemic samples with a severity.

    A module2 row whose severity the rule derived (the dataset gives none) has ``label_source`` ``rule``: scores
    on such rows grade the head against the project's own rule, and every report marks them.
    """
    table = data.table.assign(dataset_severity=data.known_severity)
    everyone = np.ones(len(table), dtype=bool)
    frames = [
        _rows(table, everyone, task="module1", head=head, labels=table["label"], prob=prob)
        for head, prob in probs.items()
        if head != "severity"
    ]
    if "severity" in probs and anaemic is not None:
        known = (table["label"].to_numpy() == anaemic) & (table["severity"].to_numpy() >= 0)
        if known.any():
            frame = _rows(
                table, known, task="module2", head="learned", labels=table["severity"], prob=probs["severity"]
            )
            frame["label_source"] = np.where(data.known_severity[known] < 0, "rule", "dataset")
            frames.append(frame)
        frames.append(
            cascade_frame(data, probs["global"], chronic=probs["severity"] >= 0.5, head="learned", anaemic=anaemic)
        )
    return pd.concat(frames, ignore_index=True)


def cascade_frame(data: SplitData, module1_prob, *, chronic, head: str, anaemic: int) -> pd.DataFrame | None:
    """Cascade rows (healthy / mild / chronic) where the dataset knows all three: Module II on Module I's calls.

    ``chronic`` is Module II's call (1 chronic, 0 mild) for every sample; it counts only where Module I says anaemic.
    ``prob`` is Module I's probability of class 1, so the rows keep the predictions format.
    """
    table = data.table
    truth = cascade_truth(table["label"].to_numpy(), data.known_severity, anaemic=anaemic)
    module1_pred = (np.asarray(module1_prob) >= 0.5).astype(int)
    calls = cascade_calls(module1_pred, np.asarray(chronic, dtype=int), anaemic=anaemic)
    if not (truth > 0).any():  # no anaemic sample of known severity: only Module I would be scored
        return None
    keep = truth >= 0
    frame = _rows(table, keep, task=CASCADE_TASK, head=head, labels=truth, prob=module1_prob)
    frame["pred"] = calls[keep]
    return frame


def rule_frame(data: SplitData, rule: pd.DataFrame) -> pd.DataFrame | None:
    """Module-II by the rule, scored only where the dataset itself knows the severity (a derived label is circular)."""
    known = data.known_severity >= 0
    table = data.table.assign(severity=data.known_severity)
    merged = table.merge(rule[["sample_id", "prob", "pred"]], on="sample_id", how="left")
    keep = known & (merged["pred"].fillna(-1).to_numpy() >= 0)
    if not keep.any():
        return None
    frame = _rows(merged, keep, task="module2", head="rule", labels=merged["severity"], prob=merged["prob"].fillna(0.0))
    frame["pred"] = merged.loc[keep, "pred"].astype(int).to_numpy()
    return frame


def _rule_cascade(data: SplitData, module1_prob, rule: pd.DataFrame, *, anaemic: int) -> pd.DataFrame | None:
    """The cascade with the severity rule as Module II; a sample the rule cannot call (no cells) counts as mild."""
    calls = data.table[["sample_id"]].merge(rule[["sample_id", "pred"]], on="sample_id", how="left")["pred"]
    return cascade_frame(data, module1_prob, chronic=calls.fillna(0).to_numpy() == 1, head="rule", anaemic=anaemic)


def validation_scores(probs: dict[str, np.ndarray], table: pd.DataFrame, *, anaemic: int | None) -> dict:
    """Scores on the validation split, the only thing selection may look at.

    ``{(task, head): balanced accuracy}`` where both classes are present, and ``{(task + "/loss", head): log loss}``
    wherever there is at least one sample: selection falls back to the loss when the accuracy is undefined.
    """
    labels, severity = table["label"].to_numpy(), table["severity"].to_numpy()
    scores = {}
    for head, prob in probs.items():
        if head == "severity":
            known = (labels == anaemic) & (severity >= 0) if anaemic is not None else np.zeros(len(labels), bool)
            scores |= _scored("module2", "learned", severity[known], prob[known])
        else:
            scores |= _scored("module1", head, labels, prob)
    return scores


def _scored(task: str, head: str, truth: np.ndarray, prob: np.ndarray) -> dict:
    if len(truth) == 0:
        return {}
    scores = {(f"{task}/loss", head): log_loss(truth, np.clip(prob, 1e-7, 1 - 1e-7), labels=[0, 1])}
    if len(np.unique(truth)) == 2:
        scores[(task, head)] = balanced_accuracy_score(truth, prob >= 0.5)
    return scores


def _weights(spec: ModelSpec, weights_dir: str) -> Path | None:
    if not weights_dir or spec.family != "cnn":
        return None
    path = Path(weights_dir) / f"{spec.name}.pth"
    return path if path.is_file() else None


def run_torch_case(
    spec: ModelSpec, seed: int, *, fold: int, train: SplitData, val: SplitData, setup: CaseSetup
) -> dict:
    """Train a torch model through its stages, choose on validation, predict validation then test (once)."""
    preset, case = setup.context.preset, case_name(spec.name, seed, fold=fold)
    ctx = replace(setup.context, seed=seed, with_mask=spec.needs_mask)
    torch.manual_seed(seed)
    np.random.seed(seed)
    model = spec.factory(num_classes=2, input_size=preset.build_size, weights_path=_weights(spec, preset.weights_dir))
    model = model.to(ctx.device, memory_format=torch.channels_last if preset.channels_last else torch.preserve_format)
    tiered = spec.family == "tiered"
    stages = three_tier_stages(preset, setup.anaemic, schedule=model.schedule) if tiered else cnn_stages(preset)
    val_source = val.source(spec.needs_mask)

    def validate(current) -> dict:
        return validation_scores(predict(current, val_source, ctx=ctx), val.table, anaemic=setup.anaemic)

    checkpoint = setup.run.checkpoint_path(spec.name, seed, fold=fold)
    records = train_stages(
        model, stages, source=train.source(spec.needs_mask), ctx=ctx, checkpoint=checkpoint, validate=validate
    )
    if ctx.is_main:
        val_probs = predict(model, val_source, ctx=ctx)
        setup.run.write_csv(
            _relative(setup, spec, seed=seed, fold=fold, split="validation"),
            prediction_frame(val, val_probs, anaemic=setup.anaemic),
        )
        setup.guard.close_selection(case)
        test = setup.guard.final_test(case)
        test_probs = predict(model, test.source(spec.needs_mask), ctx=ctx)
        frames = [prediction_frame(test, test_probs, anaemic=setup.anaemic)]
        if spec.family == "tiered" and "test" in setup.severity_rule:
            rule = setup.severity_rule["test"]
            frames.append(rule_frame(test, rule))  # None (dropped) without known labels
            frames.append(_rule_cascade(test, test_probs["global"], rule, anaemic=setup.anaemic))
        setup.run.write_csv(
            _relative(setup, spec, seed=seed, fold=fold, split="test"), pd.concat(frames, ignore_index=True)
        )
    weights = _weights(spec, preset.weights_dir)
    return {
        "case": case,
        "stages": [record.to_dict() for record in records],
        "weights": f"ImageNet ({weights})" if weights is not None else "from scratch",
    }


def run_feature_case(
    spec: ModelSpec, seed: int, *, fold: int, train: SplitData, val: SplitData, setup: CaseSetup
) -> dict:
    """Fit a scikit-learn baseline (hyper-parameters chosen on validation), predict validation then test (once)."""
    case = case_name(spec.name, seed, fold=fold)
    baseline = spec.factory()
    baseline.workers = setup.context.preset.workers  # feature extraction is per image: parallel over processes
    x_train, x_val = train.features(spec.name, baseline.extract), val.features(spec.name, baseline.extract)
    chosen = baseline.fit(
        x_train, train.table["label"].to_numpy(), val_X=x_val, val_y=val.table["label"].to_numpy(), seed=seed
    )
    val_probs = {"global": baseline.predict_proba(x_val)}
    setup.run.write_csv(
        _relative(setup, spec, seed=seed, fold=fold, split="validation"), prediction_frame(val, val_probs, anaemic=None)
    )
    setup.guard.close_selection(case)
    test = setup.guard.final_test(case)
    test_probs = {"global": baseline.predict_proba(test.features(spec.name, baseline.extract))}
    setup.run.write_csv(
        _relative(setup, spec, seed=seed, fold=fold, split="test"), prediction_frame(test, test_probs, anaemic=None)
    )
    return {"case": case, "chosen": chosen}


def _relative(setup: CaseSetup, spec: ModelSpec, *, seed: int, fold: int, split: str) -> str:
    return str(setup.run.predictions_path(spec.name, seed, fold=fold, split=split).relative_to(setup.run.path))
