"""3-TierDCFNet as a cascade: Module I (healthy / anaemic), then Module II (mild / chronic) on Module I's calls.

The oracle Module II (``module2`` rows) sees only truly anaemic samples; the cascade is what a user gets: a healthy
sample called anaemic receives a severity too, and an anaemic one called healthy never reaches Module II. Its
three classes are 0 healthy, 1 mild, 2 chronic; its balanced accuracy is the mean of the three recalls.
"""

from __future__ import annotations

import numpy as np

from rbc_dataset.stats import group_resamples, percentile_interval

CASCADE_CLASSES = ("healthy", "mild", "chronic")
UNKNOWN = -1


def cascade_truth(labels: np.ndarray, severity: np.ndarray, *, anaemic: int) -> np.ndarray:
    """0 healthy, 1 mild, 2 chronic; -1 where an anaemic sample's severity is unknown."""
    labels, severity = np.asarray(labels), np.asarray(severity)
    truth = np.where(severity >= 0, 1 + severity, UNKNOWN)
    return np.where(labels == anaemic, truth, 0).astype(np.int64)


def cascade_calls(module1_pred: np.ndarray, chronic: np.ndarray, *, anaemic: int) -> np.ndarray:
    """Module I's call, refined by Module II's (``chronic``: 1 chronic, 0 mild) where Module I says anaemic."""
    called_anaemic = np.asarray(module1_pred) == anaemic
    return np.where(called_anaemic, 1 + (np.asarray(chronic) == 1), 0).astype(np.int64)


def weighted_class_recalls(truth: np.ndarray, pred: np.ndarray, *, weights=None) -> np.ndarray:
    """Recall of each cascade class under each row of weights: (R, 3), NaN where a row lacks the class."""
    weights = np.ones((1, len(truth))) if weights is None else np.atleast_2d(weights)
    recalls = []
    for k in range(len(CASCADE_CLASSES)):
        member = (truth == k).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            recalls.append((weights @ (member * (pred == k))) / (weights @ member))
    return np.stack(recalls, axis=1)


def cascade_scores(truth, pred, *, groups, n_resamples: int = 1000, seed: int = 0) -> dict:
    """Accuracy, balanced accuracy (mean of the three recalls), each class's recall, and group-bootstrap intervals.

    Args:
        truth: 0/1/2 per sample (known only).
        pred: the cascade's 0/1/2 calls.
        groups: the bootstrap unit of each sample (``group_id``).
        n_resamples: bootstrap resamples over groups.
        seed: bootstrap seed.
    """
    truth, pred, groups = np.asarray(truth), np.asarray(pred), np.asarray(groups)
    recalls = weighted_class_recalls(truth, pred)[0]
    scores = {"n": len(truth), "accuracy": float(np.mean(truth == pred)), "balanced_accuracy": _mean(recalls)}
    scores |= {f"recall_{k}": float(value) for k, value in enumerate(recalls)}
    accuracy, balanced = [], []
    for weights in group_resamples(groups, n_resamples, seed=seed):
        with np.errstate(invalid="ignore", divide="ignore"):
            accuracy.append((weights @ (truth == pred)) / weights.sum(axis=1))
        per_class = weighted_class_recalls(truth, pred, weights=weights)
        balanced.append(np.where(np.isnan(per_class).any(axis=1), np.nan, per_class.mean(axis=1)))
    for name, values in (("accuracy", accuracy), ("balanced_accuracy", balanced)):
        low, high = percentile_interval(np.concatenate(values), min_defined=0.5)
        scores[f"{name}_ci_low"], scores[f"{name}_ci_high"] = low, high
    return scores


def _mean(recalls: np.ndarray) -> float:
    return float("nan") if np.isnan(recalls).any() else float(recalls.mean())
