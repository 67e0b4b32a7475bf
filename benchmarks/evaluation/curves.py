"""Learning curves: training loss and validation score per epoch of every torch case, from summary.json.

Each case of a run's summary.json (``cases[*]``) lists its training stages (``benchmarks.training.stages.StageRecord``
as a dict): per-epoch ``train_loss``, ``train_accuracy``, ``validation_score`` (balanced accuracy, or minus the
validation loss where the accuracy is undefined: ``selected_on``), ``learning_rate``, and the epoch kept. A CNN has one
stage; 3-TierDCFNet's stages (tiers, fusion, severity) are drawn one after the other. Runs written before a field
existed still report: what is missing is left out or said to be not recorded.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.lines import Line2D

from benchmarks.evaluation.plots import panel_grid, save_figure
from rbc_dataset.markup import md_code, md_text

FIGURE_NAME = "learning_curves.png"


@dataclass(frozen=True)
class CaseCurve:
    """The stage records of one case (``model/seed<S>[_fold<F>]``) that have per-epoch losses."""

    model: str
    case: str  # the part after the model: seed0, seed1_fold2
    stages: list[dict]


def _numbers(values) -> list[float]:
    if not isinstance(values, list):
        return []
    return [float(v) if isinstance(v, int | float) else float("nan") for v in values]


def case_curves(summary: dict | None) -> dict[str, list[CaseCurve]]:
    """Model -> its cases' stage records from a summary.json; cases without per-epoch losses (baselines) left out."""
    by_model: dict[str, list[CaseCurve]] = {}
    for case in (summary or {}).get("cases") or []:
        if not isinstance(case, dict) or not isinstance(case.get("stages"), list):
            continue
        stages = [stage for stage in case["stages"] if isinstance(stage, dict) and _numbers(stage.get("train_loss"))]
        if stages:
            model, _, name = str(case.get("case", "?")).partition("/")
            by_model.setdefault(model, []).append(CaseCurve(model, name or "?", stages))
    return by_model


def _stage_slots(cases: list[CaseCurve]) -> dict[str, tuple[int, int]]:
    """Stage name -> (x offset, width): each stage as wide as its longest case, so stages line up across seeds."""
    widths: dict[str, int] = {}
    for curve in cases:
        for stage in curve.stages:
            name = str(stage.get("name", "?"))
            widths[name] = max(widths.get(name, 0), len(_numbers(stage.get("train_loss"))))
    slots, offset = {}, 0
    for name, width in widths.items():
        slots[name] = (offset, width)
        offset += width
    return slots


def _draw_case(axis, score_axis, curve: CaseCurve, *, slots: dict, colour: str) -> None:
    for stage in curve.stages:
        offset, _ = slots[str(stage.get("name", "?"))]
        loss = _numbers(stage.get("train_loss"))
        axis.plot(offset + np.arange(1, len(loss) + 1), loss, color=colour, linewidth=1.2)
        scores = _numbers(stage.get("validation_score"))
        if scores:
            epochs = offset + np.arange(1, len(scores) + 1)
            score_axis.plot(epochs, scores, color=colour, linestyle="--", linewidth=1.0)
            kept = stage.get("selected_epoch")
            if isinstance(kept, int) and 1 <= kept <= len(scores):
                score_axis.plot(offset + kept, scores[kept - 1], marker="*", markersize=11, color=colour, mec="black")


def _score_label(cases: list[CaseCurve]) -> str:
    chosen = {stage.get("selected_on") for curve in cases for stage in curve.stages}
    if "loss" in chosen:
        return "validation score (bal. acc.; −loss if undefined)"
    return "validation balanced accuracy"


