"""Module-I recall per severity: how many mild and chronic anaemic test tiles a model calls anaemic.

Mild anaemia is the hard case: a model can reach a good balanced accuracy on chronic smears alone. The severity is
the dataset's (the predictions' optional ``severity`` column, 0 mild, 1 chronic, -1 unknown or healthy); a severity
the project's rule derived counts as unknown. Per case the recall of each severity gets a 95 % percentile bootstrap
interval over ``group_id`` (``rbc_dataset.stats``), and the report shows the mean over seeds of the recalls and of
the bounds, as the leaderboard does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.evaluation.run_tables import SEVERITY_NAMES, CaseTable, severity_column
from rbc_dataset.markup import md_code, md_text
from rbc_dataset.stats import group_resamples, percentile_interval

N_RESAMPLES = 1000
ALL_ANAEMIC = "anaemic (all)"
NOT_RECORDED = "not recorded"
NO_KNOWN = "no anaemic test tile with a known severity"
SEVERITY_COLUMNS: tuple[str, ...] = (
    "run",
    "model",
    "head",
    "severity",
    "recall_mean",
    "recall_std",
    "recall_ci_low",
    "recall_ci_high",
    "n_seeds",
    "n_test",
    "n_test_parents",
    "status",
)


def group_recall(hit: np.ndarray, groups: np.ndarray, *, n_resamples: int = N_RESAMPLES, seed: int = 0) -> tuple:
    """(recall, CI low, CI high) of 0/1 ``hit`` values, the interval by resampling ``groups``; NaNs when empty."""
    hit = np.asarray(hit, dtype=np.float64)
    if hit.size == 0:
        return float("nan"), float("nan"), float("nan")
    # Every resample draws groups of these samples only, so no resample weighs nothing.
    values = np.concatenate([(w @ hit) / w.sum(axis=1) for w in group_resamples(groups, n_resamples, seed=seed)])
    low, high = percentile_interval(values, level=0.95)
    return float(hit.mean()), low, high


def _case_recalls(case: CaseTable, derived: set[str], *, n_resamples: int) -> dict[str, dict]:
    """Severity name -> recall, bounds and sizes of one case's anaemic global-head tiles."""
    table = case.table
    severity = np.where(table["sample_id"].isin(derived).to_numpy(), -1, severity_column(table))
    anaemic = table["label"].to_numpy() == 1
    hit = (table["pred"].to_numpy() == 1).astype(np.float64)
    found = {}
    for name, keep in (
        *((name, anaemic & (severity == code)) for code, name in SEVERITY_NAMES.items()),
        (ALL_ANAEMIC, anaemic),
    ):
        recall, low, high = group_recall(hit[keep], table["group_id"].to_numpy()[keep], n_resamples=n_resamples)
        parents = table.loc[keep, "parent_id"].nunique()
        found[name] = {"recall": recall, "low": low, "high": high, "n": int(keep.sum()), "parents": int(parents)}
    return found


def _row(run: str, model: str, *, severity: str, per_seed: list[dict], status: str) -> dict:
    recalls = np.array([seed["recall"] for seed in per_seed], dtype=np.float64)
    defined = recalls[np.isfinite(recalls)]
    return {
        "run": run,
        "model": model,
        "head": "global",
        "severity": severity,
        "recall_mean": float(defined.mean()) if defined.size else float("nan"),
        "recall_std": float(defined.std(ddof=1)) if defined.size > 1 else float("nan"),
        "recall_ci_low": float(np.nanmean([s["low"] for s in per_seed])) if defined.size else float("nan"),
        "recall_ci_high": float(np.nanmean([s["high"] for s in per_seed])) if defined.size else float("nan"),
        "n_seeds": len(per_seed),
        "n_test": max((s["n"] for s in per_seed), default=0),
        "n_test_parents": max((s["parents"] for s in per_seed), default=0),
        "status": status,
    }


