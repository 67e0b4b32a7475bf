"""`rbc-bench report RUN... --out DIR`: leaderboards, the shortcut check and figures from finished runs.

Machine-readable first: ``report.json`` (schema version 1) and ``leaderboard.csv`` hold the rows that
``leaderboard.md`` and the console table render. Every number comes from a run's metrics.csv (mean ± std over
seeds, mean of the per-seed 95 % group-bootstrap bounds); the figures come from its predictions/.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from benchmarks.evaluation.bootstrap import seed_summary
from benchmarks.evaluation.plots import (
    TIER_HEADS,
    plot_confusion_matrices,
    plot_roc_curves,
    plot_tier_accuracy,
)
from benchmarks.evaluation.scoring import CI_COLUMNS, list_prediction_files, read_metrics, read_predictions
from rbc_dataset.config_file import load_config_file
from rbc_dataset.errors import DataError
from rbc_dataset.fileio import atomic_directory, atomic_write_bytes, check_output_outside
from rbc_dataset.markup import md_code, md_text

SCHEMA_VERSION = 1
SHORTCUT_PREFIX = "shortcut-"
SHORTCUT_THRESHOLD = 0.7
# What a shortcut baseline sees, by a word in its name; the report says the dataset is confounded by *this*.
SHORTCUT_INPUTS: dict[str, str] = {
    "background": "the background colour",
    "mask": "the raw mask intensity",
    "cbc": "the CBC values",
}
SUMMARY_METRICS: tuple[str, ...] = ("accuracy", "balanced_accuracy", "roc_auc", "ece")
LEADERBOARD_COLUMNS: tuple[str, ...] = (
    "run",
    "model",
    "task",
    "head",
    *(f"{metric}_{statistic}" for metric in SUMMARY_METRICS for statistic in ("mean", "std")),
    *CI_COLUMNS,
    "n_seeds",
    "n_test",
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
_TABLE_METRICS = (("balanced_accuracy", "balanced acc."), ("accuracy", "accuracy"), ("roc_auc", "ROC-AUC"))


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
    env = _read_json(run_dir / "env.json") or {}
    return RunRecord(
        path=run_dir,
        label=f"{run_dir.parent.name}/{run_dir.name}",
        metrics=read_metrics(run_dir),
        data=str(data),
        device=str(env.get("device", "unknown (no env.json)")),
        command=str(env.get("command", "unknown")),
        summary=_read_json(run_dir / "summary.json"),
    )


def _sort_rows(rows: list[dict]) -> list[dict]:
    # Best balanced accuracy first; a model without one (NaN) goes last rather than first.
    def key(row: dict) -> tuple:
        value = row["balanced_accuracy_mean"]
        return (np.isnan(value), -value if not np.isnan(value) else 0.0, row["model"], row["head"], row["run"])

    return sorted(rows, key=key)


def _as_record(run: RunRecord | Path) -> RunRecord:
    return run if isinstance(run, RunRecord) else load_run(Path(run))


def _group_rows(run: RunRecord, table: pd.DataFrame, keys: list[str], metrics: tuple[str, ...]) -> list[dict]:
    """Per ``keys`` group of one run: mean ± std over seeds of ``metrics``, mean CI bounds, seeds, samples."""
    table = table.copy()
    for column in (*metrics, *CI_COLUMNS, "n"):
        if column not in table.columns:  # an older or partial metrics.csv: show the gap, do not invent it
            table[column] = np.nan
    summary = seed_summary(table, keys, metrics).set_index(keys)
    bounds = table.groupby(keys)[list(CI_COLUMNS)].mean()
    sizes = table.groupby(keys)["n"].max()
    rows = []
    for key, stats in summary.iterrows():
        row = {"run": run.label, **dict(zip(keys, key, strict=True)), **stats.to_dict(), **bounds.loc[key].to_dict()}
        row["n_seeds"] = int(stats["n_seeds"])
        row["n_test"] = int(sizes.loc[key]) if pd.notna(sizes.loc[key]) else -1
        rows.append({**row, "data": run.data, "device": run.device})
    return rows


def leaderboard_rows(
    runs: list[RunRecord | Path],
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


def _format_metric(row: dict, metric: str) -> str:
    mean, std = row[f"{metric}_mean"], row[f"{metric}_std"]
    if np.isnan(mean):
        return "n/a"
    text = f"{mean:.3f} ± {std:.3f}" if np.isfinite(std) else f"{mean:.3f}"
    low, high = row.get(f"{metric}_ci_low", np.nan), row.get(f"{metric}_ci_high", np.nan)
    return f"{text} [{low:.3f}, {high:.3f}]" if np.isfinite(low) and np.isfinite(high) else text


def _markdown_table(rows: list[dict]) -> list[str]:
    header = ["#", "model", "head", *(title for _, title in _TABLE_METRICS), "ECE", "seeds", "n test", "run"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for rank, row in enumerate(rows, start=1):
        cells = [str(rank), md_code(row["model"]), md_text(row["head"])]
        cells += [*(_format_metric(row, m) for m, _ in _TABLE_METRICS), _format_metric(row, "ece")]
        cells += [str(row["n_seeds"]), str(row["n_test"]), md_text(row["run"])]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


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


def render_markdown(
    runs: list[RunRecord], tables: dict[str, list[dict]], shortcuts: list[str], threshold: float, command: str
) -> str:
    """The report as Markdown: Module-I leaderboard, shortcut baselines, Module-II and segmentation tables.

    Args:
        runs: the loaded runs.
        tables: ``module1``, ``module2`` and ``segmentation`` rows.
        shortcuts: sentences of ``find_shortcuts``.
        threshold: the shortcut threshold, quoted when nothing is flagged.
        command: the command that wrote the report.
    """
    module1, module2, segmentation = tables["module1"], tables["module2"], tables["segmentation"]
    lines = ["# rbc-bench report", "", f"Written by {md_code(command)} from {len(runs)} run(s).", ""]
    lines += ["## Module I: healthy (0) vs anaemic (1)", ""]
    lines += [
        "Split: **test**. Head `global` (3-TierDCFNet also `tier1`-`tier3`). Each cell: mean ± std over seeds "
        "[mean of the per-seed 95 % bootstrap bounds over `group_id`]. Sorted by balanced accuracy.",
        "",
    ]
    lines += (_markdown_table(module1) if module1 else ["No Module-I test results in these runs."]) + [""]
    lines += ["Sources:", "", *_sources(runs, module1), ""]
    lines += _shortcut_section(module1, shortcuts, threshold)
    if module2:
        lines += ["## Module II: mild (0) vs chronic (1), anaemic samples with a severity", ""]
        lines += ["Split: **test**. Heads `learned` and `rule`. Cells as above.", ""]
        lines += [*_markdown_table(module2), "", "Sources:", "", *_sources(runs, module2), ""]
    if segmentation:
        lines += ["## Segmentation: cell class (1) only, never background", ""]
        lines += ["Split: **test**. Each cell: mean ± std over seeds. Sorted by Dice.", ""]
        lines += [*_segmentation_table(segmentation), "", "Sources:", "", *_sources(runs, segmentation), ""]
    skipped = [f"- {md_code(label)}: {md_code(model)}: {md_text(reason)}" for label, model, reason in _skipped(runs)]
    if skipped:
        lines += ["## Skipped models", "", *skipped, ""]
    return "\n".join(lines)


def _test_predictions(run: RunRecord, task: str, head: str) -> dict[str, list[pd.DataFrame]]:
    """Model -> the ``task``/``head`` rows of each of its test-split predictions files (one per seed/fold)."""
    by_model: dict[str, list[pd.DataFrame]] = {}
    for item in list_prediction_files(run.path):
        if item.split != "test":
            continue
        table = read_predictions(item.path)
        table = table[(table["task"] == task) & (table["head"] == head)]
        if not table.empty:
            by_model.setdefault(item.model, []).append(table)
    return by_model


def _write_plots(runs: list[RunRecord], folder: Path) -> tuple[list[str], list[str]]:
    """Write the figures; returns the file names written and notes on what could not be drawn."""
    written, notes, matrices, curves, tiers = [], [], {}, {}, {}
    several = len(runs) > 1
    for run in runs:
        if not (run.path / "predictions").is_dir():
            notes.append(f"{run.label}: no predictions/, so no confusion matrices or ROC curves")
        else:
            for model, tables in _test_predictions(run, "module1", "global").items():
                label = f"{model} ({run.label})" if several else model
                pooled = pd.concat(tables, ignore_index=True)
                matrix = np.zeros((2, 2), dtype=np.int64)
                np.add.at(matrix, (pooled["label"].to_numpy(), pooled["pred"].to_numpy()), 1)
                matrices[label], curves[label] = matrix, (pooled["label"].to_numpy(), pooled["prob"].to_numpy())
        tiers.update(_tier_accuracies(run, several))
    if matrices:
        title = "Module I, test, global head: confusion summed over seeds"
        written.append(plot_confusion_matrices(matrices, folder / "confusion_matrices.png", title).name)
        title = "Module I, test, global head: ROC of the predictions pooled over seeds"
        written.append(plot_roc_curves(curves, folder / "roc_curves.png", title).name)
    if tiers:
        title = "Module I accuracy per tier: mean over seeds, validation vs test"
        written.append(plot_tier_accuracy(tiers, folder / "tier_accuracy.png", title).name)
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


def _json_ready(rows: list[dict]) -> list[dict]:
    # JSON has no NaN: a missing number is null.
    return [{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()} for row in rows]


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
        ``segmentation`` (rows); ``shortcuts`` (sentences); ``notes`` (figures that could not be drawn).
    """
    if not run_dirs:
        raise DataError(None, "at least one run folder", "none", "pass one or more runs/<suite>/<run>/ folders")
    out = Path(out)
    check_output_outside(out, [Path(run) for run in run_dirs], replaced=True)
    runs = [load_run(Path(run)) for run in run_dirs]
    command = command if command is not None else " ".join(sys.argv)
    tables = {
        "module1": leaderboard_rows(runs, "module1", TIER_HEADS),
        "module2": leaderboard_rows(runs, "module2", None),
        "segmentation": segmentation_rows(runs),
    }
    shortcuts = find_shortcuts(tables["module1"], shortcut_threshold)
    markdown = render_markdown(runs, tables, shortcuts, shortcut_threshold, command)
    with atomic_directory(out, overwrite=overwrite) as folder:
        names = _write_tables(folder, tables, markdown)
        plot_names, notes = _write_plots(runs, folder)
        payload = {
            "schema_version": SCHEMA_VERSION,
            "command": command,
            "runs": [{"label": r.label, "path": str(r.path), "data": r.data, "device": r.device} for r in runs],
            **{name: _json_ready(rows) for name, rows in tables.items()},
            "shortcut_threshold": shortcut_threshold,
            "shortcuts": shortcuts,
            "skipped": skipped_models(runs),
            "notes": notes,
        }
        atomic_write_bytes(folder / "report.json", (json.dumps(payload, indent=1) + "\n").encode())
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
        "notes": notes,
    }


