"""Percentile bootstrap confidence intervals over groups, and mean ± std over seeds.

The 12 tiles of one parent image (and the images of one patient proxy) are not independent samples: resampling
tiles would pretend a test set is 12 times larger than it is. The bootstrap therefore draws *groups*
(``group_id``) with replacement and takes every sample of a drawn group along. A resample is a row of integer
weights (how often each sample's group was drawn), so many resamples are scored at once by the ``weighted_*``
metrics. The resampling is ``rbc_dataset.stats.group_resamples``, the one audit's probes use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from benchmarks.evaluation.metrics import (
    as_binary_array,
    as_probability_array,
    check_same_length,
    weighted_accuracy,
    weighted_balanced_accuracy,
    weighted_roc_auc,
)
from rbc_dataset.errors import DataError, UsageError
from rbc_dataset.stats import group_resamples, percentile_interval

# The metrics whose intervals a run's metrics.csv holds (as <metric>_ci_low and <metric>_ci_high).
CI_METRICS: tuple[str, ...] = ("accuracy", "balanced_accuracy", "roc_auc")

# Each takes (y_true, prob, pred, weights (R, N)) and returns (R,) values, NaN where a resample cannot define it.
_BOOTSTRAP_METRICS: dict[str, Callable[..., np.ndarray]] = {
    "accuracy": lambda y, prob, pred, w: weighted_accuracy(y, pred, weights=w),
    "balanced_accuracy": lambda y, prob, pred, w: weighted_balanced_accuracy(y, pred, weights=w),
    "roc_auc": lambda y, prob, pred, w: weighted_roc_auc(y, prob, weights=w),
}


def resampled_metric(name: str, y_true: np.ndarray, *, prob: np.ndarray, pred: np.ndarray, weights) -> np.ndarray:
    """One metric of ``CI_METRICS`` under each row of resample weights (R, N) -> (R,), NaN where undefined.

    The arrays are taken as checked (``bootstrap_distribution`` checks them); ``comparisons`` scores several seeds
    and models under the same rows with it.
    """
    if name not in _BOOTSTRAP_METRICS:
        raise UsageError(f"unknown bootstrap metric {name!r}; valid choices: {', '.join(_BOOTSTRAP_METRICS)}")
    return _BOOTSTRAP_METRICS[name](y_true, prob, pred, weights)


def bootstrap_distribution(
    y_true, prob, *, pred, groups, metrics: Sequence[str] = CI_METRICS, n_resamples: int = 1000, seed: int = 0
) -> dict[str, np.ndarray]:
    """The value of each metric on each group resample (NaN where a resample cannot define it).

    Args:
        y_true: true classes (0/1).
        prob: predicted probability of class 1.
        pred: predicted classes (0/1).
        groups: the resampling unit of each sample (``group_id``), any hashable values.
        metrics: names from ``CI_METRICS``.
        n_resamples: number of resamples.
        seed: seed of the random generator; the same seed gives the same resamples.

    Returns:
        Metric name -> array of ``n_resamples`` values.
    """
    unknown = [name for name in metrics if name not in _BOOTSTRAP_METRICS]
    if unknown:
        raise UsageError(f"unknown bootstrap metric {unknown[0]!r}; valid choices: {', '.join(_BOOTSTRAP_METRICS)}")
    if n_resamples < 1:
        raise UsageError(f"n_resamples must be at least 1, got {n_resamples}")
    y_true, prob, pred = as_binary_array(y_true, "y_true"), as_probability_array(prob), as_binary_array(pred, "pred")
    groups = np.asarray(groups).ravel()
    check_same_length(y_true=y_true, prob=prob, pred=pred, groups=groups)
    if y_true.size == 0:
        raise DataError(None, "at least one sample to resample", "none", "check the predictions table")
    values: dict[str, list[np.ndarray]] = {name: [] for name in metrics}
    for weights in group_resamples(groups, n_resamples, seed=seed):
        for name in metrics:
            values[name].append(_BOOTSTRAP_METRICS[name](y_true, prob, pred, weights))
    return {name: np.concatenate(parts) for name, parts in values.items()}


def group_bootstrap_ci(
    y_true,
    prob,
    *,
    pred,
    groups,
    metrics: Sequence[str] = CI_METRICS,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap interval of each metric, resampling groups with replacement.

    Resamples in which a metric is undefined (one class only, for balanced accuracy and ROC-AUC) are left out
    of that metric's interval; when more than half are undefined the interval is (NaN, NaN), since what is left
    would describe a different population.

    Args:
        y_true: true classes (0/1).
        prob: predicted probability of class 1.
        pred: predicted classes (0/1).
        groups: the resampling unit of each sample (``group_id``).
        metrics: names from ``CI_METRICS``.
        n_resamples: number of resamples.
        level: coverage of the interval, e.g. 0.95 for the 2.5th and 97.5th percentiles.
        seed: seed of the random generator.

    Returns:
        Metric name -> (low, high).
    """
    if not 0.0 < level < 1.0:
        raise UsageError(f"level must lie strictly between 0 and 1 (e.g. 0.95), got {level}")
    distribution = bootstrap_distribution(
        y_true, prob, pred=pred, groups=groups, metrics=metrics, n_resamples=n_resamples, seed=seed
    )
    return {name: percentile_interval(values, level=level, min_defined=0.5) for name, values in distribution.items()}


def _require_columns(frame: pd.DataFrame, columns: Iterable[str], role: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        valid = ", ".join(map(str, frame.columns))
        raise UsageError(f"{role} column(s) {', '.join(missing)} not in the table; valid columns: {valid}")


def seed_summary(frame: pd.DataFrame, keys: Sequence[str], *, metrics: Sequence[str]) -> pd.DataFrame:
    """Mean and standard deviation (ddof=1) of each metric over the rows of each ``keys`` group.

    The rows of a group are expected to be its seeds (and folds, where a run has them). A group of one row has
    std NaN: one seed says nothing about the spread.

    Args:
        frame: one row per case, e.g. a run's metrics.csv.
        keys: columns that identify a group, e.g. ``("model", "task", "head", "split")``.
        metrics: metric columns to summarise.

    Returns:
        One row per group: the keys, ``<metric>_mean`` and ``<metric>_std`` per metric, and ``n_seeds`` (distinct
        values of a ``seed`` column, or the number of rows without one).
    """
    keys, metrics = list(keys), list(metrics)
    _require_columns(frame, keys, "key")
    _require_columns(frame, metrics, "metric")
    grouped = frame.groupby(keys, sort=True, dropna=False)
    summary = grouped[metrics].agg(["mean", "std"])
    summary.columns = [f"{metric}_{statistic}" for metric, statistic in summary.columns]
    summary["n_seeds"] = grouped["seed"].nunique() if "seed" in frame.columns else grouped.size()
    return summary.reset_index()
