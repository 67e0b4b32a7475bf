"""Hand-made run folders in the layout of docs/RBC_BENCH.md, written the way the runner writes them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from benchmarks.evaluation.scoring import score_predictions

N_RESAMPLES = 100  # small: these tests check bookkeeping, not interval quality
TIERED_HEADS = ("tier1", "tier2", "tier3", "global")


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
) -> Path:
    """A complete run folder: predictions/, metrics.csv (via score_predictions), config.yaml, env.json, summary.

    ``n_parents`` test (and validation) parents of 3 tiles each; ``rule_labels``: Module-II labels derived by the rule.
    """
    run = root / "3tier" / name
    rows = []
    for model, skill in models.items():
        heads = TIERED_HEADS if model in tiered else ("global",)
        for seed in seeds:
            for split_index, split in enumerate(("validation", "test")):
                table = fake_predictions(skill, seed * 10 + split_index, heads, n_parents=n_parents)
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
    (run / "summary.json").write_text(json.dumps({"schema_version": 1, "skipped": {"vit": "no GPU"}}))
    return run
