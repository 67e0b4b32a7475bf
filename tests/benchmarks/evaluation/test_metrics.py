"""Binary classification and cell-class segmentation metrics against scikit-learn and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
)

from benchmarks.evaluation.metrics import (
    METRIC_COLUMNS,
    classification_metrics,
    expected_calibration_error,
    fast_accuracy,
    fast_balanced_accuracy,
    fast_roc_auc,
    segmentation_metrics,
    weighted_accuracy,
    weighted_balanced_accuracy,
    weighted_roc_auc,
)
from rbc_dataset.errors import DataError


def _cases() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(7)
    balanced_true = rng.integers(0, 2, 200)
    imbalanced_true = (rng.random(300) < 0.05).astype(int)
    imbalanced_true[:2] = 1  # at least two positives whatever the draw
    return {
        "balanced": (balanced_true, np.clip(balanced_true * 0.3 + rng.random(200) * 0.7, 0, 1)),
        "ties": (balanced_true, np.round(np.clip(balanced_true * 0.2 + rng.random(200) * 0.8, 0, 1), 1)),
        "imbalanced": (imbalanced_true, rng.random(300)),
        "perfect": (np.array([0, 0, 0, 1, 1]), np.array([0.1, 0.2, 0.3, 0.8, 0.9])),
        "inverse": (np.array([0, 0, 0, 1, 1]), np.array([0.9, 0.8, 0.7, 0.2, 0.1])),
        "all_tied": (np.array([0, 1, 0, 1, 1]), np.full(5, 0.5)),
    }


@pytest.mark.parametrize("case", list(_cases()))
def test_fast_metrics_equal_sklearn(case):
    y_true, prob = _cases()[case]
    pred = (prob >= 0.5).astype(int)
    assert fast_accuracy(y_true, pred) == pytest.approx(accuracy_score(y_true, pred), abs=1e-12)
    assert fast_balanced_accuracy(y_true, pred) == pytest.approx(balanced_accuracy_score(y_true, pred), abs=1e-12)
    assert fast_roc_auc(y_true, prob) == pytest.approx(roc_auc_score(y_true, prob), abs=1e-12)


@pytest.mark.parametrize("case", list(_cases()))
def test_classification_metrics_equal_sklearn(case):
    y_true, prob = _cases()[case]
    pred = (prob >= 0.5).astype(int)
    metrics = classification_metrics(y_true, prob)
    precision, recall, f1, _ = precision_recall_fscore_support(y_true, pred, labels=[0, 1], zero_division=np.nan)
    for name, expected in (("precision", precision), ("recall", recall), ("f1", f1)):
        for cls in (0, 1):
            assert metrics[f"{name}_{cls}"] == pytest.approx(expected[cls], nan_ok=True)
    assert metrics["confusion"] == confusion_matrix(y_true, pred, labels=[0, 1]).tolist()
    assert [metrics[k] for k in ("tn", "fp", "fn", "tp")] == confusion_matrix(y_true, pred).ravel().tolist()
    assert metrics["roc_auc"] == pytest.approx(fast_roc_auc(y_true, prob))
    assert metrics["brier"] == pytest.approx(np.mean((prob - y_true) ** 2))
    assert set(METRIC_COLUMNS) <= set(metrics)


def test_perfect_and_inverse_extremes():
    y_true, prob = _cases()["perfect"]
    assert classification_metrics(y_true, prob)["roc_auc"] == 1.0
    assert classification_metrics(y_true, 1.0 - prob)["roc_auc"] == 0.0
    assert classification_metrics(y_true, 1.0 - prob)["accuracy"] == 0.0


def test_pred_given_overrides_threshold():
    metrics = classification_metrics([0, 1], [0.4, 0.45], pred=[0, 1])  # a run threshold of 0.42
    assert metrics["accuracy"] == 1.0
    assert classification_metrics([0, 1], [0.4, 0.45])["accuracy"] == 0.5


@pytest.mark.parametrize("weighting", ["integer counts", "zeros"])
def test_weighted_metrics_equal_sklearn_on_repeated_samples(weighting):
    # A bootstrap resample is a row of draw counts; scoring it must equal scoring the expanded sample.
    y_true, prob = _cases()["ties"]
    pred = (prob >= 0.5).astype(int)
    rng = np.random.default_rng(3)
    counts = rng.integers(0, 4, size=(5, y_true.size))
    if weighting == "zeros":
        counts[:, ::2] = 0
    for row in counts:
        expanded_true, expanded_prob = np.repeat(y_true, row), np.repeat(prob, row)
        expanded_pred = np.repeat(pred, row)
        weights = row[None, :]
        expected_accuracy = accuracy_score(expanded_true, expanded_pred)
        assert weighted_accuracy(y_true, pred, weights=weights)[0] == pytest.approx(expected_accuracy)
        assert weighted_balanced_accuracy(y_true, pred, weights=weights)[0] == pytest.approx(
            balanced_accuracy_score(expanded_true, expanded_pred)
        )
        assert weighted_roc_auc(y_true, prob, weights=weights)[0] == pytest.approx(
            roc_auc_score(expanded_true, expanded_prob)
        )
    assert weighted_roc_auc(y_true, prob, weights=counts).shape == (5,)


def test_one_class_gives_nan_not_an_error():
    metrics = classification_metrics([1, 1, 1], [0.9, 0.2, 0.7])
    assert math.isnan(metrics["roc_auc"]) and math.isnan(metrics["balanced_accuracy"])
    assert math.isnan(metrics["recall_0"])
    assert metrics["accuracy"] == pytest.approx(2 / 3)
    assert math.isnan(fast_roc_auc([0, 0], [0.1, 0.2])) and math.isnan(fast_balanced_accuracy([1, 1], [1, 0]))
    assert not math.isnan(fast_roc_auc([0, 1], [0.1, 0.2]))


def test_ece_hand_computed():
    # Perfectly calibrated: ten predictions at 0.8 of which eight are right, ten at 0.3 (class 0 at 0.7) seven right.
    y_true = [1] * 8 + [0] * 2 + [0] * 7 + [1] * 3
    prob = [0.8] * 10 + [0.3] * 10
    assert expected_calibration_error(y_true, prob) == pytest.approx(0.0, abs=1e-12)
    # Certain and right half the time: |0.5 - 1.0| = 0.5.
    assert expected_calibration_error([1, 0, 1, 0], [1.0, 1.0, 1.0, 1.0]) == pytest.approx(0.5)
    # Two bins: conf 0.9 all right (gap 0.1, weight 1/2), conf 0.6 all wrong (gap 0.6, weight 1/2) -> 0.35.
    assert expected_calibration_error([1, 1, 1, 1], [0.9, 0.9, 0.4, 0.4]) == pytest.approx(0.35)
    assert classification_metrics([1, 0, 1, 0], [1.0] * 4)["ece"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("y_true", "prob", "pred", "phrase"),
    [
        ([0, 2], [0.1, 0.9], None, "y_true of 0/1"),
        ([0, 1], [0.1, 1.5], None, "prob in [0, 1]"),
        ([0, 1], [0.1, float("nan")], None, "prob in [0, 1]"),
        ([0, 1], [0.1, 0.9], [0, 1, 1], "one length"),
        ([], [], None, "at least one sample"),
    ],
)
def test_classification_metrics_rejects_bad_input(y_true, prob, pred, phrase):
    with pytest.raises(DataError, match=phrase.replace("[", r"\[").replace("]", r"\]")):
        classification_metrics(y_true, prob, pred=pred)


def test_segmentation_metrics_known_masks():
    true_mask = np.zeros((10, 10), dtype=np.uint8)
    pred_mask = np.zeros((10, 10), dtype=np.uint8)
    true_mask[0, :4] = 1  # four cell pixels
    pred_mask[0, 2:5] = 1  # three predicted, two of them right
    metrics = segmentation_metrics(true_mask, pred_mask)
    assert metrics["dice"] == pytest.approx(2 * 2 / (4 + 3))
    assert metrics["iou"] == pytest.approx(2 / 5)
    assert segmentation_metrics(true_mask, true_mask)["dice"] == 1.0


def test_segmentation_background_agreement_does_not_count():
    # 99 % of pixels agree (all background) yet no cell pixel is found: a background-class Dice would be ~1.
    true_mask = np.zeros((10, 10), dtype=bool)
    true_mask[5, 5] = True
    metrics = segmentation_metrics(true_mask, np.zeros_like(true_mask))
    assert metrics["dice"] == 0.0 and metrics["iou"] == 0.0
    # Padding both masks with more background changes nothing.
    padded = segmentation_metrics(np.pad(true_mask, 20), np.pad(true_mask, 20))
    assert padded == segmentation_metrics(true_mask, true_mask)


def test_segmentation_empty_both_is_nan():
    metrics = segmentation_metrics(np.zeros((4, 4)), np.zeros((4, 4)))
    assert math.isnan(metrics["dice"]) and math.isnan(metrics["iou"])


@pytest.mark.parametrize(
    ("true_mask", "pred_mask", "phrase"),
    [
        (np.full((4, 4), 255), np.zeros((4, 4)), "0/1"),
        (np.zeros((4, 4)), np.zeros((4, 5)), "one shape"),
    ],
)
def test_segmentation_rejects_raw_or_mismatched_masks(true_mask, pred_mask, phrase):
    with pytest.raises(DataError, match=phrase):
        segmentation_metrics(true_mask, pred_mask)
