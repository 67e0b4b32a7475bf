"""rbc_dataset.stats: the one weighted ROC AUC and group bootstrap that audit's probes and rbc-bench share."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from benchmarks.evaluation import bootstrap, metrics
from rbc_dataset.auditing import probes
from rbc_dataset.errors import DataError
from rbc_dataset.stats import as_weight_rows, group_resamples, percentile_interval, weighted_roc_auc


def _scored(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = np.clip(0.3 * y + rng.normal(0.35, 0.2, n), 0, 1).round(2)  # rounded: many ties
    groups = np.asarray([f"p{g:03d}" for g in rng.integers(0, n // 10, n)])
    return y, score, groups


def test_weighted_auc_equals_scikit_learn_with_sample_weight():
    y, score, _ = _scored()
    weights = np.random.default_rng(1).integers(0, 4, (6, len(y))).astype(float)
    ours = weighted_roc_auc(y, score, weights=weights)
    for row, value in zip(weights, ours, strict=True):
        assert value == pytest.approx(roc_auc_score(y, score, sample_weight=row), abs=1e-12)
    assert weighted_roc_auc(y.astype(bool), score)[0] == pytest.approx(roc_auc_score(y, score), abs=1e-12)


def test_weighted_auc_is_nan_without_both_classes():
    y, score, _ = _scored(20)
    assert math.isnan(weighted_roc_auc(y, score, weights=np.where(y == 1, 0.0, 1.0))[0])
    assert math.isnan(weighted_roc_auc([], [])[0])


def test_weights_of_the_wrong_shape_are_a_data_error():
    with pytest.raises(DataError, match=r"weights of shape \(R, 3\)"):
        as_weight_rows(np.ones((2, 4)), 3)


def test_resamples_do_not_depend_on_the_block_size():
    _, _, groups = _scored()
    one_block = np.concatenate(list(group_resamples(groups, 250, seed=7)))
    small_blocks = list(group_resamples(groups, 250, seed=7, block_elements=len(groups) * 40))
    assert len(small_blocks) == 7 and np.array_equal(np.concatenate(small_blocks), one_block)
    # Whole groups: every sample of a group carries the same weight in a resample.
    first = one_block[0]
    assert all(len(set(first[groups == g])) == 1 for g in set(groups))
    assert not np.array_equal(one_block, np.concatenate(list(group_resamples(groups, 250, seed=8))))


def test_percentile_interval_leaves_out_undefined_values_up_to_a_share():
    values = np.r_[np.linspace(0, 1, 101), np.full(150, np.nan)]
    assert percentile_interval(values, level=0.9) == pytest.approx((0.05, 0.95))
    assert all(math.isnan(v) for v in percentile_interval(values, level=0.9, min_defined=0.5))
    assert all(math.isnan(v) for v in percentile_interval(np.full(3, np.nan)))


def test_audit_probes_and_rbc_bench_use_one_definition_and_give_identical_intervals():
    assert metrics.weighted_roc_auc is weighted_roc_auc is probes.weighted_roc_auc
    y, score, groups = _scored()
    probe_ci = probes._bootstrap_ci(y, np.c_[1 - score, score], groups, seed=3)
    bench_ci = bootstrap.group_bootstrap_ci(y, score, pred=score >= 0.5, groups=groups, metrics=("roc_auc",), seed=3)[
        "roc_auc"
    ]
    assert probe_ci == bench_ci
    assert probes._macro_auc(y, np.c_[1 - score, score], np.array([0, 1]), None)[0] == metrics.fast_roc_auc(y, score)


def test_a_pooled_share_resamples_whole_images():
    from rbc_dataset.stats import pooled_share_interval

    # Two images, one all hits and one all misses: resampled shares are 0, 1/2 or 1 (a quarter, half, a quarter).
    assert pooled_share_interval([1, 0], [1, 1], n_resamples=4000) == (0.0, 1.0)
    assert pooled_share_interval([3, 6, 9], [4, 8, 12]) == pytest.approx((0.75, 0.75))  # every image at 3/4
    low, high = pooled_share_interval([10, 2, 9, 5], [12, 10, 10, 8], n_resamples=500, seed=3)
    assert low < 26 / 40 < high and (low, high) == pooled_share_interval(
        [10, 2, 9, 5], [12, 10, 10, 8], seed=3, n_resamples=500
    )
    # A paired difference (one method's hits minus another's on the same images) can be negative.
    low, high = pooled_share_interval([-2, -1, 0], [10, 10, 10])
    assert -0.2 <= low < high <= 0
    with pytest.raises(DataError, match="one hit count and one total per image"):
        pooled_share_interval([1, 2], [3])
    with pytest.raises(DataError, match="at least one image"):
        pooled_share_interval([], [])
