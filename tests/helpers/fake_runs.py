"""Hand-made run folders in the layout of docs/RBC_BENCH.md, written the way the runner writes them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from benchmarks.evaluation.scoring import score_predictions

N_RESAMPLES = 100  # small: these tests check bookkeeping, not interval quality
TIERED_HEADS = ("tier1", "tier2", "tier3", "global")


def fake_severity(parents: np.ndarray) -> np.ndarray:
    """The dataset's severity of each tile's parent: anaemic parents 1, 5, 9... mild (0), 3, 7, 11... chronic (1).

    Healthy parents (even numbers) are -1, as the runner writes them.
    """
    parents = np.asarray(parents)
    return np.where(parents % 2 == 1, (parents // 2) % 2, -1)


def fake_predictions(skill: float, seed: int, heads=("global",), n_parents: int = 8, tiles: int = 3) -> pd.DataFrame:
    """Long-format predictions: half the parents anaemic; ``skill`` near 1 separates the classes well."""
    rng = np.random.default_rng(seed)
    parents = np.repeat(np.arange(n_parents), tiles)
    labels = (parents % 2).astype(int)
    frames = []
    for head in heads:
        noise = rng.normal(0.0, 0.25, size=parents.size)
        prob = np.clip(0.5 + (labels - 0.5) * skill * 0.6 + noise, 0.0, 1.0).round(3)
        frames.append(
            pd.DataFrame(
                {
                    "task": "module1",
                    "head": head,
                    "sample_id": [f"p{p}_t{i % tiles}" for i, p in enumerate(parents)],
                    "parent_id": [f"p{p}" for p in parents],
                    "group_id": [f"g{p}" for p in parents],
                    "label": labels,
                    "prob": prob,
                    "pred": (prob >= 0.5).astype(int),
                    "label_source": "dataset",
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _module2(table: pd.DataFrame, rule_labels: bool) -> pd.DataFrame:
    """Module-II rows of the anaemic samples; with ``rule_labels`` the learned head's labels came from the rule
    (and the rule head is not scored, as the runner does when the dataset gives no severity)."""
    anaemic = table[(table["head"] == "global") & (table["label"] == 1)]
    frames = []
    for head in ("learned",) if rule_labels else ("learned", "rule"):
        part = anaemic.assign(task="module2", head=head, label_source="rule" if rule_labels else "dataset")
        part["label"] = np.arange(len(part)) % 2
        frames.append(part)
    return pd.concat(frames, ignore_index=True)


def _with_options(
    table: pd.DataFrame, *, severity: bool, predict: Callable | None, model: str, seed: int
) -> pd.DataFrame:
    """``severity``: add the column (predictions before it lack it); ``predict``: replace prob and pred."""
    table = table.copy()
    parent_numbers = table["parent_id"].str.removeprefix("p").astype(int).to_numpy()
    if predict is not None:
        table["prob"] = np.clip(np.asarray(predict(table, model=model, seed=seed), dtype=np.float64), 0.0, 1.0)
        table["pred"] = (table["prob"] >= 0.5).astype(int)
    if severity:
        table["severity"] = fake_severity(parent_numbers)
    return table


def _summary_cases(models: dict[str, float], seeds, stages: dict[str, list[dict]]) -> list[dict]:
    """summary.json ``cases``: per torch model and seed its stage records; a feature baseline records its choice."""
    cases = []
    for model in models:
        for seed in seeds:
            if model in stages:
                cases.append({"case": f"{model}/seed{seed}", "stages": stages[model], "weights": "from scratch"})
            else:
                cases.append({"case": f"{model}/seed{seed}", "chosen": {"C": 1.0}})
    return cases


def write_fake_run(
    root: Path,
    name: str,
    models: dict[str, float],
    seeds=(0, 1),
    tiered=(),
    module2=(),
    folds: bool = False,
    n_parents: int = 8,
    rule_labels: bool = False,
    severity: bool = False,
    predict: Callable | None = None,
    stages: dict[str, list[dict]] | None = None,
) -> Path:
    """A complete run folder: predictions/, metrics.csv (via score_predictions), config.yaml, env.json, summary.

    ``n_parents`` test (and validation) parents of 3 tiles each; ``rule_labels``: Module-II labels derived by the rule.
    ``severity``: predictions carry the ``severity`` column (``fake_severity``); ``predict(table, model=, seed=)``
    returns the probability of anaemic of each row instead of the noisy default (pred follows at 0.5);
    ``stages``: model -> the stage records (``StageRecord.to_dict()``) of each of its cases in summary.json.
    """
    run = root / "3tier" / name
    rows = []
    for model, skill in models.items():
        heads = TIERED_HEADS if model in tiered else ("global",)
        for seed in seeds:
            for split_index, split in enumerate(("validation", "test")):
                table = fake_predictions(skill, seed * 10 + split_index, heads, n_parents=n_parents)
                if severity or predict is not None:
                    table = _with_options(table, severity=severity, predict=predict, model=model, seed=seed)
                if model in module2:
                    table = pd.concat([table, _module2(table, rule_labels)], ignore_index=True)
                fold_part = "_fold1" if folds else ""
                path = run / "predictions" / model / f"seed{seed}{fold_part}_{split}.csv"
                path.parent.mkdir(parents=True, exist_ok=True)
                table.to_csv(path, index=False)
                scored = score_predictions(table, n_resamples=N_RESAMPLES)
                for key, value in (("split", split), ("fold", 1 if folds else -1), ("seed", seed), ("model", model)):
                    scored.insert(0, key, value)
                rows.append(scored)
    pd.concat(rows, ignore_index=True).to_csv(run / "metrics.csv", index=False)
    (run / "config.yaml").write_text(yaml.safe_dump({"suite": "3tier", "data": f"/data/{name}", "seeds": list(seeds)}))
    (run / "env.json").write_text(json.dumps({"device": "cpu (test)", "command": f"rbc-bench run 3tier # {name}"}))
    summary = {"schema_version": 1, "skipped": {"vit": "no GPU"}}
    if stages is not None:
        summary["cases"] = _summary_cases(models, seeds, stages)
    (run / "summary.json").write_text(json.dumps(summary))
    return run