def plot_learning_curves(curves: dict[str, list[CaseCurve]], path: Path, *, title: str) -> Path:
    """One panel per model: training loss (solid, left axis) and validation score (dashed, right axis) per epoch.

    Seeds are lines of one colour each; a star marks the epoch kept on validation; several stages (3-TierDCFNet) sit
    one after the other, separated by dotted lines and named at the top.

    Args:
        curves: model label -> its cases (``case_curves``).
        path: PNG to write.
        title: figure title.

    Returns:
        ``path``.
    """
    figure, axes = panel_grid(len(curves), panel_inches=3.8)
    figure.suptitle(title)
    for axis, (label, cases) in zip(axes, curves.items(), strict=True):
        score_axis = axis.twinx()
        slots = _stage_slots(cases)
        for index, curve in enumerate(cases):
            _draw_case(axis, score_axis, curve, slots=slots, colour=f"C{index % 10}")
        if len(slots) > 1:
            for name, (offset, width) in slots.items():
                axis.axvline(offset + 0.5, color="grey", linestyle=":", linewidth=0.8)
                axis.text(
                    offset + 0.5 + width / 2,
                    1.0,
                    name,
                    transform=axis.get_xaxis_transform(),
                    ha="center",
                    va="bottom",
                    fontsize="x-small",
                )
        axis.set_xlabel("epoch" + (" (stages one after the other)" if len(slots) > 1 else ""))
        axis.set_ylabel("training loss")
        score_axis.set_ylabel(_score_label(cases), fontsize="small")
        axis.set_title(textwrap.fill(label, 36, break_long_words=False), fontsize="small", pad=12)
        handles = [Line2D([], [], color=f"C{i % 10}", label=curve.case) for i, curve in enumerate(cases)]
        handles += [
            Line2D([], [], color="black", linestyle="--", label="validation"),
            Line2D([], [], color="black", marker="*", linestyle="", label="epoch kept"),
        ]
        # Below the panel: inside, it would hide the curves of one of the two axes.
        axis.legend(handles=handles, fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=3)
    return save_figure(figure, path)


def _ended_by(stage: dict) -> str:
    threshold = stage.get("threshold")
    if stage.get("stopped_early"):
        return "**early stop** (no better validation score for `patience` epochs)"
    if stage.get("reached_threshold") is True:
        return f"training accuracy reached {threshold}"
    if stage.get("reached_threshold") is False:
        return f"last epoch ({threshold} not reached)"
    return "last epoch"


def _rates(stage: dict) -> str:
    rates = _numbers(stage.get("learning_rate"))
    if not rates:
        return "not recorded"
    return f"{rates[0]:.2g}" if len(rates) == 1 or rates[0] == rates[-1] else f"{rates[0]:.2g} → {rates[-1]:.2g}"


def training_markdown(curves: dict[str, list[CaseCurve]], *, figure: str | None) -> list[str]:
    """The learning-curve section: the figure, the early stops in words, and one table row per case and stage."""
    lines = ["## Learning curves", ""]
    if not curves:
        return [*lines, "No per-epoch training records in these runs' summary.json (feature baselines have none).", ""]
    if figure:
        lines += [f"![Learning curves, one panel per model]({figure})", ""]
    rows, stops = [], []
    for label, cases in curves.items():
        for curve in cases:
            for stage in curve.stages:
                epochs = len(_numbers(stage.get("train_loss")))
                kept, chosen_on = stage.get("selected_epoch"), stage.get("selected_on")
                kept_text = f"{kept} (on {md_text(chosen_on)})" if kept else "last"
                name = md_text(stage.get("name", "?"))
                ended = _ended_by(stage)
                if stage.get("stopped_early"):
                    stops.append(f"{md_code(label)} {md_text(curve.case)} {name} after {epochs} epochs (kept {kept})")
                cells = [md_code(label), md_text(curve.case), name, str(epochs), kept_text, ended, _rates(stage)]
                rows.append("| " + " | ".join(cells) + " |")
    lines += [
        "Training loss per epoch (solid) and the validation score the epoch was chosen on (dashed), one colour "
        "per seed; a star marks the epoch kept. Early stopping ends a stage when the validation score has not "
        "improved for `patience` epochs.",
        "",
        ("Stopped early: " + "; ".join(stops) + ".") if stops else "No stage stopped early.",
        "",
    ]
    header = ["model", "case", "stage", "epochs", "epoch kept", "ended by", "learning rate"]
    return [*lines, "| " + " | ".join(header) + " |", "|" + "---|" * len(header), *rows, ""]