def severity_recall_rows(
    run: str, by_model: dict[str, list[CaseTable]], *, derived: set[str] = frozenset(), n_resamples: int = N_RESAMPLES
) -> list[dict]:
    """Rows (``SEVERITY_COLUMNS``) of mild, chronic and all anaemic recall per model of one run.

    Args:
        run: the run's label.
        by_model: model -> its Module-I global-head test cases (``run_tables.rows_by_model``).
        derived: samples whose severity the rule derived (counted as unknown).
        n_resamples: bootstrap resamples per case.

    Returns:
        Three rows per model; a model whose predictions lack ``severity`` has status ``not recorded`` and NaN recalls.
    """
    rows = []
    for model, cases in sorted(by_model.items()):
        if any(severity_column(case.table) is None for case in cases):
            # One empty record per case, so that the row still counts the model's seeds.
            nothing = {"recall": float("nan"), "low": float("nan"), "high": float("nan"), "n": 0, "parents": 0}
            empty = [nothing] * len(cases)
            rows += [
                _row(run, model, severity=name, per_seed=empty, status=NOT_RECORDED)
                for name in (*SEVERITY_NAMES.values(), ALL_ANAEMIC)
            ]
            continue
        per_case = [_case_recalls(case, derived, n_resamples=n_resamples) for case in cases]
        known = any(found[name]["n"] for found in per_case for name in SEVERITY_NAMES.values())
        status = "recorded" if known else NO_KNOWN
        for name in (*SEVERITY_NAMES.values(), ALL_ANAEMIC):
            rows.append(_row(run, model, severity=name, per_seed=[found[name] for found in per_case], status=status))
    return rows


def _cell(row: dict | None) -> str:
    if row is None or row["status"] == NOT_RECORDED:
        return NOT_RECORDED
    if not np.isfinite(row["recall_mean"]):
        return "n/a"
    text = f"{row['recall_mean']:.3f}"
    text += f" ± {row['recall_std']:.3f}" if np.isfinite(row["recall_std"]) else ""
    if np.isfinite(row["recall_ci_low"]) and np.isfinite(row["recall_ci_high"]):
        text += f" [{row['recall_ci_low']:.3f}, {row['recall_ci_high']:.3f}]"
    return f"{text}, {row['n_test']} ({row['n_test_parents']})"


def severity_markdown(rows: list[dict], *, derived: int = 0) -> list[str]:
    """The Markdown section of ``severity_recall_rows``: one line per model, mild first (lowest mild recall last)."""
    lines = ["## Module I recall per severity (mild anaemia is the hard case)", ""]
    if not rows:
        return [*lines, "No Module-I test predictions with a global head in these runs.", ""]
    lines += [
        "Split: **test**, head `global`. Share of the anaemic test tiles of each severity (the dataset's: on a "
        "synthetic build, the synthetic truth) that the model calls anaemic. Each cell: mean ± std over seeds "
        f"[mean of the per-seed 95 % bootstrap bounds over `group_id`, {N_RESAMPLES} resamples], then tiles "
        "(parents) per seed. Same numbers in `severity_recall.csv`.",
        "",
    ]
    if derived:
        lines += [f"{derived} anaemic test tiles whose severity the project's rule derived count as unknown.", ""]
    if any(row["status"] == NOT_RECORDED for row in rows):
        lines += [
            f"{NOT_RECORDED.capitalize()}: the run's predictions have no `severity` column (written before it "
            "existed); a new run writes it.",
            "",
        ]
    table = pd.DataFrame(rows)
    header = ["model", "mild", "chronic", ALL_ANAEMIC, "seeds", "run"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    keyed = {(row["run"], row["model"], row["severity"]): row for row in rows}
    order = table[table["severity"] == "mild"].sort_values(["recall_mean", "model"], ascending=[False, True])
    for _, mild in order.iterrows():
        run, model = mild["run"], mild["model"]
        cells = [_cell(keyed.get((run, model, name))) for name in (*SEVERITY_NAMES.values(), ALL_ANAEMIC)]
        if mild["status"] == NO_KNOWN:
            cells[:2] = [NO_KNOWN, NO_KNOWN]
        lines.append("| " + " | ".join([md_code(model), *cells, str(mild["n_seeds"]), md_text(run)]) + " |")
    return [*lines, ""]
