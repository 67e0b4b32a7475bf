"""Tests for benchmarks/baselines/classical.py: FeatureBaseline fitting on arrays, and the registrations."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import log_loss

from benchmarks.baselines.classical import DEFAULT_C_GRID, FeatureBaseline
from benchmarks.baselines.features import FeatureTable
from benchmarks.catalog import get_model
from rbc_dataset.errors import DataError, UsageError


def _extractor(view, workers: int) -> FeatureTable:
    raise AssertionError("not used on arrays")


def _baseline(**kwargs) -> FeatureBaseline:
    return FeatureBaseline("test", _extractor, **kwargs)


def _blobs(n: int, seed: int, shift: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """Two overlapping Gaussian classes in 3 dimensions (class 1 shifted along the first axis)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.normal(size=(n, 3))
    X[:, 0] += shift * y
    return X, y


def test_registered_baselines_build_feature_baselines() -> None:
    expected = {
        "morphometric": ("features", True),
        "shortcut-background": ("shortcut", False),
        "shortcut-raw-mask": ("shortcut", False),
        "shortcut-cbc": ("shortcut", False),
    }
    for name, (family, needs_mask) in expected.items():
        spec = get_model(name)
        assert (spec.family, spec.task, spec.needs_mask) == (family, "classification", needs_mask)
        assert spec.description
        baseline = spec.factory()
        assert isinstance(baseline, FeatureBaseline) and baseline.name == name
        assert baseline.c_grid == DEFAULT_C_GRID


def test_fit_chooses_c_on_validation_only() -> None:
    X, y = _blobs(80, seed=0)
    val_X, val_y = _blobs(40, seed=1)
    agreeing = _baseline().fit(X, y, val_X=val_X, val_y=val_y, seed=0)
    # Validation labels that contradict the training pattern: the flattest model (smallest C) loses least.
    contradicting = _baseline()
    chosen = contradicting.fit(X, y, val_X=val_X, val_y=1 - val_y, seed=0)
    assert chosen["C"] == min(DEFAULT_C_GRID) and agreeing["C"] > chosen["C"]
    probs = contradicting.predict_proba(val_X)
    assert chosen["validation_score"] == pytest.approx(log_loss(1 - val_y, probs, labels=[0, 1]))
    assert chosen["selection_metric"] == "log_loss" and set(chosen["validation_scores"]) == {
        str(c) for c in DEFAULT_C_GRID
    }


def test_validation_data_does_not_train_the_model() -> None:
    X, y = _blobs(80, seed=0)
    a, b = _baseline(c_grid=(1.0,)), _baseline(c_grid=(1.0,))
    (a_X, a_y), (b_X, b_y) = _blobs(20, seed=2), _blobs(30, seed=3, shift=-3.0)
    a.fit(X, y, val_X=a_X, val_y=a_y, seed=0)
    b.fit(X, y, val_X=b_X, val_y=b_y, seed=0)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_predict_proba_is_a_deterministic_probability() -> None:
    X, y = _blobs(60, seed=4)
    val_X, val_y = _blobs(20, seed=5)
    first, second = _baseline(), _baseline()
    assert first.fit(X, y, val_X=val_X, val_y=val_y, seed=7) == second.fit(X, y, val_X=val_X, val_y=val_y, seed=7)
    probs = first.predict_proba(val_X)
    assert probs.shape == (20,) and probs.dtype == np.float64
    assert np.all((probs >= 0) & (probs <= 1))
    np.testing.assert_array_equal(probs, second.predict_proba(val_X))
    assert ((probs >= 0.5) == val_y).mean() > 0.6  # it learned the shift


def test_all_nan_train_column_is_dropped_and_missing_values_imputed() -> None:
    X, y = _blobs(40, seed=6)
    X = np.column_stack([X, np.full(40, np.nan)])
    X[::5, 1] = np.nan
    X[3, 2] = np.inf
    val_X, val_y = _blobs(20, seed=7)
    val_X = np.column_stack([val_X, np.arange(20.0)])
    baseline = _baseline()
    baseline.feature_names = ("a", "b", "c", "empty")
    chosen = baseline.fit(X, y, val_X=val_X, val_y=val_y, seed=0)
    assert chosen["dropped_columns"] == ["empty"] == baseline.dropped_columns
    probs = baseline.predict_proba(np.column_stack([val_X[:, :3], np.full(20, np.nan)]))
    assert np.isfinite(probs).all()


def test_one_class_in_train_is_a_data_error() -> None:
    X, y = _blobs(20, seed=8)
    with pytest.raises(DataError, match="both classes.*only class 1"):
        _baseline().fit(X, np.ones(20, int), val_X=X, val_y=y, seed=0)


def test_bad_inputs_are_clear_errors() -> None:
    X, y = _blobs(20, seed=9)
    baseline = _baseline()
    with pytest.raises(UsageError, match="call fit"):
        baseline.predict_proba(X)
    with pytest.raises(DataError, match="same length"):
        baseline.fit(X, y[:-1], val_X=X, val_y=y, seed=0)
    with pytest.raises(DataError, match="labels 0/1"):
        baseline.fit(X, y + 1, val_X=X, val_y=y, seed=0)
    with pytest.raises(DataError, match="validation samples"):
        baseline.fit(X, y, val_X=X[:0], val_y=y[:0], seed=0)
    with pytest.raises(DataError, match="no feature value in any training sample"):
        baseline.fit(np.full_like(X, np.nan), y, val_X=X, val_y=y, seed=0)
    baseline.fit(X, y, val_X=X, val_y=y, seed=0)
    with pytest.raises(DataError, match=r"features \(N, 3\)"):
        baseline.predict_proba(X[:, :2])
    with pytest.raises(UsageError, match="C grid"):
        _baseline(c_grid=(0.0, 1.0))


@pytest.mark.parametrize(
    ("name", "missing", "needs"),
    [
        ("shortcut-cbc", "no CBC values in this build's training split", "the CBC reports of the release"),
        ("shortcut-background", "no measurable background in any training sample", "at least 64 background pixels"),
        ("shortcut-raw-mask", "no raw release mask values in any training sample", "the raw release masks"),
        ("morphometric", "no measurable cell in any training sample", "whole cells on the canonical masks"),
    ],
)
def test_a_build_without_what_a_baseline_reads_is_said_in_the_users_words(name, missing, needs) -> None:
    """A CBC baseline on a build without CBC values (no column, or all missing) says so, with no developer hint."""
    X, y = _blobs(20, seed=10)
    baseline = get_model(name).factory()
    for empty in (np.full_like(X, np.nan), X[:, :0]):  # values all missing; no column at all
        with pytest.raises(DataError) as caught:
            baseline.fit(empty, y, val_X=X[:, : empty.shape[1]], val_y=y, seed=0)
        error = caught.value
        assert error.found == missing and error.expected.startswith(needs)
        assert f"leave {name} out with --models" in error.fix
        assert not any(word in str(error) for word in ("NaN", "extract()", "column"))
