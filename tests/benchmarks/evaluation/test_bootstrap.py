"""Group bootstrap intervals and the mean ± std over seeds."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from benchmarks.evaluation.bootstrap import bootstrap_distribution, group_bootstrap_ci, seed_summary
from benchmarks.evaluation.metrics import classification_metrics
from rbc_dataset.errors import DataError, UsageError


def _half_right(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n samples: the first half right (label 1, pred 1), the second half wrong (label 0, pred 1)."""
    y_true = np.r_[np.ones(n // 2, int), np.zeros(n // 2, int)]
    prob = np.full(n, 0.9)
    return y_true, prob, np.ones(n, int)


def _normal_case(seed: int = 4, n_groups: int = 60, tiles: int = 4):
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_groups), tiles)
    y_true = np.repeat(rng.integers(0, 2, n_groups), tiles)
    prob = np.clip(0.5 + (y_true - 0.5) * 0.4 + rng.normal(0, 0.25, y_true.size), 0, 1)
    return y_true, prob, (prob >= 0.5).astype(int), groups


def test_groups_are_the_resampling_unit():
    y_true, prob, pred = _half_right(1000)
    two_groups = np.r_[np.zeros(500, int), np.ones(500, int)]  # all right samples in one group, all wrong in other
    wide = group_bootstrap_ci(y_true, prob, pred=pred, groups=two_groups, metrics=("accuracy",))["accuracy"]
    narrow = group_bootstrap_ci(y_true, prob, pred=pred, groups=np.arange(1000), metrics=("accuracy",))["accuracy"]
    assert wide == (0.0, 1.0)  # two effective samples: a resample is all right, all wrong or half
    assert narrow[1] - narrow[0] < 0.1
    assert narrow[0] < 0.5 < narrow[1]


def test_same_seed_same_interval_other_seed_other_interval():
    y_true, prob, pred, groups = _normal_case()
    first = group_bootstrap_ci(y_true, prob, pred=pred, groups=groups, seed=3)
    assert group_bootstrap_ci(y_true, prob, pred=pred, groups=groups, seed=3) == first
    assert group_bootstrap_ci(y_true, prob, pred=pred, groups=groups, seed=4) != first


def test_interval_contains_point_estimate():
    y_true, prob, pred, groups = _normal_case()
    point = classification_metrics(y_true, prob, pred=pred)
    intervals = group_bootstrap_ci(y_true, prob, pred=pred, groups=groups, n_resamples=500)
    for name, (low, high) in intervals.items():
        assert low < point[name] < high, name
        assert high - low < 0.5


def test_group_ids_of_any_type_are_accepted():
    y_true, prob, pred, groups = _normal_case()
    as_strings = group_bootstrap_ci(y_true, prob, pred=pred, groups=[f"g{g:03d}" for g in groups])
    assert as_strings == group_bootstrap_ci(y_true, prob, pred=pred, groups=[f"g{g:03d}" for g in groups])
    assert all(np.isfinite(bound) for bounds in as_strings.values() for bound in bounds)


def test_undefined_resamples_are_skipped_or_give_nan():
    # One class only: balanced accuracy and AUC undefined in every resample -> (NaN, NaN); accuracy still defined.
    y_true, prob, pred = np.ones(40, int), np.linspace(0.1, 0.9, 40), np.ones(40, int)
    intervals = group_bootstrap_ci(y_true, prob, pred=pred, groups=np.arange(40) // 4)
    assert all(math.isnan(v) for v in intervals["roc_auc"] + intervals["balanced_accuracy"])
    assert intervals["accuracy"] == (1.0, 1.0)
    # One class-0 group among ten: about a third of resamples lack it, fewer than half, so an interval remains.
    y_true = np.r_[np.zeros(4, int), np.ones(36, int)]
    values = bootstrap_distribution(y_true, prob, pred=pred, groups=np.arange(40) // 4, metrics=("roc_auc",))["roc_auc"]
    assert 0 < np.isnan(values).sum() < values.size / 2
    assert np.isfinite(group_bootstrap_ci(y_true, prob, pred=pred, groups=np.arange(40) // 4)["roc_auc"]).all()


def test_many_resamples_in_blocks_match_one_block(monkeypatch):
    y_true, prob, pred, groups = _normal_case()
    whole = bootstrap_distribution(y_true, prob, pred=pred, groups=groups, n_resamples=50)
    monkeypatch.setattr("rbc_dataset.stats.BLOCK_ELEMENTS", 1000)  # 4 resamples per block
    blocked = bootstrap_distribution(y_true, prob, pred=pred, groups=groups, n_resamples=50)
    for name in whole:  # the generator's stream does not depend on how the draws are blocked
        np.testing.assert_array_equal(whole[name], blocked[name])
    assert whole["roc_auc"].shape == (50,) and np.isfinite(whole["roc_auc"]).all()


@pytest.mark.parametrize(
    ("options", "error", "phrase"),
    [
        ({"metrics": ("f2",)}, UsageError, "valid choices: accuracy"),
        ({"level": 1.5}, UsageError, "level"),
        ({"n_resamples": 0}, UsageError, "n_resamples"),
        ({"groups": [1, 2]}, DataError, "one length"),
    ],
)
def test_bad_arguments_are_rejected(options, error, phrase):
    y_true, prob, pred, groups = _normal_case()
    arguments = {"y_true": y_true, "prob": prob, "pred": pred, "groups": groups, **options}
    with pytest.raises(error, match=phrase):
        group_bootstrap_ci(**arguments)


def test_seed_summary_mean_std_and_n_seeds():
    frame = pd.DataFrame(
        {
            "model": ["a", "a", "a", "b"],
            "split": ["test"] * 4,
            "seed": [0, 1, 2, 0],
            "accuracy": [0.7, 0.8, 0.9, 0.5],
        }
    )
    summary = seed_summary(frame, ["model", "split"], metrics=["accuracy"]).set_index("model")
    assert summary.loc["a", "accuracy_mean"] == pytest.approx(0.8)
    assert summary.loc["a", "accuracy_std"] == pytest.approx(0.1)  # ddof=1
    assert summary.loc["a", "n_seeds"] == 3
    assert math.isnan(summary.loc["b", "accuracy_std"]) and summary.loc["b", "n_seeds"] == 1


def test_seed_summary_names_missing_columns():
    frame = pd.DataFrame({"model": ["a"], "seed": [0], "accuracy": [0.5]})
    with pytest.raises(UsageError, match="roc_auc.*valid columns: model, seed, accuracy"):
        seed_summary(frame, ["model"], metrics=["roc_auc"])
