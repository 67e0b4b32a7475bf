"""Calibration of Module I: a reliability diagram per model, with ECE and the Brier score beside it.

A model can rank tiles well (high ROC-AUC) and still say 0.99 where it is right two times in three. The diagram
pools a model's test predictions over its seeds (one panel per model, as the ROC curves do); ECE and Brier are the
mean ± std over seeds of each seed's value in metrics.csv (``metrics.classification_metrics``, the one place they
are computed, so ``rbc-bench score`` re-scores them).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from sklearn.calibration import calibration_curve

from benchmarks.evaluation.plots import panel_grid, save_figure
from rbc_dataset.markup import md_code, md_text

N_BINS = 10
FIGURE_NAME = "reliability.png"


def plot_reliability_diagrams(
    curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path, *, title: str, n_bins: int = N_BINS
) -> Path:
    """One reliability diagram per model: observed share of class 1 against the mean predicted probability.

    Args:
        curves: model label -> (true classes 0/1, probability of class 1), seeds pooled.
        path: PNG to write.
        title: figure title; say the split, head and how seeds were combined.
        n_bins: equal-width probability bins over [0, 1].

    Returns:
        ``path``.
    """
    figure, axes = panel_grid(len(curves), panel_inches=3.4)
    figure.suptitle(title)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    for axis, (label, (y_true, prob)) in zip(axes, curves.items(), strict=True):
        y_true, prob = np.asarray(y_true), np.asarray(prob, dtype=np.float64)
        counts, _ = np.histogram(prob, bins=edges)
        axis.bar(edges[:-1], counts / max(len(prob), 1), width=1.0 / n_bins, align="edge", color="0.85", label="tiles")
        axis.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8, label="perfect")
        observed, predicted = calibration_curve(y_true, prob, n_bins=n_bins, strategy="uniform")
        axis.plot(predicted, observed, marker="o", markersize=3, label="observed")
        axis.set_xlim(0, 1)
        axis.set_ylim(0, 1.02)
        axis.set_xlabel("predicted p(anaemic)")
        axis.set_ylabel("share anaemic / share of tiles")
        axis.set_title(textwrap.fill(f"{label} (n={len(prob)})", 34, break_long_words=False), fontsize="small")
        axis.legend(fontsize="x-small", loc="upper left")
    return save_figure(figure, path)


def _mean_std(row: dict, metric: str) -> str:
    mean, std = row.get(f"{metric}_mean", np.nan), row.get(f"{metric}_std", np.nan)
    if not np.isfinite(mean):
        return "not recorded"
    return f"{mean:.3f} ± {std:.3f}" if np.isfinite(std) else f"{mean:.3f}"


def calibration_markdown(rows: list[dict], *, figure: str | None) -> list[str]:
    """The calibration section: the diagram and a table of ECE and Brier per model (global head), best Brier first.

    Args:
        rows: Module-I leaderboard rows (``report.leaderboard_rows``); only the ``global`` head is shown.
        figure: the diagram's file name in the report folder, None when no predictions could draw it.
    """
    lines = ["## Calibration: Module I, test, global head", ""]
    if figure:
        lines += [f"![Reliability diagrams, one panel per model]({figure})", ""]
    lines += [
        f"`{FIGURE_NAME}`: the share of anaemic tiles against the predicted probability of anaemic in {N_BINS} "
        "equal-width bins, every seed's test predictions pooled (grey bars: share of tiles per bin; dashed: perfect "
        f"calibration). ECE: the confidence of the predicted class against its accuracy ({N_BINS} bins; 0 is "
        "perfect). Brier: mean squared difference of the probability and the class (0 is perfect; always saying "
        "0.5 gives 0.25). Both are mean ± std over seeds of each seed's value in metrics.csv.",
        "",
    ]
    shown = [row for row in rows if row["head"] == "global"]
    if not shown:
        return [*lines, "No Module-I test results in these runs.", ""]

    def key(row: dict) -> tuple:
        brier = row.get("brier_mean", np.nan)
        return (not np.isfinite(brier), brier if np.isfinite(brier) else 0.0, row["model"], row["run"])

    shown.sort(key=key)
    header = ["model", "ECE", "Brier", "seeds", "run"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in shown:
        cells = [md_code(row["model"]), _mean_std(row, "ece"), _mean_std(row, "brier"), str(row["n_seeds"])]
        lines.append("| " + " | ".join([*cells, md_text(row["run"])]) + " |")
    return [*lines, ""]
