"""Shortcut probes: can a simple classifier tell the classes apart from features that should not carry the label?

The probe is a standardised logistic regression evaluated out of fold (StratifiedGroupKFold grouped by
group/parent, so tiles of one image never sit on both sides of a fold). Its ROC AUC comes with a 95 %
confidence interval from a bootstrap over groups. A probe is an error only when the AUC reaches the error
threshold and the interval lies above chance (0.5): on a handful of images a high AUC can be luck.
With more than two classes the AUC is the macro average of one-vs-rest AUCs.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from rbc_dataset.stats import group_resamples, percentile_interval, weighted_roc_auc

MAX_FOLDS = 5
N_BOOTSTRAP = 1000


@dataclass(frozen=True)
class ProbeResult:
    """Outcome of one probe (``status``: ok, warning, error or not_enough_samples)."""

    name: str
    status: str
    n: int  # samples with every feature
    n_groups: int
    folds: int
    n_excluded: int  # samples left out for missing features or labels
    features: list[str]
    auc: float | None = None  # out-of-fold ROC AUC
    ci_low: float | None = None  # 95 % bootstrap interval over groups
    ci_high: float | None = None
    feature_table: list[dict] = field(default_factory=list)  # per feature: class medians and univariate AUC
    reason: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _macro_auc(y: np.ndarray, scores: np.ndarray, classes: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    if len(classes) == 2:
        return weighted_roc_auc(y == classes[1], scores[:, 1], weights=weights)
    return np.nanmean([weighted_roc_auc(y == c, scores[:, k], weights=weights) for k, c in enumerate(classes)], axis=0)


def _fold_count(y: np.ndarray, groups: np.ndarray) -> int:
    """As many folds as the class with the fewest groups allows (at most MAX_FOLDS)."""
    per_class = pd.Series(groups).groupby(y).nunique()
    return int(min(MAX_FOLDS, per_class.min())) if len(per_class) >= 2 else 0


def _out_of_fold(x: np.ndarray, y: np.ndarray, *, groups: np.ndarray, folds: int, seed: int) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    classes = np.unique(y)
    scores = np.zeros((len(y), len(classes)))
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small folds: "least populated class" and convergence chatter
        for train, test in splitter.split(x, y, groups):
            present = np.unique(y[train])
            if len(present) < 2:  # a fold without both classes can only predict the base rate
                scores[test] = np.mean(y[train, None] == classes[None, :], axis=0)
                continue
            model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
            model.fit(x[train], y[train])
            proba = model.predict_proba(x[test])
            for k, c in enumerate(model.classes_):
                scores[test, np.searchsorted(classes, c)] = proba[:, k]
    return scores


def _bootstrap_ci(y: np.ndarray, scores: np.ndarray, groups: np.ndarray, seed: int) -> tuple[float, float]:
    """95 % percentile interval of the AUC over bootstrap resamples of whole groups."""
    classes = np.unique(y)
    resamples = group_resamples(groups, N_BOOTSTRAP, seed=seed)
    values = np.concatenate([_macro_auc(y, scores, classes, weights) for weights in resamples])
    return percentile_interval(values, level=0.95)


def feature_table(frame: pd.DataFrame, features: list[str], *, y: np.ndarray, class_names: dict) -> list[dict]:
    """Per feature: median per class and the feature's own AUC, most telling first."""
    classes = [int(c) for c in np.unique(y)]
    rows = []
    for name in features:
        values = frame[name].to_numpy(dtype=float)
        row: dict = {"feature": name}
        for c in classes:
            row[f"median_{class_names.get(c, c)}"] = float(np.median(values[y == c]))
        # The feature alone, in whichever direction separates better (the medians show the direction).
        aucs = [float(weighted_roc_auc(y == c, values)[0]) for c in (classes[1:] if len(classes) == 2 else classes)]
        row["auc"] = max(max(a, 1.0 - a) for a in aucs)
        rows.append(row)
    rows.sort(key=lambda r: -r["auc"])
    return rows


def run_probe(
    name: str,
    frame: pd.DataFrame,
    *,
    features: list[str],
    labels: pd.Series,
    groups: pd.Series,
    class_names: dict,
    thresholds: tuple[float, float],
    seed: int,
) -> ProbeResult:
    """Cross-validated probe of ``features`` (columns of ``frame``) for ``labels``.

    Args:
        name: probe name for the report.
        frame: one row per sample, with the feature columns.
        features: the columns the probe may use (all-NaN columns are dropped).
        labels: integer class of each row (NaN rows are left out).
        groups: grouping key of each row (folds and bootstrap keep groups whole).
        class_names: label -> class name, for the tables.
        thresholds: (warning, error) AUC thresholds.
        seed: seeds the folds and the bootstrap.
    """
    usable = [f for f in features if frame[f].notna().any()]
    keep = (frame[usable].notna().all(axis=1) & labels.notna()).to_numpy() if usable else np.zeros(len(frame), bool)
    x = frame.loc[keep, usable].to_numpy(dtype=float)
    y = labels[keep].to_numpy(dtype=np.int64)
    g = groups[keep].astype(str).to_numpy()
    base = {"name": name, "n": int(keep.sum()), "n_groups": len(set(g)), "n_excluded": int((~keep).sum())}
    folds = _fold_count(y, g)
    if folds < 2:
        counts = pd.Series(g).groupby(y).nunique().to_dict()
        reason = f"needs at least 2 groups in each of 2 classes; groups per class: {counts or 'none'}"
        return ProbeResult(**base, status="not_enough_samples", folds=folds, features=usable, reason=reason)
    scores = _out_of_fold(x, y, groups=g, folds=folds, seed=seed)
    auc = float(_macro_auc(y, scores, np.unique(y), None)[0])
    ci_low, ci_high = _bootstrap_ci(y, scores, g, seed)
    table = feature_table(frame.loc[keep], usable, y=y, class_names=class_names)
    status = _status(auc, ci_low, thresholds)
    return ProbeResult(
        **base,
        status=status,
        folds=folds,
        features=usable,
        auc=auc,
        ci_low=ci_low,
        ci_high=ci_high,
        feature_table=table,
    )


def _status(auc: float, ci_low: float, thresholds: tuple[float, float]) -> str:
    warning, error = thresholds
    if auc >= error and ci_low > 0.5:
        return "error"
    return "warning" if auc >= warning else "ok"


def describe_top(result: ProbeResult, n: int = 3) -> str:
    """Class medians of the most telling features, e.g. "mask_cell_red_median: anemic 14 vs healthy 41 (AUC 1.00)"."""
    names = [
        key[len("median_") :]
        for key in (result.feature_table[0] if result.feature_table else {})
        if key.startswith("median_")
    ]
    parts = []
    for row in result.feature_table[:n]:
        medians = " vs ".join(f"{cls} {_signed(row['feature'], row[f'median_{cls}'])}" for cls in reversed(names))
        parts.append(f"{row['feature']}: {medians} (AUC {row['auc']:.2f})")
    return "; ".join(parts)


def _signed(feature: str, value: float) -> str:
    return f"{value:+.1f}" if "minus" in feature else f"{value:.3g}"
