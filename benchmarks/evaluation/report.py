"""`rbc-bench report RUN... --out DIR`: leaderboards, the shortcut check and figures from finished runs.

Machine-readable first: ``report.json`` (schema version 1) and ``leaderboard.csv`` hold the rows that
``leaderboard.md`` and the console table render. Every number comes from a run's metrics.csv (mean ± std over
seeds, mean of the per-seed 95 % group-bootstrap bounds); the figures come from its predictions/. Calibration,
Module-I recall per severity, per-parent errors and learning curves are ``diagnostics``'s.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.evaluation.bootstrap import seed_summary
from benchmarks.evaluation.caveats import (
    RULE_DERIVED,
    is_rule_derived,
    labels_mark,
    rule_label_warnings,
    sample_warnings,
)
from benchmarks.evaluation.diagnostics import (
    collect_diagnostics,
    diagnostics_json,
    diagnostics_markdown,
    write_diagnostics,
)
from benchmarks.evaluation.markdown import SHORTCUT_PREFIX, render_markdown, skipped_models
from benchmarks.evaluation.plots import (
    TIER_HEADS,
    plot_confusion_matrices,
    plot_roc_curves,
    plot_tier_accuracy,
)
from benchmarks.evaluation.run_tables import CaseTable, read_test_tables, rows_by_model
from benchmarks.evaluation.scoring import CI_COLUMNS, SAMPLE_COLUMNS, read_metrics
from benchmarks.suite.leaky import is_leaky_label, leaky_warnings, report_label
from rbc_dataset.config_file import load_config_file
from rbc_dataset.errors import DataError
from rbc_dataset.fileio import atomic_directory, atomic_write_bytes, check_output_outside, write_json

SCHEMA_VERSION = 1
SHORTCUT_THRESHOLD = 0.7
# What a shortcut baseline sees, by a word in its name; the report says the dataset is confounded by *this*.
SHORTCUT_INPUTS: dict[str, str] = {
    "background": "the background colour",
    "mask": "the raw mask intensity",
    "cbc": "the CBC values",
}
SUMMARY_METRICS: tuple[str, ...] = ("accuracy", "balanced_accuracy", "roc_auc", "ece", "brier")
LEADERBOARD_COLUMNS: tuple[str, ...] = (
    "run",
    "model",
    "task",
    "head",
    *(f"{metric}_{statistic}" for metric in SUMMARY_METRICS for statistic in ("mean", "std")),
    *CI_COLUMNS,
    "n_seeds",
    "n_test",
    "n_test_parents",
    "n_test_groups",
    "labels",
    "weights",
    "data",
    "device",
)
SEGMENTATION_METRICS: tuple[str, ...] = ("dice", "iou", "dice_per_image", "iou_per_image", "ap50", "ap75")
SEGMENTATION_COLUMNS: tuple[str, ...] = (
    "run",
    "model",
    *(f"{metric}_{statistic}" for metric in SEGMENTATION_METRICS for statistic in ("mean", "std")),
    "n_seeds",
    "n_test",
    "data",
    "device",
)


@dataclass(frozen=True)
class RunRecord:
    """What the report needs from one run folder."""

    path: Path  # the run folder
    label: str  # "<suite>/<run name>", how tables name the run
    metrics: pd.DataFrame  # its metrics.csv
    data: str  # the `data` key of its config.yaml
    device: str  # the `device` of its env.json
    command: str  # the `command` of its env.json
    summary: dict | None  # its summary.json, when present


def _read_json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(path, "a readable JSON file", f"an error: {exc}", "re-run the suite") from exc


def load_run(run_dir: Path) -> RunRecord:
    """Read a run folder's metrics.csv, config.yaml, env.json and summary.json (the last three optional).

    Raises:
        DataError: not a folder, or no readable metrics.csv.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(run_dir, "a run folder", "no such folder", "pass runs/<suite>/<timestamp>_<gitsha>/")
    config_path = run_dir / "config.yaml"
    config = load_config_file(config_path) if config_path.is_file() else {}
    data = config.get("data", "unknown (no `data` in config.yaml)")
    if isinstance(data, dict):  # a data section rather than a path: show its path when it names one
        data = data.get("path", data)
    if config.get("test_data"):  # an external test: the data column names both builds
        data = f"{data} (tested on {config['test_data']})"
    env = _read_json(run_dir / "env.json") or {}
    return RunRecord(
        path=run_dir,
        label=report_label(f"{run_dir.parent.name}/{run_dir.name}", run_dir, config=config),  # a leaky run says so
        metrics=read_metrics(run_dir),
        data=str(data),
        device=str(env.get("device", "unknown (no env.json)")),
        command=str(env.get("command", "unknown")),
        summary=_read_json(run_dir / "summary.json"),
    )


