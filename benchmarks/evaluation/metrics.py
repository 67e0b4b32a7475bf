"""Metrics of binary classifiers and of the cell class of a segmentation.

Class 1 is the class of interest: anaemic for Module I, chronic for Module II. The reference metrics come from
scikit-learn; the ``weighted_*`` functions are vectorised numpy versions of accuracy, balanced accuracy and ROC-AUC
that score many bootstrap resamples at once (a resample is a row of integer weights: how often each sample was
drawn; ``weighted_roc_auc`` is ``rbc_dataset.stats``'s, which audit's probes use too). ``fast_*`` are the same
functions with every weight 1; the tests hold them equal to scikit-learn.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    brier_score_loss,
    confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
)

from rbc_dataset.errors import DataError
from rbc_dataset.stats import as_weight_rows, weighted_roc_auc

# The scalar metrics of one case, in the column order of a run's metrics.csv. The confusion matrix is written
# flat (tn, fp, fn, tp) so that the CSV stays one value per cell.
METRIC_COLUMNS: tuple[str, ...] = (
    "n",
    "accuracy",
    "balanced_accuracy",
    "precision_0",
    "precision_1",
    "recall_0",
    "recall_1",
    "f1_0",
    "f1_1",
    "roc_auc",
    "ece",
    "brier",
    "tn",
    "fp",
    "fn",
    "tp",
)


def as_binary_array(values, name: str) -> np.ndarray:
    """``values`` as a flat int64 array of 0/1; a DataError naming ``name`` for anything else."""
    array = np.asarray(values).ravel()
    if array.size and not np.isin(array, (0, 1)).all():
        found = sorted({str(v) for v in np.unique(array[~np.isin(array, (0, 1))])[:5]})
        raise DataError(None, f"{name} of 0/1 values", f"{', '.join(found)}", f"map {name} to 0 and 1 first")
    return array.astype(np.int64)


def as_probability_array(values, name: str = "prob") -> np.ndarray:
    """``values`` as a flat float64 array in [0, 1]; a DataError for NaN or values outside."""
    array = np.asarray(values, dtype=np.float64).ravel()
    bad = ~((array >= 0.0) & (array <= 1.0))  # also catches NaN
    if bad.any():
        found = f"{int(bad.sum())} values outside it (first {array[bad][0]!r})"
        raise DataError(None, f"{name} in [0, 1]", found, "pass the probability of class 1")
    return array


def check_same_length(**arrays: np.ndarray) -> None:
    """A DataError naming each array's length unless all have one length."""
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        found = ", ".join(f"{name} {n}" for name, n in lengths.items())
        raise DataError(None, "arrays of one length per sample", found, "pass one value per sample in each array")


