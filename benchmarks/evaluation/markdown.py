"""Markdown of `rbc-bench report`: caveats, the Module-I leaderboard, shortcuts, diagnostics, Module II, segmentation.

Rows come from ``benchmarks.evaluation.report`` (``leaderboard_rows``, ``segmentation_rows``); every value taken
from data is escaped (``rbc_dataset.markup``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from benchmarks.evaluation.caveats import RULE_DERIVED, is_rule_derived
from benchmarks.suite.leaky import REPORT_LABEL, WARNING, split_leaky_rows
from rbc_dataset.markup import md_code, md_text

if TYPE_CHECKING:
    from benchmarks.evaluation.report import RunRecord

SHORTCUT_PREFIX = "shortcut-"
_TABLE_METRICS = (("balanced_accuracy", "balanced acc."), ("accuracy", "accuracy"), ("roc_auc", "ROC-AUC"))


def _format_metric(row: dict, metric: str) -> str:
    mean, std = row[f"{metric}_mean"], row[f"{metric}_std"]
    if np.isnan(mean):
        return "n/a"
    text = f"{mean:.3f} ± {std:.3f}" if np.isfinite(std) else f"{mean:.3f}"
    low, high = row.get(f"{metric}_ci_low", np.nan), row.get(f"{metric}_ci_high", np.nan)
    return f"{text} [{low:.3f}, {high:.3f}]" if np.isfinite(low) and np.isfinite(high) else text


def sample_size(row: dict) -> str:
    """``samples (parents)`` of a row's test split, e.g. ``24 (2)``; ``?`` for what a run did not record."""
    samples = str(row["n_test"]) if row.get("n_test", -1) >= 0 else "?"
    parents = row.get("n_test_parents", -1)
    return f"{samples} ({parents if parents >= 0 else '?'})"