def _mean_std(row: dict, metric: str) -> str:
    mean, std = row[f"{metric}_mean"], row[f"{metric}_std"]
    if np.isnan(mean):
        return "n/a"
    return f"{mean:.3f}±{std:.3f}" if np.isfinite(std) else f"{mean:.3f}"


def _mean(row: dict, metric: str) -> str:
    value = row[f"{metric}_mean"]
    return "n/a" if np.isnan(value) else f"{value:.3f}"


def print_leaderboard(rows: list[dict], title: str = "Module I, test split", console: Console | None = None) -> None:
    """Print leaderboard rows as a compact rich table (on ``console``, the terminal by default).

    Narrow enough for 80 columns: balanced accuracy as mean±std over seeds with its mean 95 % bootstrap interval,
    the other metrics as means (leaderboard.md has them all). Rows from several runs carry a run number, named
    below the table.
    """
    console = console or Console()
    run_numbers = {run: number for number, run in enumerate(dict.fromkeys(row["run"] for row in rows), start=1)}
    several_runs = len(run_numbers) > 1
    table = Table(title=title, box=None, padding=(0, 1, 0, 0), pad_edge=False, header_style="bold")
    columns = ["model", "head", "bal.acc", "95% CI", "acc", "AUC", "ECE", "seeds", "n"]
    for column in columns + (["run"] if several_runs else []):
        table.add_column(column, justify="left" if column in ("model", "head") else "right", no_wrap=True)
    for row in rows:
        low, high = row["balanced_accuracy_ci_low"], row["balanced_accuracy_ci_high"]
        interval = f"{low:.3f}-{high:.3f}" if np.isfinite(low) and np.isfinite(high) else "n/a"
        cells = [row["model"], row["head"], _mean_std(row, "balanced_accuracy"), interval]
        cells += [_mean(row, metric) for metric in ("accuracy", "roc_auc", "ece")]
        cells += [str(row["n_seeds"]), str(row["n_test"])] + ([str(run_numbers[row["run"]])] if several_runs else [])
        table.add_row(*cells)
    console.print(table)
    if several_runs:
        for run, number in run_numbers.items():
            console.print(f"run {number}: {run}", highlight=False)
