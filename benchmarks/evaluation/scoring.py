"""`rbc-bench score`: re-score a run's saved predictions and check them against its metrics.csv.

A run's numbers must be reproducible from its ``predictions/`` alone (as MedMNIST's evaluator re-scores saved
outputs). The runner computes metrics.csv with ``score_predictions`` (bootstrap seed 0, 1000 resamples unless its
config says otherwise), so re-scoring with the same settings reproduces every column, the intervals included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.evaluation.bootstrap import CI_METRICS, group_bootstrap_ci
from benchmarks.evaluation.cascade import cascade_scores
from benchmarks.evaluation.metrics import METRIC_COLUMNS, classification_metrics
from rbc_dataset.errors import DataError

PREDICTION_COLUMNS: tuple[str, ...] = ("task", "head", "sample_id", "parent_id", "group_id", "label", "prob", "pred")
TASKS: tuple[str, ...] = ("module1", "module2", "cascade")
CASCADE_TASK = "cascade"  # labels and calls 0 healthy, 1 mild, 2 chronic (benchmarks/evaluation/cascade.py)
SPLITS: tuple[str, ...] = ("validation", "test")
CASE_KEYS: tuple[str, ...] = ("model", "seed", "fold", "split", "task", "head")
CI_COLUMNS: tuple[str, ...] = tuple(f"{metric}_ci_{end}" for metric in CI_METRICS for end in ("low", "high"))
# What the scores rest on: distinct parent images and bootstrap groups (``n`` counts tiles), and how many labels
# the project's severity rule derived (NaN for predictions written before ``label_source`` existed).
SAMPLE_COLUMNS: tuple[str, ...] = ("n_parents", "n_groups", "n_rule_labels")
# Every column of a run's metrics.csv after the case keys, in order.
# The cascade's third class (chronic) has a recall of its own; NaN on the binary tasks' rows.
CASCADE_COLUMNS: tuple[str, ...] = ("recall_2",)
SCORE_COLUMNS: tuple[str, ...] = METRIC_COLUMNS + CASCADE_COLUMNS + SAMPLE_COLUMNS + CI_COLUMNS
# Optional predictions column: where a row's label came from ("rule": derived by the severity rule, circular).
LABEL_SOURCES: tuple[str, ...] = ("dataset", "rule")
TOLERANCE = 1e-9

_FILE_NAME = re.compile(r"^seed(?P<seed>\d+)(?:_fold(?P<fold>\d+))?_(?P<split>validation|test)\.csv$")
_ID_COLUMNS = ("task", "head", "sample_id", "parent_id", "group_id")


@dataclass(frozen=True)
class PredictionFile:
    """One predictions CSV of a run and the case its path names."""

    model: str  # folder name under predictions/
    seed: int  # training seed
    fold: int  # cross-validation fold, -1 for a run without folds
    split: str  # "validation" or "test"
    path: Path  # the CSV


def _bad_rows(path: Path, table: pd.DataFrame, *, mask: pd.Series, column: str, expected: str, fix: str) -> DataError:
    lines = (np.flatnonzero(mask.to_numpy())[:5] + 2).tolist()  # +2: header line, 1-based line numbers
    values = ", ".join(repr(v) for v in table.loc[mask, column].head(5).tolist())
    found = f"{int(mask.sum())} rows that are not (lines {lines}: {values})"
    return DataError(path, f"column {column!r} {expected}", found, fix)


def read_predictions(path: Path) -> pd.DataFrame:
    """Read and check one predictions CSV (format in docs/RBC_BENCH.md).

    Args:
        path: ``predictions/<model>/seed<S>[_fold<F>]_<split>.csv``.

    Returns:
        The table with ids as strings, ``label``/``pred`` as int and ``prob`` as float.

    Raises:
        DataError: unreadable file, missing columns, no rows, a task other than module1/module2, labels or
            predictions other than 0/1, probabilities missing or outside [0, 1], a sample twice for one head, a
            ``label_source`` (optional column) other than dataset/rule.
    """
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype={column: str for column in _ID_COLUMNS}, keep_default_na=False)
    except FileNotFoundError as exc:
        raise DataError(path, "a predictions CSV", "no such file", "re-run the case or check the path") from exc
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(path, "a readable predictions CSV", f"an error: {exc}", "re-run the case") from exc
    missing = [column for column in PREDICTION_COLUMNS if column not in table.columns]
    if missing:
        raise DataError(
            path,
            f"the columns {', '.join(PREDICTION_COLUMNS)}",
            f"no {', '.join(missing)} (columns: {', '.join(map(str, table.columns))})",
            "write predictions in the long format of docs/RBC_BENCH.md",
        )
    if table.empty:
        raise DataError(path, "one row per sample and head", "no rows", "re-run the case")
    if not table["task"].isin(TASKS).all():
        raise _bad_rows(
            path,
            table,
            mask=~table["task"].isin(TASKS),
            column="task",
            expected=f"in {TASKS}",
            fix=f"use one of {', '.join(TASKS)}",
        )
    cascade = table["task"] == CASCADE_TASK
    for column in ("label", "pred"):
        values = pd.to_numeric(table[column].replace("", np.nan), errors="coerce")
        bad = ~values.isin((0, 1)) & ~(cascade & values.eq(2))
        if bad.any():
            raise _bad_rows(
                path,
                table,
                mask=bad,
                column=column,
                expected="holding 0 or 1 (0, 1 or 2 on cascade rows)",
                fix="write class indices, not names",
            )
        table[column] = values.astype(np.int64)
    prob = pd.to_numeric(table["prob"].replace("", np.nan), errors="coerce")
    bad = ~((prob >= 0.0) & (prob <= 1.0))
    if bad.any():
        fix = "write the probability of class 1 (after softmax), not a logit"
        raise _bad_rows(path, table, mask=bad, column="prob", expected="in [0, 1]", fix=fix)
    table["prob"] = prob.astype(np.float64)
    if "label_source" in table.columns and not table["label_source"].isin(LABEL_SOURCES).all():
        bad = ~table["label_source"].isin(LABEL_SOURCES)
        raise _bad_rows(
            path, table, mask=bad, column="label_source", expected=f"in {LABEL_SOURCES}", fix="write dataset or rule"
        )
    twice = table.duplicated(["task", "head", "sample_id"], keep=False)
    if twice.any():
        raise _bad_rows(
            path,
            table,
            mask=twice,
            column="sample_id",
            expected="once per task and head",
            fix="write each sample once per head",
        )
    return table


def score_predictions(table: pd.DataFrame, *, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Metrics and group-bootstrap intervals of each (task, head) of a predictions table.

    Args:
        table: a table as ``read_predictions`` returns it.
        n_resamples: bootstrap resamples (over ``group_id``).
        seed: bootstrap seed; the same seed reproduces the same intervals.

    Returns:
        One row per (task, head), sorted: ``task``, ``head``, then ``SCORE_COLUMNS``.
    """
    rows = []
    for (task, head), case in table.groupby(["task", "head"], sort=True):
        if task == CASCADE_TASK:
            rows.append(_cascade_row(case, head=head, n_resamples=n_resamples, seed=seed))
            continue
        metrics = classification_metrics(case["label"], case["prob"], pred=case["pred"])
        intervals = group_bootstrap_ci(
            case["label"],
            case["prob"],
            pred=case["pred"],
            groups=case["group_id"],
            metrics=CI_METRICS,
            n_resamples=n_resamples,
            seed=seed,
        )
        row = {"task": task, "head": head, **{name: metrics[name] for name in METRIC_COLUMNS}}
        row["n_parents"], row["n_groups"] = case["parent_id"].nunique(), case["group_id"].nunique()
        sources = case.get("label_source")
        row["n_rule_labels"] = int((sources == "rule").sum()) if sources is not None else float("nan")
        for name, (low, high) in intervals.items():
            row[f"{name}_ci_low"], row[f"{name}_ci_high"] = low, high
        rows.append(row)
    return pd.DataFrame(rows, columns=["task", "head", *SCORE_COLUMNS])