def _sort_rows(rows: list[dict]) -> list[dict]:
    # Best balanced accuracy first; a model without one (NaN) goes last rather than first; rows scored on
    # rule-derived labels come after every other row: they are not ranked; rows of a leaky-split run come last.
    def key(row: dict) -> tuple:
        value = row["balanced_accuracy_mean"]
        ranked = (is_rule_derived(row.get("labels")), np.isnan(value), -value if not np.isnan(value) else 0.0)
        return (is_leaky_label(row["run"]), *ranked, row["model"], row["head"], row["run"])

    return sorted(rows, key=key)


def _as_record(run: RunRecord | Path) -> RunRecord:
    return run if isinstance(run, RunRecord) else load_run(Path(run))


def _group_rows(run: RunRecord, table: pd.DataFrame, keys: list[str], metrics: tuple[str, ...]) -> list[dict]:
    """Per ``keys`` group of one run: mean ± std over seeds of ``metrics``, mean CI bounds, seeds, samples."""
    table = table.copy()
    for column in (*metrics, *CI_COLUMNS, "n", *SAMPLE_COLUMNS):
        if column not in table.columns:  # an older or partial metrics.csv: show the gap, do not invent it
            table[column] = np.nan
    summary = seed_summary(table, keys, metrics=metrics).set_index(keys)
    bounds = table.groupby(keys)[list(CI_COLUMNS)].mean()
    sizes = table.groupby(keys)[["n", *SAMPLE_COLUMNS]].max()
    rows = []
    for key, stats in summary.iterrows():
        row = {"run": run.label, **dict(zip(keys, key, strict=True)), **stats.to_dict(), **bounds.loc[key].to_dict()}
        row["n_seeds"] = int(stats["n_seeds"])
        count = sizes.loc[key]
        for name, column in (("n_test", "n"), ("n_test_parents", "n_parents"), ("n_test_groups", "n_groups")):
            row[name] = int(count[column]) if pd.notna(count[column]) else -1  # -1: not recorded
        row["labels"] = labels_mark(count["n_rule_labels"], count["n"]) or _labels_from_summary(run, row)
        row["weights"] = _weights_from_summary(run, row["model"])
        rows.append({**row, "data": run.data, "device": run.device})
    return rows


def _weights_from_summary(run: RunRecord, model: str) -> str:
    """How a model's network started (``from scratch`` / ``ImageNet (path)``); ``-`` for feature baselines."""
    cases = (run.summary or {}).get("cases") or []
    starts = {case.get("weights") for case in cases if str(case.get("case", "")).split("/")[0] == model}
    starts.discard(None)
    return ", ".join(sorted(starts)) if starts else "-"


def _labels_from_summary(run: RunRecord, row: dict) -> str:
    """Labels of a row whose metrics.csv predates ``n_rule_labels``: the run's summary.json counts derived ones."""
    if row.get("task") != "module2" or row.get("head") != "learned":
        return "dataset"
    test = ((run.summary or {}).get("severity_labels") or {}).get("test") or {}
    derived, known = int(test.get("derived") or 0), int(test.get("known") or 0)
    if derived == 0:
        return "dataset" if test else "not recorded"
    return RULE_DERIVED if known == 0 else f"{RULE_DERIVED} ({derived} of {derived + known})"


def leaderboard_rows(
    runs: list[RunRecord | Path],
    *,
    task: str = "module1",
    heads: tuple[str, ...] | None = TIER_HEADS,
    split: str = "test",
) -> list[dict]:
    """One row per (run, model, head) of ``task`` on ``split``: mean ± std over seeds, mean CI bounds, sorted.

    Args:
        runs: run folders or loaded runs.
        task: ``module1`` or ``module2``.
        heads: heads to keep (None keeps every head of the task); by default the global and tier heads.
        split: the split to summarise; results are test-split numbers.

    Returns:
        Rows with the columns of ``LEADERBOARD_COLUMNS``, best balanced accuracy first.
    """
    rows = []
    for run in map(_as_record, runs):
        table = run.metrics[(run.metrics["split"] == split) & (run.metrics["task"] == task)]
        if heads is not None:
            table = table[table["head"].isin(heads)]
        if not table.empty:
            grouped = _group_rows(run, table, ["model", "task", "head"], SUMMARY_METRICS)
            rows += [{column: row[column] for column in LEADERBOARD_COLUMNS} for row in grouped]
    return _sort_rows(rows)


