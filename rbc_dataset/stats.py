"""Weighted ROC AUC and the group bootstrap: one implementation for audit's probes and rbc-bench's evaluation.

Samples that share a group (the tiles of one parent image, the images of one patient proxy) are not independent,
so a confidence interval resamples whole *groups* with replacement. A resample is a row of sample weights (how
often each sample's group was drawn), and the AUC is computed for many rows at once: one sort serves every
resample. scikit-learn's ``roc_auc_score(..., sample_weight=row)`` gives the same numbers (the tests hold them
equal to 1e-12) but takes one call per resample, about 30 times slower for 1000 resamples.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from rbc_dataset.errors import DataError

# Upper bound on the elements of one (resamples, samples) weight block: keeps memory near 30 MB per block.
BLOCK_ELEMENTS = 4_000_000


def as_weight_rows(weights, n: int) -> np.ndarray:
    """``weights`` as float rows of shape (R, n); ``None`` is one row of ones, a 1-D array one row."""
    weights = np.ones((1, n)) if weights is None else np.asarray(weights, dtype=np.float64)
    if weights.ndim == 1:
        weights = weights[None, :]
    if weights.shape[1] != n:
        raise DataError(None, f"weights of shape (R, {n})", f"shape {weights.shape}", "give one weight per sample")
    return weights


def weighted_roc_auc(y_true, score, *, weights=None) -> np.ndarray:
    """ROC AUC of ``score`` as the Mann-Whitney statistic under each row of ``weights`` (R, N) -> (R,).

    AUC = P(score of a positive > score of a negative) + P(tie) / 2, so tied scores count one half, as in
    scikit-learn. Samples are sorted once; each row then needs a sum per distinct score and a cumulative sum.

    Args:
        y_true: 1 (or True) for a positive sample, 0 (or False) for a negative one.
        score: the score of each sample; higher means more likely positive.
        weights: sample weights, one row per resample; ``None`` scores the samples once, unweighted.

    Returns:
        One AUC per row of weights, NaN where a row weighs no positive or no negative sample.
    """
    y_true, score = np.asarray(y_true), np.asarray(score, dtype=np.float64)
    weights = as_weight_rows(weights, len(y_true))
    if score.size == 0:
        return np.full(len(weights), np.nan)
    order = np.argsort(score, kind="stable")
    sorted_score, sorted_true, sorted_weights = score[order], y_true[order], weights[:, order]
    level_starts = np.flatnonzero(np.r_[True, sorted_score[1:] != sorted_score[:-1]])
    positive = np.add.reduceat(sorted_weights * (sorted_true == 1), level_starts, axis=1)
    negative = np.add.reduceat(sorted_weights * (sorted_true == 0), level_starts, axis=1)
    negatives_below = np.cumsum(negative, axis=1) - negative
    wins = (positive * (negatives_below + 0.5 * negative)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = wins / (positive.sum(axis=1) * negative.sum(axis=1))
    return np.where(np.isfinite(auc), auc, np.nan)


def group_resamples(groups, n_resamples: int, *, seed: int, block_elements: int | None = None) -> Iterator[np.ndarray]:
    """Blocks of bootstrap resamples of whole groups, as sample weights of shape (rows, samples).

    A sample's weight is how often its group was drawn. Together the blocks hold ``n_resamples`` rows; the
    same seed gives the same resamples whatever the block size (the draws are taken in one stream).

    Args:
        groups: the resampling unit of each sample, any values (compared as text).
        n_resamples: number of resamples over all blocks.
        seed: seed of the random generator.
        block_elements: upper bound on rows x samples of one block (memory); ``BLOCK_ELEMENTS`` when omitted.
    """
    _, group_index = np.unique(np.asarray(groups).ravel().astype(str), return_inverse=True)
    group_index = group_index.ravel()
    n_groups = int(group_index.max()) + 1 if group_index.size else 0
    rng = np.random.default_rng(seed)
    block = max(1, (block_elements or BLOCK_ELEMENTS) // max(group_index.size, n_groups, 1))
    for start in range(0, n_resamples, block):
        rows = min(block, n_resamples - start)
        draws = rng.integers(0, n_groups, size=(rows, n_groups))
        offsets = (np.arange(rows) * n_groups)[:, None]
        counts = np.bincount((draws + offsets).ravel(), minlength=rows * n_groups).reshape(rows, n_groups)
        yield counts[:, group_index].astype(np.float64)


def percentile_interval(values: np.ndarray, *, level: float = 0.95, min_defined: float = 0.0) -> tuple[float, float]:
    """Percentile interval of the defined (non-NaN) ``values``; (NaN, NaN) when too few are defined.

    Args:
        values: one statistic per resample, NaN where a resample cannot define it.
        level: coverage of the interval, e.g. 0.95 for the 2.5th and 97.5th percentiles.
        min_defined: the share of values that must be defined; below it the rest would describe a different
            population, and the interval is (NaN, NaN).
    """
    values = np.asarray(values, dtype=np.float64)
    defined = values[~np.isnan(values)]
    if defined.size == 0 or defined.size < min_defined * values.size:
        return float("nan"), float("nan")
    tail = round(50.0 * (1.0 - level), 12)  # 0.95 gives the 2.5th percentile exactly, not 2.5000000000000022
    low, high = np.percentile(defined, [tail, 100.0 - tail])
    return float(low), float(high)


def pooled_share_interval(
    hits, totals, *, n_resamples: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile interval of ``sum(hits) / sum(totals)`` when whole images are resampled with replacement.

    One entry per image: boxes matched and boxes of a BCCD image, or a Dice and 1 for a mean Dice. The cells of
    one image share its stain, focus and crowding, so resampling cells would make 12 images look like 164
    independent samples; the image is the unit. ``hits`` may be a paired difference (one method's matched boxes
    minus another's on the same images): the interval is then that of the difference of the two shares.

    Raises:
        DataError: the two have different lengths, or no image (nothing to resample).
    """
    hits = np.asarray(hits, dtype=np.float64).ravel()
    totals = np.asarray(totals, dtype=np.float64).ravel()
    if hits.size != totals.size or hits.size == 0:
        expected = "one hit count and one total per image, at least one image"
        raise DataError(None, expected, f"{hits.size} hits, {totals.size} totals", "pass both per image")
    values = []
    for weights in group_resamples(np.arange(hits.size), n_resamples, seed=seed):
        denominator = weights @ totals
        values.append(np.where(denominator > 0, weights @ hits / np.where(denominator > 0, denominator, 1), np.nan))
    return percentile_interval(np.concatenate(values), level=level, min_defined=0.5)
