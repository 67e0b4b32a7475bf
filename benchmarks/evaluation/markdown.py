"""Markdown of `rbc-bench report`: caveats, the Module-I leaderboard, ablations, paired comparisons, shortcuts,
diagnostics, Module II, segmentation.

Rows come from ``benchmarks.evaluation.report`` (``leaderboard_rows``, ``segmentation_rows``); every value taken
from data is escaped (``rbc_dataset.markup``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from benchmarks.evaluation.cascade_tables import cascade_markdown, reliance_markdown
from benchmarks.evaluation.caveats import RULE_DERIVED, is_rule_derived
from benchmarks.evaluation.shortcuts import ShortcutCheck, shortcut_markdown
from benchmarks.suite.leaky import REPORT_LABEL, WARNING, split_leaky_rows
from rbc_dataset.markup import md_code, md_text

if TYPE_CHECKING:
    from benchmarks.evaluation.report import RunRecord

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


def _ablation_section(runs: list[RunRecord], rows: list[dict]) -> list[str]:
    """Tier heads and ``3tier-*`` variants: apart from the leaderboard, in a fixed order, not ranked."""
    lines = ["## Ablations: tier heads and 3-TierDCFNet variants (not ranked)", ""]
    lines += [
        "Split: **test**. A model's result is its `global` head, ranked above. The tier heads (`tier1`-`tier3`) "
        "and the `3tier-*` variants are shown here for the ablation only, beside their reference (`3tier`, head "
        "`global`), in a fixed order: **no head or variant is chosen on the test split**; picking the best of them "
        "by these numbers would select on the test split. Cells as above.",
        "",
        *_markdown_table(rows, ranked=False),
        "",
    ]
    return [*lines, "Sources:", "", *_sources(runs, rows), ""]


def _difference(row: dict | None) -> str:
    if row is None:
        return "n/a"
    low, high = row["ci_low"], row["ci_high"]
    interval = f" [{low:+.3f}, {high:+.3f}]" if np.isfinite(low) and np.isfinite(high) else ""
    return f"{row['difference']:+.3f}{interval}, {row['share_a_ahead']:.0%} / {row['share_b_ahead']:.0%}"


def _comparison_section(comparisons: list[dict], not_compared: list[str]) -> list[str]:
    """Each model against the best-ranked model scored on the same test samples (comparisons.csv has every pair)."""
    lines = ["## Paired comparisons: Module I, test, global head", ""]
    leaders: dict[str, tuple] = {}  # test samples -> the first (best-ranked) model A of its pairs
    firsts: dict[tuple, dict[str, dict]] = {}
    for row in comparisons:
        a, b = (row["run_a"], row["model_a"]), (row["run_b"], row["model_b"])
        if leaders.setdefault(row["test_samples"], a) == a:
            firsts.setdefault((a, b), {})[row["metric"]] = row
    lines += _comparison_table(firsts) if firsts else ["No two models were scored on the same test samples."]
    if not_compared:
        lines += ["", "Models scored on different test samples (or builds) are not compared:", ""]
        lines += [f"- {md_text(sentence)}" for sentence in not_compared]
    return [*lines, ""]


def _comparison_table(firsts: dict[tuple, dict[str, dict]]) -> list[str]:
    lines = [
        "Each model against the best-ranked model scored on the same test samples: the difference of their means "
        "over seeds (leader - model), its 95 % paired group-bootstrap interval (the same resampled test parents for "
        "both models and all their seeds), and the share of resamples in which the leader / the model is ahead "
        "(ties count for neither). `comparisons.csv` holds every pair.",
        "",
        "| leader | model | balanced acc. difference [95 % CI], leader / model ahead | ROC-AUC difference [95 % CI], "
        "leader / model ahead | test samples (parents) | run |",
        "|---|---|---|---|---|---|",
    ]
    for (a, b), metrics in firsts.items():
        any_row = next(iter(metrics.values()))
        cells = [md_code(a[1]), md_code(b[1]), _difference(metrics.get("balanced_accuracy"))]
        cells += [_difference(metrics.get("roc_auc")), f"{any_row['n_test']} ({any_row['n_test_parents']})"]
        cells.append(md_text(a[0]) if a[0] == b[0] else f"{md_text(a[0])} / {md_text(b[0])}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


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
    shortcuts: list[ShortcutCheck],
    threshold: float,
    command: str,
    warnings: list[str] = (),
    diagnostics: list[str] = (),
    comparisons: list[dict] = (),
    not_compared: list[str] = (),
) -> str:
    """The report as Markdown: caveats, Module-I leaderboard, shortcut baselines, Module-II and segmentation tables.

    Args:
        runs: the loaded runs.
        tables: ``module1`` (ranked), ``ablations`` (optional), ``module2`` and ``segmentation`` rows.
        shortcuts: ``shortcuts.shortcut_checks`` of the Module-I rows.
        threshold: the point estimate from which a shortcut whose interval includes chance is a possible confound.
        command: the command that wrote the report.
        warnings: sentences of ``run_warnings`` (small test splits, rule-derived labels), shown first.
        diagnostics: Markdown lines of ``diagnostics.diagnostics_markdown``, shown after the shortcut baselines.
        comparisons: rows of ``comparisons.paired_comparisons`` (Module I, global head).
        not_compared: sentences of ``comparisons.not_compared``.
    """
    module1, module2, segmentation = tables["module1"], tables["module2"], tables["segmentation"]
    (module1, leaky1), (module2, leaky2) = split_leaky_rows(module1), split_leaky_rows(module2)  # never ranked
    lines = ["# rbc-bench report", "", f"Written by {md_code(command)} from {len(runs)} run(s).", ""]
    if warnings:
        lines += ["## Read this first", "", *(f"- **{md_text(sentence)}**" for sentence in warnings), ""]
    lines += ["## Module I: healthy (0) vs anaemic (1)", ""]
    lines += [
        "Split: **test**. Head `global` only (tier heads and `3tier-*` variants: the ablation table below). Each "
        "cell: mean ± std over seeds [95 % group-bootstrap interval of the mean over seeds: each resample draws "
        "the test parent groups once and averages every seed's score on it]. Sorted by balanced accuracy.",
        "",
    ]
    lines += (_markdown_table(module1) if module1 else ["No Module-I test results in these runs."]) + [""]
    lines += ["Sources:", "", *_sources(runs, module1), ""]
    if tables.get("ablations"):
        lines += _ablation_section(runs, tables["ablations"])
    if comparisons or not_compared:
        lines += _comparison_section(list(comparisons), list(not_compared))
    lines += shortcut_markdown(shortcuts, threshold)
    lines += list(diagnostics)
    if module2:
        lines += _module2_section(runs, module2)
    lines += cascade_markdown(tables.get("cascade") or [])
    lines += reliance_markdown(tables.get("reliance") or [])
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