def segmentation_rows(runs: list[RunRecord | Path]) -> list[dict]:
    """One row per (run, model) of segmentation test results: cell-class Dice, IoU, AP, best Dice first."""
    rows = []
    for run in map(_as_record, runs):
        table = run.metrics[(run.metrics["split"] == "test") & (run.metrics["task"] == "segmentation")]
        if not table.empty:
            grouped = _group_rows(run, table, ["model", "task"], SEGMENTATION_METRICS)
            rows += [{column: row[column] for column in SEGMENTATION_COLUMNS} for row in grouped]
    return sorted(rows, key=lambda row: (np.isnan(row["dice_mean"]), -np.nan_to_num(row["dice_mean"]), row["model"]))


def _shortcut_input(model: str) -> str:
    for word, seen in SHORTCUT_INPUTS.items():
        if word in model.lower():
            return seen
    return "its shortcut features"


def find_shortcuts(rows: list[dict], threshold: float = SHORTCUT_THRESHOLD) -> list[str]:
    """A sentence per shortcut baseline whose mean test balanced accuracy (global head) reaches ``threshold``."""
    flags = []
    for row in rows:
        value = row["balanced_accuracy_mean"]
        if row["model"].startswith(SHORTCUT_PREFIX) and row["head"] == "global" and value >= threshold:
            flags.append(
                f"the dataset is confounded: {row['model']} reaches balanced accuracy {value:.3f} "
                f"from {_shortcut_input(row['model'])} alone (run {row['run']})"
            )
    return flags


def run_warnings(runs: list[RunRecord | Path]) -> list[str]:
    """Caveats of each run's test scores: too few parents, one class, rule-derived labels (``caveats``).

    Sentences of several runs start with the run's label.
    """
    runs = [_as_record(run) for run in runs]
    sentences = []
    for run in runs:
        found = leaky_warnings(run.label) + sample_warnings(run.metrics) + rule_label_warnings(run.metrics)
        sentences += [f"{run.label}: {sentence}" if len(runs) > 1 else sentence for sentence in found]
    return sentences


def _write_plots(runs: list[RunRecord], folder: Path, tables: dict[str, list[CaseTable]]) -> tuple[list, list]:
    """Write the figures from each run's test cases (run label -> cases); returns the names written and notes."""
    written, notes, matrices, curves, tiers = [], [], {}, {}, {}
    several = len(runs) > 1
    for run in runs:
        if not (run.path / "predictions").is_dir():
            notes.append(f"{run.label}: no predictions/, so no confusion matrices or ROC curves")
        else:
            for model, cases in rows_by_model(tables.get(run.label, []), task="module1", head="global").items():
                label = f"{model} ({run.label})" if several else model
                pooled = pd.concat([case.table for case in cases], ignore_index=True)
                matrix = np.zeros((2, 2), dtype=np.int64)
                np.add.at(matrix, (pooled["label"].to_numpy(), pooled["pred"].to_numpy()), 1)
                matrices[label], curves[label] = matrix, (pooled["label"].to_numpy(), pooled["prob"].to_numpy())
        tiers.update(_tier_accuracies(run, several))
    if matrices:
        title = "Module I, test, global head: confusion summed over seeds"
        written.append(plot_confusion_matrices(matrices, folder / "confusion_matrices.png", title=title).name)
        title = "Module I, test, global head: ROC of the predictions pooled over seeds"
        written.append(plot_roc_curves(curves, folder / "roc_curves.png", title=title).name)
    if tiers:
        title = "Module I accuracy per tier: mean over seeds, validation vs test"
        written.append(plot_tier_accuracy(tiers, folder / "tier_accuracy.png", title=title).name)
    return written, notes


def _tier_accuracies(run: RunRecord, several: bool) -> dict[str, dict[str, dict[str, float]]]:
    table = run.metrics[(run.metrics["task"] == "module1") & run.metrics["head"].isin(TIER_HEADS)]
    tiered = sorted(set(table.loc[table["head"] == "tier1", "model"]))
    accuracies = {}
    for model in tiered:
        means = table[table["model"] == model].groupby(["split", "head"])["accuracy"].mean()
        by_split: dict[str, dict[str, float]] = {}
        for (split, head), value in means.items():
            by_split.setdefault(split, {})[head] = float(value)
        accuracies[f"{model} ({run.label})" if several else model] = by_split
    return accuracies


def _rows_csv(rows: list[dict], columns: tuple[str, ...] = LEADERBOARD_COLUMNS) -> bytes:
    return pd.DataFrame(rows, columns=list(columns)).to_csv(index=False).encode()


