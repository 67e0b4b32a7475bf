"""Intervals of the mean over seeds, and paired comparisons of models scored on the same test samples.

A run's metrics.csv holds one 95 % interval per seed; the mean of those bounds is not the interval of anything.
Here each bootstrap resample draws the test parent groups once (``rbc_dataset.stats.group_resamples``), scores
every seed's predictions on that resample and averages them: the percentile interval of that average is the
interval of the **mean metric over seeds** (the number the leaderboard shows). It is not the interval of an
ensemble that averages the seeds' probabilities first, which would score a different model.

Models scored on the same test samples (same build, sample ids, groups and labels) get the same resamples, so the
difference of their means in each resample gives a paired interval, and the share of resamples in which one is
ahead. Models scored on different test samples are never compared; nor are runs on different builds, even where
the sample ids agree (a ``--shortcut`` build and its clean twin share their ids, not their images).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from benchmarks.evaluation.bootstrap import CI_METRICS, resampled_metric
from benchmarks.evaluation.run_tables import CaseTable
from rbc_dataset.stats import group_resamples, percentile_interval

TASKS: tuple[str, ...] = ("module1", "module2")  # tasks with 0/1 labels; other tasks (e.g. a 3-class one) are skipped
COMPARED_METRICS: tuple[str, ...] = ("balanced_accuracy", "roc_auc")
MIN_DEFINED = 0.5  # as group_bootstrap_ci: more than half the resamples undefined gives no interval
CI_METHOD_SEED_MEAN = "group bootstrap of the mean over seeds"
CI_METHOD_BOUNDS = "mean of per-seed bounds (no usable predictions)"
COMPARISON_COLUMNS: tuple[str, ...] = (
    "task",
    "head",
    "run_a",
    "model_a",
    "run_b",
    "model_b",
    "metric",
    "mean_a",
    "mean_b",
    "difference",
    "ci_low",
    "ci_high",
    "share_a_ahead",
    "share_b_ahead",
    "n_seeds_a",
    "n_seeds_b",
    "n_test",
    "n_test_parents",
    "n_test_groups",
    "n_resamples",
    "test_samples",
)


@dataclass(frozen=True)
class ModelCases:
    """One model's test predictions of one task and head, every case (seed, fold) on the same samples."""

    run: str  # the run's label
    model: str
    task: str
    head: str
    data: str  # the build its test samples come from (the report's data column)
    sample_ids: np.ndarray  # sorted
    groups: np.ndarray  # the bootstrap unit of each sample
    labels: np.ndarray  # 0/1
    n_parents: int
    probs: np.ndarray  # (cases, samples)
    preds: np.ndarray  # (cases, samples)

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.run, self.model, self.task, self.head)

    @property
    def samples(self) -> str:
        """What identifies the test samples: models with the same value were scored on the same samples."""
        digest = hashlib.sha1(self.data.encode() + b"\x1e")
        for part in (self.sample_ids, self.groups, self.labels.astype(str)):
            digest.update("\x1f".join(map(str, part)).encode())
            digest.update(b"\x1e")
        return digest.hexdigest()


@dataclass
class Resampled:
    """The mean over seeds of each metric, on all test samples and on each resample."""

    cases: ModelCases
    means: dict[str, float]  # metric -> mean over cases on all samples
    values: dict[str, np.ndarray]  # metric -> (n_resamples,) mean over cases per resample, NaN where undefined
    n_resamples: int


