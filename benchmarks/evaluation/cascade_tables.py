"""Two report tables from runs' own records: the healthy / mild / chronic cascade, and shortcut reliance.

The cascade rows come from metrics.csv (task ``cascade``, test split); shortcut reliance from the summary.json of an
``rbc-bench external-test`` folder (a finished run's models scored on another build's test split).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rbc_dataset.markup import md_code

CASCADE_COLUMNS = (
    "run",
    "model",
    "head",
    "balanced_accuracy_mean",
    "balanced_accuracy_ci_low",
    "balanced_accuracy_ci_high",
    "recall_healthy",
    "recall_mild",
    "recall_chronic",
    "oracle_module2_balanced_accuracy",
    "n_seeds",
    "n_test",
)
RELIANCE_COLUMNS = (
    "run",
    "source_run",
    "model",
    "internal_balanced_accuracy",
    "external_balanced_accuracy",
    "external_ci_low",
    "external_ci_high",
    "shortcut_reliance",
)


def cascade_rows(runs) -> list[dict]:
    """Per run, model and Module-II head: the cascade's test scores, mean over seeds, beside the oracle Module II.

    The interval is the mean of the seeds' group-bootstrap bounds (one seed: that seed's interval).
    """
    rows = []
    for run in runs:
        test = run.metrics[run.metrics["split"] == "test"]
        cascade = test[test["task"] == "cascade"]
        for (model, head), cases in cascade.groupby(["model", "head"], sort=True):
            oracle = test[(test["task"] == "module2") & (test["model"] == model) & (test["head"] == head)]
            rows.append(
                {
                    "run": run.label,
                    "model": model,
                    "head": head,
                    "balanced_accuracy_mean": cases["balanced_accuracy"].mean(),
                    "balanced_accuracy_ci_low": cases["balanced_accuracy_ci_low"].mean(),
                    "balanced_accuracy_ci_high": cases["balanced_accuracy_ci_high"].mean(),
                    "recall_healthy": cases["recall_0"].mean(),
                    "recall_mild": cases["recall_1"].mean(),
                    "recall_chronic": cases["recall_2"].mean() if "recall_2" in cases else np.nan,
                    "oracle_module2_balanced_accuracy": oracle["balanced_accuracy"].mean() if len(oracle) else np.nan,
                    "n_seeds": cases["seed"].nunique(),
                    "n_test": int(cases["n"].iloc[0]),
                }
            )
    return rows


def reliance_rows(runs) -> list[dict]:
    """One row per model of every external-test folder among ``runs``: internal, external and their difference."""
    rows = []
    for run in runs:
        summary = run.summary or {}
        if not summary.get("external_test"):
            continue
        for model, record in sorted((summary.get("models") or {}).items()):
            low, high = (list(record.get("external_ci") or []) + [np.nan, np.nan])[:2]
            rows.append(
                {
                    "run": run.label,
                    "source_run": summary.get("source_run", ""),
                    "model": model,
                    "internal_balanced_accuracy": record.get("internal_balanced_accuracy"),
                    "external_balanced_accuracy": record.get("external_balanced_accuracy"),
                    "external_ci_low": low,
                    "external_ci_high": high,
                    "shortcut_reliance": record.get("shortcut_reliance"),
                }
            )
    return rows


def _number(value) -> str:
    return "-" if value is None or pd.isna(value) else f"{float(value):.3f}"


def cascade_markdown(rows: list[dict]) -> list[str]:
    """The cascade section (empty without rows)."""
    if not rows:
        return []
    lines = [
        "## Module I then Module II: the cascade (healthy / mild / chronic)",
        "",
        "Split: **test**, every sample whose three classes the dataset knows. Module II reads only the samples "
        "Module I calls anaemic; `oracle` is Module II on the truly anaemic samples (the `module2` rows). Balanced "
        "accuracy is the mean of the three recalls (chance 0.333); interval: mean of the seeds' group-bootstrap "
        "bounds.",
        "",
        "| model | Module II | balanced acc. [95 % CI] | healthy | mild | chronic | oracle Module II | seeds | n |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        interval = f"[{_number(row['balanced_accuracy_ci_low'])}, {_number(row['balanced_accuracy_ci_high'])}]"
        cells = (
            md_code(row["model"]),
            md_code(row["head"]),
            f"{_number(row['balanced_accuracy_mean'])} {interval}",
            _number(row["recall_healthy"]),
            _number(row["recall_mild"]),
            _number(row["recall_chronic"]),
            _number(row["oracle_module2_balanced_accuracy"]),
            str(row["n_seeds"]),
            str(row["n_test"]),
        )
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def reliance_markdown(rows: list[dict]) -> list[str]:
    """The shortcut-reliance section (empty without external-test folders)."""
    if not rows:
        return []
    lines = [
        "## Shortcut reliance (external tests)",
        "",
        "A finished run's models scored on another build's test split (`rbc-bench external-test`). With paired "
        "builds (`synth --shortcut colour` and the plain set, one seed) the parents are the same and only the "
        "shortcut differs: reliance = internal − external balanced accuracy; near 0 means the model did not need it.",
        "",
        "| external test | model | internal | external [95 % CI] | reliance |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        external = (
            f"{_number(row['external_balanced_accuracy'])} "
            f"[{_number(row['external_ci_low'])}, {_number(row['external_ci_high'])}]"
        )
        cells = (
            md_code(row["run"]),
            md_code(row["model"]),
            _number(row["internal_balanced_accuracy"]),
            external,
            _number(row["shortcut_reliance"]),
        )
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]