def _json_ready(value):
    # JSON has no NaN: a missing number is null, at any depth (the diagnostics nest rows in mappings).
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_ready(item) for item in value]
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    return value.item() if isinstance(value, np.generic) else value


def _write_tables(folder: Path, tables: dict[str, list[dict]], markdown: str) -> list[str]:
    """leaderboard.csv/.md always, module2.csv and segmentation.csv when they have rows; returns the names."""
    atomic_write_bytes(folder / "leaderboard.csv", _rows_csv(tables["module1"]))
    atomic_write_bytes(folder / "leaderboard.md", markdown.encode())
    names = ["leaderboard.csv", "leaderboard.md"]
    if tables["module2"]:
        atomic_write_bytes(folder / "module2.csv", _rows_csv(tables["module2"]))
        names.append("module2.csv")
    if tables["segmentation"]:
        atomic_write_bytes(folder / "segmentation.csv", _rows_csv(tables["segmentation"], SEGMENTATION_COLUMNS))
        names.append("segmentation.csv")
    return names


def write_report(
    run_dirs: list[Path],
    out: Path,
    *,
    overwrite: bool = False,
    shortcut_threshold: float = SHORTCUT_THRESHOLD,
    command: str | None = None,
) -> dict:
    """Write leaderboards (CSV, Markdown, JSON) and figures for one or more finished runs into ``out``.

    The folder is written under a temporary name and renamed when complete.

    Args:
        run_dirs: run folders (``runs/<suite>/<timestamp>_<gitsha>/``).
        out: report folder; must not exist (or be empty) unless ``overwrite``, and must lie outside every run.
        overwrite: replace an existing report folder.
        shortcut_threshold: balanced accuracy from which a ``shortcut-*`` baseline flags the dataset as confounded.
        command: the command line to print in the report (defaults to this process's).

    Returns:
        ``out``; ``paths`` (every file written) and ``files`` (name -> path); ``leaderboard``, ``module2`` and
        ``segmentation`` (rows); ``shortcuts`` and ``warnings`` (sentences); ``notes`` (figures not drawn);
        ``severity_recall`` (rows of Module-I recall per severity).
    """
    if not run_dirs:
        raise DataError(None, "at least one run folder", "none", "pass one or more runs/<suite>/<run>/ folders")
    out = Path(out)
    check_output_outside(out, [Path(run) for run in run_dirs], replaced=True)
    runs = [load_run(Path(run)) for run in run_dirs]
    command = command if command is not None else " ".join(sys.argv)
    tables = {
        "module1": leaderboard_rows(runs, task="module1", heads=TIER_HEADS),
        "module2": leaderboard_rows(runs, task="module2", heads=None),
        "segmentation": segmentation_rows(runs),
    }
    shortcuts = find_shortcuts(tables["module1"], shortcut_threshold)
    warnings = run_warnings(runs)
    test_tables = {run.label: read_test_tables(run.path) for run in runs}
    diagnostics = collect_diagnostics(runs, test_tables)
    markdown = render_markdown(
        runs,
        tables,
        shortcuts=shortcuts,
        threshold=shortcut_threshold,
        command=command,
        warnings=warnings,
        diagnostics=diagnostics_markdown(diagnostics, tables["module1"]),
    )
    with atomic_directory(out, overwrite=overwrite) as folder:
        names = _write_tables(folder, tables, markdown)
        plot_names, notes = _write_plots(runs, folder, test_tables)
        plot_names += write_diagnostics(diagnostics, folder)
        payload = {
            "schema_version": SCHEMA_VERSION,
            "command": command,
            "runs": [{"label": r.label, "path": str(r.path), "data": r.data, "device": r.device} for r in runs],
            **{name: _json_ready(rows) for name, rows in tables.items()},
            "shortcut_threshold": shortcut_threshold,
            "shortcuts": shortcuts,
            "warnings": warnings,
            "skipped": skipped_models(runs),
            "notes": notes,
            **_json_ready(diagnostics_json(diagnostics)),
        }
        write_json(folder / "report.json", payload)
        names += [*plot_names, "report.json"]
    files = {name: out / name for name in names}
    return {
        "out": out,
        "paths": list(files.values()),
        "files": files,
        "leaderboard": tables["module1"],
        "module2": tables["module2"],
        "segmentation": tables["segmentation"],
        "shortcuts": shortcuts,
        "warnings": warnings,
        "notes": notes,
        "severity_recall": diagnostics.severity_rows,
    }