@dataclass
class SeedMeans:
    """Everything ``resample_seed_means`` found: the resampled models, and why other models were left out."""

    models: dict[tuple[str, str, str, str], Resampled] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def stack_cases(
    run: str, cases: list[CaseTable], *, data: str = "", tasks: Iterable[str] = TASKS
) -> tuple[list[ModelCases], list[str]]:
    """Each (model, task, head) of one run's test cases as aligned arrays; notes for those that cannot be aligned.

    Args:
        run: the run's label.
        cases: its test cases (``run_tables.read_test_tables``).
        data: the build the run was tested on.
        tasks: tasks to keep.

    Returns:
        The stacked models, and a sentence for each (model, task, head) whose cases disagree on the samples.
    """
    tables: dict[tuple[str, str, str], list[pd.DataFrame]] = {}
    for case in cases:
        for (task, head), table in case.table[case.table["task"].isin(list(tasks))].groupby(["task", "head"]):
            tables.setdefault((case.model, str(task), str(head)), []).append(table.sort_values("sample_id"))
    stacked, notes = [], []
    for (model, task, head), parts in sorted(tables.items()):
        first = parts[0]
        same = all(
            np.array_equal(part[column].to_numpy(), first[column].to_numpy())
            for part in parts[1:]
            for column in ("sample_id", "group_id", "label")
        )
        if not same:
            notes.append(f"{run}: {model} {task}/{head}: its seeds were scored on different test samples")
            continue
        stacked.append(
            ModelCases(
                run,
                model,
                task=task,
                head=head,
                data=data,
                sample_ids=first["sample_id"].to_numpy(),
                groups=first["group_id"].to_numpy(),
                labels=first["label"].to_numpy(),
                n_parents=int(first["parent_id"].nunique()),
                probs=np.stack([part["prob"].to_numpy(dtype=np.float64) for part in parts]),
                preds=np.stack([part["pred"].to_numpy(dtype=np.int64) for part in parts]),
            )
        )
    return stacked, notes


def _seed_mean(item: ModelCases, metric: str, weights) -> np.ndarray:
    """The metric of each case under each weight row, averaged over cases -> (rows,)."""
    cases = zip(item.probs, item.preds, strict=True)
    per_case = [resampled_metric(metric, item.labels, prob=prob, pred=pred, weights=weights) for prob, pred in cases]
    return np.mean(per_case, axis=0)  # a resample undefined for one case is undefined for all: same labels


def resample_seed_means(
    items: list[ModelCases], *, metrics: tuple[str, ...] = CI_METRICS, n_resamples: int = 1000, seed: int = 0
) -> dict[tuple[str, str, str, str], Resampled]:
    """The mean over seeds of each metric on all samples and on each group resample.

    Models on the same test samples share every resample (the same parents drawn), which makes their resampled
    means paired. With one case the resamples are those of the run's own intervals (same seed and count).

    Args:
        items: stacked models (``stack_cases``).
        metrics: names from ``CI_METRICS``.
        n_resamples: bootstrap resamples.
        seed: bootstrap seed.
    """
    by_samples: dict[str, list[ModelCases]] = {}
    for item in items:
        by_samples.setdefault(item.samples, []).append(item)
    found = {}
    for same in by_samples.values():
        blocks: dict[tuple, list[np.ndarray]] = {(item.key, m): [] for item in same for m in metrics}
        for weights in group_resamples(same[0].groups, n_resamples, seed=seed):
            for item in same:
                for metric in metrics:
                    blocks[(item.key, metric)].append(_seed_mean(item, metric, weights))
        for item in same:
            values = {metric: np.concatenate(blocks[(item.key, metric)]) for metric in metrics}
            means = {metric: float(_seed_mean(item, metric, None)[0]) for metric in metrics}
            found[item.key] = Resampled(item, means=means, values=values, n_resamples=n_resamples)
    return found


def seed_means_of_runs(
    tables: dict[str, list[CaseTable]],
    *,
    data: dict[str, str] | None = None,
    tasks: Iterable[str] = TASKS,
    n_resamples: int = 1000,
    seed: int = 0,
) -> SeedMeans:
    """``resample_seed_means`` of every model of every run, with notes.

    Args:
        tables: run label -> its test cases.
        data: run label -> the build it was tested on (runs on different builds are never paired).
        tasks, n_resamples, seed: as ``stack_cases`` and ``resample_seed_means``.
    """
    found, items = SeedMeans(), []
    for run, cases in tables.items():
        stacked, notes = stack_cases(run, cases, data=(data or {}).get(run, ""), tasks=tasks)
        items += stacked
        found.notes += notes
    found.models = resample_seed_means(items, n_resamples=n_resamples, seed=seed)
    return found


