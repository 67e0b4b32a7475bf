"""A run's test-split predictions, read once per report: one table per case (model, seed, fold).

The report's figures and its diagnostics (calibration, recall per severity, per-parent errors) all start here, so
every one of them reads the same files the same way (``scoring.read_predictions`` checks each).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.evaluation.scoring import list_prediction_files, read_predictions

# Values of the optional ``severity`` column (the dataset's severity of the sample, on every row).
SEVERITY_NAMES: dict[int, str] = {0: "mild", 1: "chronic"}


@dataclass(frozen=True)
class CaseTable:
    """The test predictions of one case: every task and head of ``predictions/<model>/seed<S>[_fold<F>]_test.csv``."""

    model: str
    seed: int
    fold: int  # -1 for a run without folds
    table: pd.DataFrame


def read_test_tables(run_dir: Path) -> list[CaseTable]:
    """Every test-split predictions file of a run, sorted by model, seed, fold; empty without ``predictions/``.

    Raises:
        DataError: a predictions file that ``read_predictions`` refuses, or a stray file in ``predictions/``.
    """
    if not (Path(run_dir) / "predictions").is_dir():
        return []
    return [
        CaseTable(item.model, item.seed, fold=item.fold, table=read_predictions(item.path))
        for item in list_prediction_files(run_dir)
        if item.split == "test"
    ]


def rows_by_model(cases: list[CaseTable], *, task: str = "module1", head: str = "global") -> dict[str, list[CaseTable]]:
    """Model -> its cases restricted to the ``task``/``head`` rows (cases without such rows left out)."""
    by_model: dict[str, list[CaseTable]] = {}
    for case in cases:
        table = case.table[(case.table["task"] == task) & (case.table["head"] == head)]
        if not table.empty:
            by_model.setdefault(case.model, []).append(CaseTable(case.model, case.seed, fold=case.fold, table=table))
    return by_model


def severity_column(table: pd.DataFrame) -> np.ndarray | None:
    """The ``severity`` column as int (-1 where blank or not 0/1), or None when the run did not record it."""
    if "severity" not in table.columns:
        return None
    values = pd.to_numeric(table["severity"].replace("", np.nan), errors="coerce").fillna(-1).to_numpy()
    return np.where(np.isin(values, (0, 1)), values, -1).astype(np.int64)


def rule_derived_ids(cases: list[CaseTable]) -> set[str]:
    """Samples whose severity the project's rule derived (Module-II rows with ``label_source`` ``rule``).

    Where the dataset gives no severity the runner labels anaemic samples with the rule; a Module-I recall split by
    such a severity would grade the model against the rule, not the data, so these samples count as unknown.
    """
    derived: set[str] = set()
    for case in cases:
        table = case.table
        if "label_source" in table.columns:
            derived |= set(table.loc[(table["task"] == "module2") & (table["label_source"] == "rule"), "sample_id"])
    return derived
