"""PNG figures of `rbc-bench report`: confusion matrices, ROC curves, per-tier accuracy.

Figures are built on ``matplotlib.figure.Figure`` and saved by the Agg canvas directly, without pyplot: nothing
touches a display or the global pyplot state, so a report can be written on a headless machine or in a worker.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import auc, roc_curve

CLASS_NAMES: dict[str, tuple[str, str]] = {"module1": ("healthy", "anaemic"), "module2": ("mild", "chronic")}
TIER_HEADS: tuple[str, ...] = ("tier1", "tier2", "tier3", "global")
_MAX_COLUMNS = 4


def panel_grid(n_panels: int, panel_inches: float = 3.2) -> tuple[Figure, list]:
    """A figure of ``n_panels`` axes, up to four a row, drawn by the Agg canvas (no pyplot); unused axes hidden."""
    columns = max(1, min(_MAX_COLUMNS, n_panels))
    rows = max(1, math.ceil(n_panels / columns))
    # At least 7 inches wide, so that the title of a one-panel figure fits.
    figure = Figure(figsize=(max(7.0, panel_inches * columns), panel_inches * rows + 0.6), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, columns, squeeze=False).ravel().tolist()
    for unused in axes[n_panels:]:
        unused.set_visible(False)
    return figure, axes[:n_panels]


def save_figure(figure: Figure, path: Path) -> Path:
    """Save ``figure`` as a PNG at ``path`` (120 dpi); returns ``path``."""
    path = Path(path)
    figure.savefig(path, dpi=120)
    return path


def plot_confusion_matrices(
    matrices: dict[str, np.ndarray], path: Path, *, title: str, class_names: tuple[str, str] = CLASS_NAMES["module1"]
) -> Path:
    """One 2x2 confusion matrix per model (rows: true class, columns: predicted class), counts and row shares.

    Args:
        matrices: model label -> ``[[tn, fp], [fn, tp]]``.
        path: PNG to write.
        title: figure title; say the split, head and how seeds were combined.
        class_names: names of class 0 and class 1.

    Returns:
        ``path``.
    """
    figure, axes = panel_grid(len(matrices))
    figure.suptitle(title)
    for axis, (label, matrix) in zip(axes, matrices.items(), strict=True):
        matrix = np.asarray(matrix, dtype=np.int64)
        totals = matrix.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            shares = np.where(totals > 0, matrix / np.maximum(totals, 1), 0.0)
        axis.imshow(shares, vmin=0.0, vmax=1.0, cmap="Blues")
        for (row, column), count in np.ndenumerate(matrix):
            colour = "white" if shares[row, column] > 0.6 else "black"
            axis.text(column, row, f"{count}\n{shares[row, column]:.0%}", ha="center", va="center", color=colour)
        axis.set_xticks([0, 1], [f"pred {name}" for name in class_names])
        axis.set_yticks([0, 1], [f"true {name}" for name in class_names])
        axis.set_title(textwrap.fill(label, 30, break_long_words=False), fontsize="small")
    return save_figure(figure, path)


def plot_roc_curves(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path, *, title: str) -> Path:
    """ROC curves of several models on one set of axes, with the AUC in the legend.

    Args:
        curves: model label -> (true classes, probability of class 1); a model whose labels hold one class
            only has no curve and is named in the legend as undefined.
        path: PNG to write.
        title: figure title; say the split, head and whether seeds were pooled or one seed is shown.

    Returns:
        ``path``.
    """
    figure = Figure(figsize=(6.0, 5.5), layout="constrained")
    FigureCanvasAgg(figure)
    axis = figure.subplots()
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8, label="chance")
    for label, (y_true, prob) in curves.items():
        y_true = np.asarray(y_true)
        if np.unique(y_true).size < 2:
            axis.plot([], [], label=f"{label} (one class only: undefined)")
            continue
        false_positive_rate, true_positive_rate, _ = roc_curve(y_true, prob)
        area = float(auc(false_positive_rate, true_positive_rate))
        axis.plot(false_positive_rate, true_positive_rate, label=f"{label} (AUC {area:.3f})")
    axis.set_xlabel("false positive rate")
    axis.set_ylabel("true positive rate")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1.01)
    axis.set_title(title, fontsize="medium")
    axis.legend(loc="lower right", fontsize="small")
    return save_figure(figure, path)


def plot_tier_accuracy(accuracies: dict[str, dict[str, dict[str, float]]], path: Path, *, title: str) -> Path:
    """Accuracy of each tier head and the global head, validation next to test, one panel per tiered model.

    Args:
        accuracies: model label -> split (``validation``/``test``) -> head (``TIER_HEADS``) -> accuracy.
        path: PNG to write.
        title: figure title; say how seeds were combined.

    Returns:
        ``path``.
    """
    figure, axes = panel_grid(len(accuracies), panel_inches=3.6)
    figure.suptitle(title)
    positions = np.arange(len(TIER_HEADS))
    width = 0.38
    for axis, (label, by_split) in zip(axes, accuracies.items(), strict=True):
        for offset, split in ((-width / 2, "validation"), (width / 2, "test")):
            values = [by_split.get(split, {}).get(head, np.nan) for head in TIER_HEADS]
            bars = axis.bar(positions + offset, values, width, label=split)
            axis.bar_label(bars, labels=[f"{v:.2f}" if np.isfinite(v) else "" for v in values], fontsize="x-small")
        axis.set_xticks(positions, list(TIER_HEADS))
        axis.set_ylim(0, 1.22)  # head room for the legend above bars that reach 1.0
        axis.set_yticks(np.linspace(0, 1, 6))
        axis.set_ylabel("accuracy")
        axis.set_title(textwrap.fill(label, 36, break_long_words=False), fontsize="small")
        axis.legend(fontsize="x-small", loc="upper center", ncols=2)
    return save_figure(figure, path)