def seed_mean_interval(resampled: Resampled, *, level: float = 0.95) -> dict[str, float]:
    """``<metric>_ci_low`` / ``<metric>_ci_high`` of the mean over seeds, for each resampled metric."""
    columns = {}
    for metric, values in resampled.values.items():
        low, high = percentile_interval(values, level=level, min_defined=MIN_DEFINED)
        columns[f"{metric}_ci_low"], columns[f"{metric}_ci_high"] = low, high
    return columns


def _share(hits: np.ndarray) -> float:
    return float(hits.mean()) if hits.size else float("nan")


def _paired(a: Resampled, b: Resampled, metric: str, level: float) -> dict:
    differences = a.values[metric] - b.values[metric]
    low, high = percentile_interval(differences, level=level, min_defined=MIN_DEFINED)
    defined = differences[~np.isnan(differences)]
    item = a.cases
    return {
        "task": item.task,
        "head": item.head,
        "run_a": item.run,
        "model_a": item.model,
        "run_b": b.cases.run,
        "model_b": b.cases.model,
        "metric": metric,
        "mean_a": a.means[metric],
        "mean_b": b.means[metric],
        "difference": a.means[metric] - b.means[metric],
        "ci_low": low,
        "ci_high": high,
        "share_a_ahead": _share(defined > 0),
        "share_b_ahead": _share(defined < 0),
        "n_seeds_a": len(item.probs),
        "n_seeds_b": len(b.cases.probs),
        "n_test": len(item.sample_ids),
        "n_test_parents": item.n_parents,
        "n_test_groups": len(np.unique(item.groups.astype(str))),
        "n_resamples": a.n_resamples,
        "test_samples": item.samples[:12],  # the same value: the same test samples
    }


def paired_comparisons(
    resampled: dict[tuple[str, str, str, str], Resampled],
    order: list[tuple[str, str, str, str]],
    *,
    metrics: tuple[str, ...] = COMPARED_METRICS,
    level: float = 0.95,
) -> list[dict]:
    """Every pair of models on the same test samples: difference of their means over seeds, paired interval.

    Args:
        resampled: ``resample_seed_means``'s result.
        order: the (run, model, task, head) keys to compare, best first (model A is always the one listed first).
        metrics: metrics to compare.
        level: coverage of the intervals.

    Returns:
        Rows with ``COMPARISON_COLUMNS``: ``difference`` is A - B on all samples, ``ci_low``/``ci_high`` its
        percentile interval over the shared resamples, ``share_a_ahead`` / ``share_b_ahead`` the share of defined
        resamples in which A's (B's) mean is higher (ties count for neither).
    """
    present = [key for key in order if key in resampled]
    rows = []
    for key_a, key_b in combinations(present, 2):
        a, b = resampled[key_a], resampled[key_b]
        if a.cases.samples == b.cases.samples:
            rows += [_paired(a, b, metric, level) for metric in metrics if metric in a.values and metric in b.values]
    return rows


def not_compared(resampled: dict[tuple[str, str, str, str], Resampled], order: list[tuple]) -> list[str]:
    """A sentence per set of test samples when the models in ``order`` were scored on more than one."""
    sets: dict[str, list[Resampled]] = {}
    for key in order:
        if key in resampled:
            sets.setdefault(resampled[key].cases.samples, []).append(resampled[key])
    if len(sets) < 2:
        return []
    sentences = []
    for number, members in enumerate(sets.values(), start=1):
        first = members[0].cases
        names = ", ".join(f"{item.cases.model} ({item.cases.run})" for item in members)
        sentences.append(
            f"test samples {number} ({len(first.sample_ids)} samples from {first.n_parents} parents of "
            f"{first.data or 'an unnamed build'}): {names}"
        )
    return sentences
