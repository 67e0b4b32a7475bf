"""What a score rests on, said next to it: too few test parents, a single class, labels the project derived itself.

One place decides these caveats for every output (``summary.json`` of a run, ``rbc-bench report``'s leaderboards
and report.json, the terminal tables), from the columns every metrics.csv row carries: ``n`` (samples, i.e.
tiles for the ``model`` config), ``n_parents``, ``n_groups`` (the bootstrap unit), the confusion counts, and
``n_rule_labels`` (labels derived by the Module-II severity rule).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

MIN_PARENTS = 10  # fewer test parents (or bootstrap groups) than this: the intervals are warned about
TASK_TITLES = {"module1": "Module I", "module2": "Module II"}
CLASS_NAMES = {"module1": ("healthy", "anaemic"), "module2": ("mild", "chronic")}
RULE_DERIVED = "rule-derived labels"
DATASET_LABELS = "dataset"
_SAMPLE_KEYS = ("n", "n_parents", "n_groups", "negatives", "positives")


def distinct_resamples(groups: int) -> int:
    """How many different resamples a bootstrap drawing ``groups`` of ``groups`` with replacement can produce.

    A resample is a multiset of ``k`` draws from ``k`` groups: C(2k-1, k) of them (3 for 2 groups, 10 for 3,
    92,378 for 10). However many resamples are drawn, no more distinct values of a metric exist.
    """
    return math.comb(2 * groups - 1, groups) if groups > 0 else 0


def _counted(k: int, noun: str) -> str:
    """``1 parent``, ``2 parents``."""
    return f"{k} {noun}" if k == 1 else f"{k} {noun}s"


def _count(value) -> int | None:
    return int(value) if value is not None and pd.notna(value) else None


def describe_test_samples(metrics: pd.DataFrame) -> list[dict]:
    """What the test scores of a run rest on: one record per task and distinct test sample.

    The test split is the same for every model and seed; a task's heads may still differ (Module II's rule is
    scored only where the dataset knows the severity), so each distinct sample is one record naming its heads.

    Args:
        metrics: a run's metrics.csv (rows of other splits and tasks are ignored; missing columns are unknown).

    Returns:
        Records with ``task``, ``heads``, ``n`` (samples), ``n_parents``, ``n_groups`` (None when the run's
        metrics.csv predates them) and ``samples_per_class`` (class name -> samples).
    """
    if metrics.empty or not {"split", "task", "tn", "fp", "fn", "tp"} <= set(metrics.columns):
        return []
    table = metrics[(metrics["split"] == "test") & metrics["task"].isin(list(TASK_TITLES))].copy()
    for column in ("n_parents", "n_groups", "head"):
        if column not in table.columns:
            table[column] = np.nan if column != "head" else ""
    table["negatives"], table["positives"] = table["tn"] + table["fp"], table["fn"] + table["tp"]
    records = []
    for task, rows in table.groupby("task", sort=True):
        keyed = rows.assign(key=[tuple(_count(row[k]) for k in _SAMPLE_KEYS) for _, row in rows.iterrows()])
        for key, same in keyed.groupby("key", sort=False):
            n, parents, groups, negatives, positives = key
            names = CLASS_NAMES[str(task)]
            records.append(
                {
                    "task": str(task),
                    "heads": sorted(set(same["head"].astype(str))),
                    "n": n,
                    "n_parents": parents,
                    "n_groups": groups,
                    "samples_per_class": {names[0]: negatives, names[1]: positives},
                }
            )
    return records


def _describe(record: dict, several: bool) -> str:
    heads = f" (head {', '.join(record['heads'])})" if several else ""
    per_class = ", ".join(f"{count} {name}" for name, count in record["samples_per_class"].items())
    if record["n_parents"] is None:
        where = "parents not recorded (the run predates parent counts)"
    else:
        where = f"{_counted(record['n_parents'], 'parent image')} in {_counted(record['n_groups'], 'bootstrap group')}"
    return f"{TASK_TITLES[record['task']]} test split{heads}: {record['n']} samples ({per_class}) from {where}"


def _small_sample_clause(record: dict) -> str:
    parents, groups = record["n_parents"], record["n_groups"]
    if parents is None or min(parents, groups) >= MIN_PARENTS:
        return ""
    if groups == 1:
        spread = (
            "a bootstrap over 1 group has 1 possible resample, the sample itself, so each 95 % interval is a single "
            "value and says nothing about uncertainty"
        )
    else:
        spread = (
            f"a bootstrap over {groups} groups has at most {_counted(distinct_resamples(groups), 'distinct resample')}"
            f", so each 95 % interval only shows how these {_counted(parents, 'parent')} differ from each other; it "
            "understates the real uncertainty (it can be a single value such as [1.000, 1.000]) and is not a 95 % "
            "interval for new images"
        )
    return f". Fewer than {MIN_PARENTS} parents: {spread}. Read these numbers as anecdotes, not estimates"


def _single_class_clause(record: dict) -> str:
    present = [name for name, count in record["samples_per_class"].items() if count]
    if len(present) != 1:
        return ""
    return (
        f". One class only ({present[0]}): balanced accuracy and ROC-AUC are undefined (n/a), and accuracy "
        f"counts {present[0]} samples only"
    )


def sample_warnings(metrics: pd.DataFrame) -> list[str]:
    """A sentence per test sample with fewer than ``MIN_PARENTS`` parents or groups, or a single class.

    Each says what the sample is (samples per class, parents, bootstrap groups) and what that means for the
    intervals and metrics. Empty when every test sample is large enough and holds both classes.
    """
    records = describe_test_samples(metrics)
    per_task = pd.Series([record["task"] for record in records]).value_counts().to_dict() if records else {}
    sentences = []
    for record in records:
        clauses = _small_sample_clause(record) + _single_class_clause(record)
        if clauses:
            sentences.append(_describe(record, per_task[record["task"]] > 1) + clauses + ".")
    return sentences


def labels_mark(n_rule_labels, n) -> str | None:
    """``dataset``, ``rule-derived labels`` or ``rule-derived labels (k of n)``; None when not recorded."""
    rule, total = _count(n_rule_labels), _count(n)
    if rule is None:
        return None
    if rule == 0:
        return DATASET_LABELS
    return RULE_DERIVED if rule == total else f"{RULE_DERIVED} ({rule} of {total})"


def is_rule_derived(mark: str | None) -> bool:
    """Whether a ``labels_mark`` says some labels came from the project's own rule."""
    return bool(mark) and str(mark).startswith(RULE_DERIVED)


def rule_label_warnings(metrics: pd.DataFrame) -> list[str]:
    """A sentence per Module-II head whose test labels were (partly) derived by the project's severity rule."""
    if metrics.empty or "n_rule_labels" not in metrics.columns:
        return []
    table = metrics[(metrics["split"] == "test") & (metrics["n_rule_labels"].fillna(0) > 0)]
    sentences = []
    for (task, head), rows in table.groupby(["task", "head"], sort=True):
        rule, total = int(rows["n_rule_labels"].max()), int(rows["n"].max())
        sentences.append(
            f"{TASK_TITLES.get(str(task), task)} head {head}: {rule} of {total} test labels were derived by the "
            "project's own severity rule (the dataset gives no severity for them); a head trained and scored on "
            f"them learns and is graded on the rule's output, which is circular, so these rows are marked "
            f"'{RULE_DERIVED}' and left out of the ranking"
        )
    return sentences