def expected_calibration_error(y_true, prob, *, pred=None, n_bins: int = 10) -> float:
    """Expected calibration error (ECE) of the predicted class.

    The confidence of a sample is the predicted probability of the class it was assigned: ``prob`` when
    ``pred`` is 1, ``1 - prob`` when ``pred`` is 0. Confidences fall into ``n_bins`` equal-width bins
    ``(k/B, (k+1)/B]`` over [0, 1] (a confidence of exactly 0 goes into the first bin). ECE is the mean over bins
    of ``|accuracy(bin) - mean confidence(bin)|`` weighted by the fraction of samples in the bin
    (Guo et al. 2017). 0 is perfectly calibrated; 1 is the worst.

    Args:
        y_true: true classes (0/1).
        prob: predicted probability of class 1.
        pred: predicted classes; ``prob >= 0.5`` when omitted.
        n_bins: number of equal-width confidence bins.

    Returns:
        The ECE, or NaN for no samples.
    """
    y_true, prob = as_binary_array(y_true, "y_true"), as_probability_array(prob)
    pred = (prob >= 0.5).astype(np.int64) if pred is None else as_binary_array(pred, "pred")
    check_same_length(y_true=y_true, prob=prob, pred=pred)
    if y_true.size == 0:
        return float("nan")
    confidence = np.where(pred == 1, prob, 1.0 - prob)
    bins = np.clip(np.ceil(confidence * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    correct = (pred == y_true).astype(np.float64)
    count = np.bincount(bins, minlength=n_bins)
    gap = np.abs(np.bincount(bins, correct, n_bins) - np.bincount(bins, confidence, n_bins))
    # |sum(correct) - sum(conf)| / n per bin equals (n_bin / n) * |acc_bin - conf_bin|.
    return float(gap[count > 0].sum() / y_true.size)


def classification_metrics(y_true, prob, *, pred=None, n_bins: int = 10) -> dict:
    """Every metric of one binary case (class 1 = anaemic, or chronic in Module II).

    Metrics that a case cannot define are NaN, never an exception: ``roc_auc`` and ``balanced_accuracy`` when
    ``y_true`` holds one class only, a precision with no sample predicted in that class, a recall of a class
    absent from ``y_true``.

    Args:
        y_true: true classes (0/1).
        prob: predicted probability of class 1.
        pred: predicted classes as the model decided them; ``prob >= 0.5`` when omitted.
        n_bins: bins of the expected calibration error (see ``expected_calibration_error``).

    Returns:
        ``n``, ``accuracy``, ``balanced_accuracy``, ``precision_0/1``, ``recall_0/1``, ``f1_0/1``, ``roc_auc``,
        ``ece``, ``brier``, ``confusion`` (``[[tn, fp], [fn, tp]]``) and the same counts flat as ``tn``, ``fp``,
        ``fn``, ``tp``.

    Raises:
        DataError: labels or predictions not 0/1, probabilities outside [0, 1], lengths that differ, no samples.
    """
    y_true, prob = as_binary_array(y_true, "y_true"), as_probability_array(prob)
    pred = (prob >= 0.5).astype(np.int64) if pred is None else as_binary_array(pred, "pred")
    check_same_length(y_true=y_true, prob=prob, pred=pred)
    if y_true.size == 0:
        raise DataError(None, "at least one sample to score", "none", "check the predictions table")
    both_classes = np.unique(y_true).size == 2
    with warnings.catch_warnings():
        # Undefined precision/recall are NaN by request (zero_division); the warnings would only repeat that.
        warnings.simplefilter("ignore")
        precision, recall, f1, _ = precision_recall_fscore_support(y_true, pred, labels=[0, 1], zero_division=np.nan)
        brier = brier_score_loss(y_true, prob, pos_label=1)
    (tn, fp), (fn, tp) = confusion_matrix(y_true, pred, labels=[0, 1]).tolist()
    return {
        "n": int(y_true.size),
        "accuracy": float(accuracy_score(y_true, pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, pred)) if both_classes else float("nan"),
        "precision_0": float(precision[0]),
        "precision_1": float(precision[1]),
        "recall_0": float(recall[0]),
        "recall_1": float(recall[1]),
        "f1_0": float(f1[0]),
        "f1_1": float(f1[1]),
        "roc_auc": float(roc_auc_score(y_true, prob)) if both_classes else float("nan"),
        "ece": expected_calibration_error(y_true, prob, pred=pred, n_bins=n_bins),
        "brier": float(brier),
        "confusion": [[tn, fp], [fn, tp]],
        "tn": tn,
        "fp": fp,
        "fn": fn,
        "tp": tp,
    }


def weighted_accuracy(y_true: np.ndarray, pred: np.ndarray, *, weights=None) -> np.ndarray:
    """Accuracy under each row of sample weights (R, N) -> (R,); NaN where a row weighs nothing."""
    weights = as_weight_rows(weights, len(y_true))
    total = weights.sum(axis=1)
    correct = weights @ (np.asarray(y_true) == np.asarray(pred)).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return correct / total


def weighted_balanced_accuracy(y_true: np.ndarray, pred: np.ndarray, *, weights=None) -> np.ndarray:
    """Mean of the two class recalls under each row of weights; NaN where a row lacks a class."""
    y_true, pred = np.asarray(y_true), np.asarray(pred)
    weights = as_weight_rows(weights, len(y_true))
    positive, negative = (y_true == 1).astype(np.float64), (y_true == 0).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall_1 = (weights @ (positive * (pred == 1))) / (weights @ positive)
        recall_0 = (weights @ (negative * (pred == 0))) / (weights @ negative)
    return (recall_0 + recall_1) / 2.0


def fast_accuracy(y_true, pred) -> float:
    """Accuracy, numpy only (equal to scikit-learn's ``accuracy_score``)."""
    return float(weighted_accuracy(np.asarray(y_true), np.asarray(pred))[0])


def fast_balanced_accuracy(y_true, pred) -> float:
    """Balanced accuracy, numpy only; NaN with one class (scikit-learn averages the classes present)."""
    return float(weighted_balanced_accuracy(np.asarray(y_true), np.asarray(pred))[0])


def fast_roc_auc(y_true, prob) -> float:
    """ROC-AUC by ranks with ties averaged, numpy only; NaN with one class (scikit-learn raises)."""
    return float(weighted_roc_auc(np.asarray(y_true), np.asarray(prob))[0])


def segmentation_metrics(true_mask, pred_mask) -> dict:
    """Dice and IoU of the cell class (1) only; background pixels never count as agreement.

    Masks are canonical 0/1 (or boolean) arrays of one shape; a batch of masks is pooled over all its pixels
    (score each image on its own and average for a per-image mean). When neither mask holds a cell pixel, Dice
    and IoU are 0/0 and returned as NaN: there is no cell to find, so the case says nothing about segmentation
    quality and must not be averaged in as a perfect 1.

    Args:
        true_mask: reference mask, 1 = cell, 0 = background.
        pred_mask: predicted mask of the same shape.

    Returns:
        ``dice``, ``iou``, ``cell_pixels_true``, ``cell_pixels_pred``, ``cell_pixels_both``.

    Raises:
        DataError: shapes differ, or a mask holds values other than 0/1 (a raw 0/255 mask must be made
            canonical first).
    """
    true_mask, pred_mask = np.asarray(true_mask), np.asarray(pred_mask)
    if true_mask.shape != pred_mask.shape:
        raise DataError(
            None, "true and predicted masks of one shape", f"{true_mask.shape} and {pred_mask.shape}", "resize first"
        )
    true_cells = as_binary_array(true_mask, "true_mask").astype(bool)
    pred_cells = as_binary_array(pred_mask, "pred_mask").astype(bool)
    both = int(np.count_nonzero(true_cells & pred_cells))
    n_true, n_pred = int(true_cells.sum()), int(pred_cells.sum())
    union = n_true + n_pred - both
    return {
        "dice": 2.0 * both / (n_true + n_pred) if n_true + n_pred else float("nan"),
        "iou": both / union if union else float("nan"),
        "cell_pixels_true": n_true,
        "cell_pixels_pred": n_pred,
        "cell_pixels_both": both,
    }