def _cascade_row(case: pd.DataFrame, *, head: str, n_resamples: int, seed: int) -> dict:
    """The cascade's scores: accuracy, balanced accuracy over its three classes and their recalls; NaN elsewhere."""
    scores = cascade_scores(case["label"], case["pred"], groups=case["group_id"], n_resamples=n_resamples, seed=seed)
    row = {"task": CASCADE_TASK, "head": head, **{name: scores.get(name, np.nan) for name in SCORE_COLUMNS}}
    row["n_parents"], row["n_groups"] = case["parent_id"].nunique(), case["group_id"].nunique()
    row["n_rule_labels"] = 0
    return row


def list_prediction_files(run_dir: Path) -> list[PredictionFile]:
    """Every predictions CSV of a run, with the case its path names, sorted by model, seed, fold, split.

    Files other than CSVs (the segmentation suite's ``*_masks.npz``) are not classification predictions and are
    left out.

    Raises:
        DataError: the folder has no ``predictions/``, or a file there is not named
            ``<model>/seed<S>[_fold<F>]_<split>.csv``.
    """
    run_dir = Path(run_dir)
    folder = run_dir / "predictions"
    if not folder.is_dir():
        raise DataError(
            run_dir,
            "a run folder with a predictions/ folder",
            "no predictions/",
            "pass a folder written by `rbc-bench run` (runs/<suite>/<timestamp>_<gitsha>/)",
        )
    files = []
    for path in sorted(folder.rglob("*")):
        # Only CSVs are classification predictions; the segmentation suite keeps its masks there as .npz.
        if path.is_dir() or path.name.startswith(".") or path.suffix != ".csv":
            continue
        match = _FILE_NAME.match(path.name)
        if match is None or path.parent.parent != folder:
            raise DataError(
                path,
                "predictions/<model>/seed<S>[_fold<F>]_<validation|test>.csv",
                f"{path.relative_to(run_dir)}",
                "move or remove files that are not predictions of a case",
            )
        fold = int(match["fold"]) if match["fold"] is not None else -1
        files.append(PredictionFile(path.parent.name, int(match["seed"]), fold=fold, split=match["split"], path=path))
    files.sort(key=lambda item: (item.model, item.seed, item.fold, SPLITS.index(item.split)))
    return files