def _markdown_table(rows: list[dict], ranked: bool = True, labels: bool = False) -> list[str]:
    """Rows as a Markdown table: ranked (#) or not (rows on rule-derived labels), with a labels column or not."""
    header = ["#" if ranked else "-", "model", "head", *(title for _, title in _TABLE_METRICS), "ECE", "seeds"]
    header += ["test samples (parents)", *(["labels"] if labels else []), "weights", "run"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for rank, row in enumerate(rows, start=1):
        cells = [str(rank) if ranked else "-", md_code(row["model"]), md_text(row["head"])]
        cells += [*(_format_metric(row, m) for m, _ in _TABLE_METRICS), _format_metric(row, "ece")]
        cells += [str(row["n_seeds"]), sample_size(row), *([md_text(row["labels"])] if labels else [])]
        lines.append("| " + " | ".join([*cells, md_text(row.get("weights", "-")), md_text(row["run"])]) + " |")
    return lines


def _module2_section(runs: list[RunRecord], rows: list[dict]) -> list[str]:
    """Module II: rows on the dataset's labels ranked; rows on rule-derived labels below, marked and unranked."""
    ranked = [row for row in rows if not is_rule_derived(row["labels"])]
    circular = [row for row in rows if is_rule_derived(row["labels"])]
    lines = ["## Module II: mild (0) vs chronic (1), anaemic samples with a severity", ""]
    lines += [
        "Split: **test**. Heads `learned` and `rule`. Cells as above. Labels: the severity the dataset gives "
        "(`labels` `dataset`; on a synthetic build, the synthetic truth), never the rule's output, unless a row "
        f"says **{RULE_DERIVED}**.",
        "",
    ]
    lines += [*_markdown_table(ranked, labels=True), ""] if ranked else ["No row scored on the dataset's labels.", ""]
    if circular:
        lines += [
            f"Scored on **{RULE_DERIVED}** (not ranked): the dataset gives no severity for these samples, so the "
            "project's severity rule labelled them, and the learned head was trained and scored on the rule's "
            "output. The scores measure agreement with the rule, which is circular, not severity.",
            "",
            *_markdown_table(circular, ranked=False, labels=True),
            "",
        ]
    return [*lines, "Sources:", "", *_sources(runs, rows), ""]


def _sources(runs: list[RunRecord], rows: list[dict]) -> list[str]:
    used = {row["run"] for row in rows}
    return [
        f"- {md_code(run.label)}: data {md_code(run.data)}, device {md_code(run.device)}, "
        f"command {md_code(run.command)}"
        for run in runs
        if run.label in used
    ]


def _skipped(runs: list[RunRecord]) -> list[tuple[str, str, str]]:
    """(run, model, reason) for each model a run's summary.json lists as skipped (a mapping or a list)."""
    found = []
    for run in runs:
        skipped = (run.summary or {}).get("skipped") or {}
        if isinstance(skipped, dict):
            entries = list(skipped.items())
        else:  # a list of {"model": ..., "reason": ...} records
            entries = [(item.get("model", "?"), item.get("reason", "?")) for item in skipped if isinstance(item, dict)]
        found += [(run.label, str(model), str(reason)) for model, reason in entries]
    return found


def skipped_models(runs: list[RunRecord]) -> list[str]:
    """``run: model: reason`` for each model a run's summary.json lists as skipped (a mapping or a list)."""
    return [f"- `{label}`: `{model}`: {reason}" for label, model, reason in _skipped(runs)]


def _segmentation_table(rows: list[dict]) -> list[str]:
    header = ["#", "model", "Dice", "IoU", "Dice per image", "AP50", "seeds", "n test", "run"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for rank, row in enumerate(rows, start=1):
        cells = [str(rank), md_code(row["model"])]
        cells += [_format_metric(row, metric) for metric in ("dice", "iou", "dice_per_image", "ap50")]
        cells += [str(row["n_seeds"]), str(row["n_test"]), md_text(row["run"])]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _shortcut_section(module1: list[dict], shortcuts: list[str], threshold: float) -> list[str]:
    lines = ["## Shortcut baselines", ""]
    if shortcuts:
        lines += [f"- **{md_text(flag)}**" for flag in shortcuts]
    elif any(row["model"].startswith(SHORTCUT_PREFIX) and row["head"] == "global" for row in module1):
        lines.append(f"No shortcut baseline reaches balanced accuracy {threshold:.2f} on test.")
    else:
        lines.append("No shortcut baselines (models named `shortcut-*`) in these runs.")
    return [*lines, ""]


def _leaky_section(runs: list[RunRecord], module1: list[dict], module2: list[dict]) -> list[str]:
    """Rows of leaky-split runs (``rbc-bench run --protocol leaky-tiles``): apart, unranked, and said to be so."""
    lines = [f"## {REPORT_LABEL}: not ranked, not comparable", "", f"**{md_text(WARNING)}**", ""]
    for title, rows in (("Module I, test", module1), ("Module II, test", module2)):
        lines += [f"{title}:", "", *_markdown_table(rows, ranked=False, labels=True), ""] if rows else []
    return [*lines, "Sources:", "", *_sources(runs, module1 + module2), ""]


def render_markdown(
    runs: list[RunRecord],
    tables: dict[str, list[dict]],
    *,
    shortcuts: list[str],
    threshold: float,
    command: str,
    warnings: list[str] = (),
    diagnostics: list[str] = (),
) -> str:
    """The report as Markdown: caveats, Module-I leaderboard, shortcut baselines, Module-II and segmentation tables.

    Args:
        runs: the loaded runs.
        tables: ``module1``, ``module2`` and ``segmentation`` rows.
        shortcuts: sentences of ``find_shortcuts``.
        threshold: the shortcut threshold, quoted when nothing is flagged.
        command: the command that wrote the report.
        warnings: sentences of ``run_warnings`` (small test splits, rule-derived labels), shown first.
        diagnostics: Markdown lines of ``diagnostics.diagnostics_markdown``, shown after the shortcut baselines.
    """
    module1, module2, segmentation = tables["module1"], tables["module2"], tables["segmentation"]
    (module1, leaky1), (module2, leaky2) = split_leaky_rows(module1), split_leaky_rows(module2)  # never ranked
    lines = ["# rbc-bench report", "", f"Written by {md_code(command)} from {len(runs)} run(s).", ""]
    if warnings:
        lines += ["## Read this first", "", *(f"- **{md_text(sentence)}**" for sentence in warnings), ""]
    lines += ["## Module I: healthy (0) vs anaemic (1)", ""]
    lines += [
        "Split: **test**. Head `global` (3-TierDCFNet also `tier1`-`tier3`). Each cell: mean ± std over seeds "
        "[mean of the per-seed 95 % bootstrap bounds over `group_id`]. Sorted by balanced accuracy.",
        "",
    ]
    lines += (_markdown_table(module1) if module1 else ["No Module-I test results in these runs."]) + [""]
    lines += ["Sources:", "", *_sources(runs, module1), ""]
    lines += _shortcut_section(module1, shortcuts, threshold)
    lines += list(diagnostics)
    if module2:
        lines += _module2_section(runs, module2)
    if segmentation:
        lines += ["## Segmentation: cell class (1) only, never background", ""]
        lines += ["Split: **test**. Each cell: mean ± std over seeds. Sorted by Dice.", ""]
        lines += [*_segmentation_table(segmentation), "", "Sources:", "", *_sources(runs, segmentation), ""]
    if leaky1 or leaky2:
        lines += _leaky_section(runs, leaky1, leaky2)
    skipped = [f"- {md_code(label)}: {md_code(model)}: {md_text(reason)}" for label, model, reason in _skipped(runs)]
    if skipped:
        lines += ["## Skipped models", "", *skipped, ""]
    return "\n".join(lines)
