"""Per-parent errors: which test parent images a model gets wrong, so a user can open them.

A parent image is cut into tiles; a model that fails on one smear fails on most of its tiles. Per model (Module I,
global head, test split) every test parent gets one row, pooled over the model's seeds (and folds), worst first.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.evaluation.run_tables import SEVERITY_NAMES, CaseTable, severity_column
from rbc_dataset.markup import md_code, md_text

WORST_SHOWN = 3
CLASS_NAMES: dict[int, str] = {0: "healthy", 1: "anaemic", -1: "mixed"}
PARENT_COLUMNS: tuple[str, ...] = (
    "parent_id",
    "group_id",
    "label",
    "severity",
    "tiles",
    "seeds",
    "mean_prob",
    "tiles_wrong",
    "share_wrong",
)


def _severity_names(table: pd.DataFrame, derived: set[str]) -> pd.Series:
    codes = severity_column(table)
    if codes is None:
        return pd.Series("not recorded", index=table.index)
    codes = np.where(table["sample_id"].isin(derived).to_numpy(), -1, codes)
    healthy = table["label"].to_numpy() == 0
    names = [
        SEVERITY_NAMES.get(int(code), "-" if well else "unknown") for code, well in zip(codes, healthy, strict=True)
    ]
    return pd.Series(names, index=table.index)


def _one_or_mixed(values: pd.Series, mixed):
    return values.iloc[0] if values.nunique() == 1 else mixed


def parent_errors(cases: list[CaseTable], *, derived: set[str] = frozenset()) -> pd.DataFrame:
    """One row per test parent of one model's cases (Module-I global-head rows), worst first.

    Args:
        cases: the model's cases (``run_tables.rows_by_model``), one per seed (and fold).
        derived: samples whose severity the rule derived (shown as unknown).

    Returns:
        ``PARENT_COLUMNS``: ``label`` 0 healthy / 1 anaemic (-1 if the parent's tiles disagree); ``severity``
        mild, chronic, unknown, ``-`` (healthy) or ``not recorded`` (older runs); ``tiles`` distinct tiles;
        ``seeds`` cases pooled;
        ``mean_prob`` mean probability of anaemic over tiles and seeds; ``tiles_wrong`` wrong tiles, mean over seeds;
        ``share_wrong`` share of wrong tile predictions. Sorted by ``share_wrong`` (then the most confident errors,
        then ``parent_id``).
    """
    frames = []
    for case in cases:
        table = case.table
        frames.append(
            table.assign(
                case_key=f"{case.seed}/{case.fold}",
                wrong=(table["pred"] != table["label"]).astype(np.float64),
                severity_name=_severity_names(table, derived),
            )
        )
    pooled = pd.concat(frames, ignore_index=True)
    grouped = pooled.groupby("parent_id", sort=True)
    result = pd.DataFrame(
        {
            "group_id": grouped["group_id"].first(),
            "label": grouped["label"].agg(_one_or_mixed, mixed=-1).astype(int),
            "severity": grouped["severity_name"].agg(_one_or_mixed, mixed="mixed"),
            "tiles": grouped["sample_id"].nunique(),
            "seeds": grouped["case_key"].nunique(),
            "mean_prob": grouped["prob"].mean(),
            "share_wrong": grouped["wrong"].mean(),
        }
    )
    result["tiles_wrong"] = grouped["wrong"].sum() / result["seeds"]
    # Among parents equally wrong, the most confident errors first: |mean prob - label| is larger.
    result["_confidence"] = (result["mean_prob"] - result["label"].clip(lower=0)).abs()
    result = result.reset_index().sort_values(
        ["share_wrong", "_confidence", "parent_id"], ascending=[False, False, True], kind="stable"
    )
    return result[list(PARENT_COLUMNS)].reset_index(drop=True)


def worst_parents_line(model: str, errors: pd.DataFrame, *, csv_name: str, run: str | None = None) -> str:
    """A Markdown list item naming a model's ``WORST_SHOWN`` worst test parents and the CSV that lists all."""
    wrong = errors[errors["share_wrong"] > 0].head(WORST_SHOWN)
    where = f" ({md_text(run)})" if run else ""
    if wrong.empty:
        return f"- {md_code(model)}{where}: no test tile wrong ({len(errors)} parents; {md_code(csv_name)})."
    parts = []
    for _, row in wrong.iterrows():
        severity = f", {row['severity']}" if row["severity"] in SEVERITY_NAMES.values() else ""
        parts.append(
            f"{md_code(row['parent_id'])} ({CLASS_NAMES.get(int(row['label']), '?')}{md_text(severity)}: "
            f"{row['tiles_wrong']:.3g} of {int(row['tiles'])} tiles wrong, mean p(anaemic) {row['mean_prob']:.3f})"
        )
    total = int((errors["share_wrong"] > 0).sum())
    return (
        f"- {md_code(model)}{where}: {'; '.join(parts)}. {total} of {len(errors)} parents have a wrong tile "
        f"({md_code(csv_name)})."
    )