def score_run(run_dir: Path, *, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Re-score every predictions CSV of a run.

    Args:
        run_dir: a run folder (``runs/<suite>/<timestamp>_<gitsha>/``).
        n_resamples: bootstrap resamples; use the run's setting to reproduce its intervals.
        seed: bootstrap seed; use the run's setting (0 by default) to reproduce its intervals.

    Returns:
        One row per (model, seed, fold, split, task, head) with ``SCORE_COLUMNS``; fold is -1 without folds.
    """
    frames = []
    for item in list_prediction_files(run_dir):
        scored = score_predictions(read_predictions(item.path), n_resamples=n_resamples, seed=seed)
        scored.insert(0, "model", item.model)
        scored.insert(1, "seed", item.seed)
        scored.insert(2, "fold", item.fold)
        scored.insert(3, "split", item.split)
        frames.append(scored)
    if not frames:
        raise DataError(
            Path(run_dir) / "predictions",
            "at least one predictions CSV",
            "none",
            "re-run the suite (a segmentation run keeps masks, which `rbc-bench score` does not re-score)",
        )
    return pd.concat(frames, ignore_index=True)


def read_metrics(run_dir: Path) -> pd.DataFrame:
    """A run's metrics.csv with the case keys normalised (seed and fold as int, fold -1 when blank or absent).

    A segmentation run's rows have no ``head``; it is filled in as ``""``.

    Raises:
        DataError: no metrics.csv, or one without the model, seed, split and task columns.
    """
    path = Path(run_dir) / "metrics.csv"
    try:
        table = pd.read_csv(path, dtype={"model": str, "split": str, "task": str, "head": str})
    except FileNotFoundError as exc:
        raise DataError(path, "the run's metrics.csv", "no such file", "pass a complete run folder") from exc
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(path, "a readable metrics.csv", f"an error: {exc}", "re-run the suite") from exc
    missing = [column for column in ("model", "seed", "split", "task") if column not in table.columns]
    if missing:
        raise DataError(path, f"the columns {', '.join(CASE_KEYS)}", f"no {', '.join(missing)}", "re-run the suite")
    table["fold"] = table["fold"].fillna(-1).astype(int) if "fold" in table.columns else -1
    table["head"] = table["head"].fillna("") if "head" in table.columns else ""
    table["seed"] = table["seed"].astype(int)
    return table


def _same(recorded: float, rescored: float) -> bool:
    if pd.isna(recorded) or pd.isna(rescored):
        return bool(pd.isna(recorded) and pd.isna(rescored))
    return abs(float(recorded) - float(rescored)) <= TOLERANCE


def compare_with_recorded(run_dir: Path, rescored: pd.DataFrame) -> list[str]:
    """Differences between re-scored metrics and the run's metrics.csv; an empty list means reproduced.

    Columns in both tables are compared with a tolerance of 1e-9 (NaN equals NaN). A case in one table but not
    the other is a difference too.

    Args:
        run_dir: the run folder whose metrics.csv to compare with.
        rescored: ``score_run(run_dir)``.

    Returns:
        One line per difference, naming the case, the metric and both values.
    """
    recorded = read_metrics(run_dir).set_index(list(CASE_KEYS))
    rescored = rescored.set_index(list(CASE_KEYS))
    columns = [column for column in rescored.columns if column in recorded.columns]
    twice = recorded.index[recorded.index.duplicated()].unique()
    differences = [f"{_case_name(case)}: recorded more than once in metrics.csv" for case in twice]
    recorded = recorded[~recorded.index.isin(twice)]  # an ambiguous record cannot be compared value by value
    for case in rescored.index.difference(recorded.index).difference(twice):
        differences.append(f"{_case_name(case)}: in predictions/ but not in metrics.csv")
    for case in recorded.index.difference(rescored.index):
        differences.append(f"{_case_name(case)}: in metrics.csv but no predictions")
    for case in rescored.index.intersection(recorded.index):
        for column in columns:
            was, now = recorded.at[case, column], rescored.at[case, column]
            if not _same(was, now):
                differences.append(f"{_case_name(case)}: {column} recorded {was!r}, re-scored {now!r}")
    return differences


def _case_name(case: tuple) -> str:
    model, seed, fold, split, task, head = case
    fold_part = f" fold {fold}" if fold != -1 else ""
    return f"{model} seed {seed}{fold_part} {split} {task}/{head}"
