"""`rbc-bench report RUN... --out DIR`: leaderboards, the shortcut check and figures from finished runs.

Machine-readable first: ``report.json`` (schema version 1), ``leaderboard.csv`` (each model's result head),
``ablations.csv`` (tier heads, ``3tier-*`` variants), ``comparisons.csv`` (paired differences) and ``shortcuts.csv``
(the confounding verdicts) hold the rows that ``leaderboard.md`` and the console tables render. Means and stds over
seeds come from a run's metrics.csv; the 95 % intervals are those of the mean over seeds, from its predictions/
(``comparisons``; the mean of the per-seed bounds where a run has no predictions). Calibration, Module-I recall per
severity, per-parent errors and learning curves are ``diagnostics``'s.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.evaluation.ablations import split_ablations, variant_rows
from benchmarks.evaluation.bootstrap import seed_summary
from benchmarks.evaluation.cascade_tables import CASCADE_COLUMNS, RELIANCE_COLUMNS, cascade_rows, reliance_rows
from benchmarks.evaluation.caveats import (
    RULE_DERIVED,
    is_rule_derived,
    labels_mark,
    rule_label_warnings,
    sample_warnings,
)
from benchmarks.evaluation.comparisons import (
    CI_METHOD_BOUNDS,
    CI_METHOD_SEED_MEAN,
    COMPARISON_COLUMNS,
    SeedMeans,
    not_compared,
    paired_comparisons,
    seed_mean_interval,
    seed_means_of_runs,
)
from benchmarks.evaluation.diagnostics import (
    collect_diagnostics,
    diagnostics_json,
    diagnostics_markdown,
    write_diagnostics,
)
from benchmarks.evaluation.markdown import render_markdown, skipped_models
from benchmarks.evaluation.plots import (
    TIER_HEADS,
    plot_confusion_matrices,
    plot_roc_curves,
    plot_tier_accuracy,
)
from benchmarks.evaluation.run_tables import CaseTable, read_test_tables, rows_by_model
from benchmarks.evaluation.scoring import CI_COLUMNS, SAMPLE_COLUMNS, read_metrics
from benchmarks.evaluation.shortcuts import (
    SHORTCUT_COLUMNS,
    SHORTCUT_THRESHOLD,
    ShortcutCheck,
    flagged_sentences,
    shortcut_checks,
)
from benchmarks.suite.leaky import is_leaky_label, leaky_warnings, report_label
from rbc_dataset.config_file import load_config_file
from rbc_dataset.errors import DataError
from rbc_dataset.fileio import atomic_directory, atomic_write_bytes, check_output_outside, write_json

SCHEMA_VERSION = 1
DEFAULT_RESAMPLES = 1000  # bootstrap resamples where a run's config.yaml does not record its own
SUMMARY_METRICS: tuple[str, ...] = ("accuracy", "balanced_accuracy", "roc_auc", "ece", "brier")
LEADERBOARD_COLUMNS: tuple[str, ...] = (
    "run",
    "model",
    "task",
    "head",
    *(f"{metric}_{statistic}" for metric in SUMMARY_METRICS for statistic in ("mean", "std")),
    *CI_COLUMNS,
    "ci_method",
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
    bootstrap_resamples: int = DEFAULT_RESAMPLES  # the resamples of its intervals (config.yaml's preset)


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
        bootstrap_resamples=int((config.get("preset") or {}).get("bootstrap_resamples") or DEFAULT_RESAMPLES),
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
        row["ci_method"] = CI_METHOD_BOUNDS
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
    seed_means: SeedMeans | None = None,
) -> list[dict]:
    """One row per (run, model, head) of ``task`` on ``split``: mean ± std over seeds, 95 % interval, sorted.

    On the test split the interval is that of the mean over seeds, from the runs' predictions (``comparisons``);
    a model without usable predictions keeps the mean of its per-seed bounds. ``ci_method`` says which.

    Args:
        runs: run folders or loaded runs.
        task: ``module1`` or ``module2``.
        heads: heads to keep (None keeps every head of the task); by default the global and tier heads.
        split: the split to summarise; results are test-split numbers.
        seed_means: ``seed_means_of(runs)`` when already computed; read from the runs' predictions when None.

    Returns:
        Rows with the columns of ``LEADERBOARD_COLUMNS``, best balanced accuracy first.
    """
    runs = [_as_record(run) for run in runs]
    if split == "test" and seed_means is None:
        seed_means = seed_means_of(runs, tasks=(task,))
    rows = []
    for run in runs:
        table = run.metrics[(run.metrics["split"] == split) & (run.metrics["task"] == task)]
        if heads is not None:
            table = table[table["head"].isin(heads)]
        if not table.empty:
            grouped = _group_rows(run, table, ["model", "task", "head"], SUMMARY_METRICS)
            if split == "test":
                grouped = [_with_seed_mean_interval(row, seed_means) for row in grouped]
            rows += [{column: row[column] for column in LEADERBOARD_COLUMNS} for row in grouped]
    return _sort_rows(rows)


def seed_means_of(
    runs: list[RunRecord | Path],
    *,
    tasks: tuple[str, ...] = ("module1", "module2"),
    test_tables: dict[str, list[CaseTable]] | None = None,
) -> SeedMeans:
    """Every model's mean over seeds on each group resample of its test samples (``comparisons``).

    The runs' largest recorded number of resamples is used for all, so that models of different runs on the same
    test samples share their resamples; with a run's own count, a one-seed model's interval is its metrics.csv's.
    """
    runs = [_as_record(run) for run in runs]
    tables = test_tables if test_tables is not None else {run.label: read_test_tables(run.path) for run in runs}
    resamples = max([run.bootstrap_resamples for run in runs], default=DEFAULT_RESAMPLES)
    data = {run.label: run.data for run in runs}
    return seed_means_of_runs(tables, data=data, tasks=tasks, n_resamples=resamples)


def _with_seed_mean_interval(row: dict, seed_means: SeedMeans) -> dict:
    resampled = seed_means.models.get((row["run"], row["model"], row["task"], row["head"]))
    if resampled is None:
        return row
    return {**row, **seed_mean_interval(resampled), "ci_method": CI_METHOD_SEED_MEAN}


def segmentation_rows(runs: list[RunRecord | Path]) -> list[dict]:
    """One row per (run, model) of segmentation test results: cell-class Dice, IoU, AP, best Dice first."""
    rows = []
    for run in map(_as_record, runs):
        table = run.metrics[(run.metrics["split"] == "test") & (run.metrics["task"] == "segmentation")]
        if not table.empty:
            grouped = _group_rows(run, table, ["model", "task"], SEGMENTATION_METRICS)
            rows += [{column: row[column] for column in SEGMENTATION_COLUMNS} for row in grouped]
    return sorted(rows, key=lambda row: (np.isnan(row["dice_mean"]), -np.nan_to_num(row["dice_mean"]), row["model"]))


def find_shortcuts(rows: list[dict], threshold: float = SHORTCUT_THRESHOLD) -> list[str]:
    """The sentences of the shortcut baselines that show the dataset confounded, then of the possible ones.

    A verdict rests on each row's 95 % intervals (``shortcuts.check_shortcut``); ``threshold`` is the point
    estimate from which a shortcut whose intervals include chance is reported as possible.
    """
    return flagged_sentences(shortcut_checks(rows, threshold))


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
    """leaderboard.csv/.md always; ablations, comparisons, shortcuts, module2 and segmentation CSVs when they have
    rows; returns the names."""
    atomic_write_bytes(folder / "leaderboard.csv", _rows_csv(tables["module1"]))
    atomic_write_bytes(folder / "leaderboard.md", markdown.encode())
    names = ["leaderboard.csv", "leaderboard.md"]
    optional = (
        ("ablations", LEADERBOARD_COLUMNS),
        ("comparisons", COMPARISON_COLUMNS),
        ("shortcuts", SHORTCUT_COLUMNS),
        ("module2", LEADERBOARD_COLUMNS),
        ("cascade", CASCADE_COLUMNS),
        ("reliance", RELIANCE_COLUMNS),
        ("segmentation", SEGMENTATION_COLUMNS),
    )
    for name, columns in optional:
        if tables[name]:
            atomic_write_bytes(folder / f"{name}.csv", _rows_csv(tables[name], columns))
            names.append(f"{name}.csv")
    return names


@dataclass
class _Tables:
    """The report's tables, read before its folder is opened."""

    rows: dict[str, list[dict]]  # module1 (ranked), ablations, module2, segmentation, comparisons, shortcuts
    checks: list[ShortcutCheck]
    not_compared: list[str]
    interval_notes: list[str]


def _comparison_order(ranked: list[dict], ablations: list[dict]) -> list[tuple[str, str, str, str]]:
    """Module-I global heads to compare, best-ranked first, then the ablation variants."""
    keys = [(row["run"], row["model"], "module1", "global") for row in ranked + ablations if row["head"] == "global"]
    return list(dict.fromkeys(keys))


def collect_tables(runs: list[RunRecord], test_tables: dict[str, list[CaseTable]], *, threshold: float) -> _Tables:
    """Every table of the report: leaderboards with intervals of the mean over seeds, ablations, comparisons."""
    seed_means = seed_means_of(runs, test_tables=test_tables)
    module1 = leaderboard_rows(runs, task="module1", heads=TIER_HEADS, seed_means=seed_means)
    ranked, ablations = split_ablations(module1)
    order = _comparison_order(ranked, ablations)
    checks = shortcut_checks(ranked, threshold)
    rows = {
        "module1": ranked,
        "ablations": ablations,
        "module2": leaderboard_rows(runs, task="module2", heads=None, seed_means=seed_means),
        "segmentation": segmentation_rows(runs),
        "comparisons": paired_comparisons(seed_means.models, order),
        "shortcuts": [check.to_dict() for check in checks],
        "cascade": cascade_rows(runs),
        "reliance": reliance_rows(runs),
    }
    return _Tables(rows, checks, not_compared(seed_means.models, order), seed_means.notes)


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
        shortcut_threshold: the point estimate (balanced accuracy or ROC-AUC) from which a ``shortcut-*`` baseline
            whose 95 % intervals include chance is reported as a possible confound (``shortcuts``: an interval
            above chance shows the dataset confounded, whatever the threshold).
        command: the command line to print in the report (defaults to this process's).

    Returns:
        ``out``; ``paths`` (every file written) and ``files`` (name -> path); ``leaderboard`` (each model's result
        head, ranked), ``ablations``, ``module2``, ``segmentation`` and ``comparisons`` (rows); ``shortcut_checks``
        (``ShortcutCheck`` of every shortcut baseline); ``shortcuts`` and ``warnings`` (sentences: the confounded
        and possible verdicts, the caveats); ``notes`` (figures not drawn, intervals not computed from predictions);
        ``severity_recall`` (rows of Module-I recall per severity).
    """
    if not run_dirs:
        raise DataError(None, "at least one run folder", "none", "pass one or more runs/<suite>/<run>/ folders")
    out = Path(out)
    check_output_outside(out, [Path(run) for run in run_dirs], replaced=True)
    runs = [load_run(Path(run)) for run in run_dirs]
    command = command if command is not None else " ".join(sys.argv)
    test_tables = {run.label: read_test_tables(run.path) for run in runs}
    found = collect_tables(runs, test_tables, threshold=shortcut_threshold)
    tables, shortcuts, warnings = found.rows, flagged_sentences(found.checks), run_warnings(runs)
    diagnostics = collect_diagnostics(runs, test_tables)
    markdown = render_markdown(
        runs,
        tables,
        shortcuts=found.checks,
        threshold=shortcut_threshold,
        command=command,
        warnings=warnings,
        diagnostics=diagnostics_markdown(diagnostics, tables["module1"] + variant_rows(tables["ablations"])),
        comparisons=tables["comparisons"],
        not_compared=found.not_compared,
    )
    with atomic_directory(out, overwrite=overwrite) as folder:
        names = _write_tables(folder, tables, markdown)
        plot_names, notes = _write_plots(runs, folder, test_tables)
        notes += found.interval_notes
        plot_names += write_diagnostics(diagnostics, folder)
        payload = {
            "schema_version": SCHEMA_VERSION,
            "command": command,
            "runs": [{"label": r.label, "path": str(r.path), "data": r.data, "device": r.device} for r in runs],
            **{name: _json_ready(rows) for name, rows in tables.items()},
            "shortcut_threshold": shortcut_threshold,
            "shortcut_sentences": shortcuts,
            "not_compared": found.not_compared,
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
        "ablations": tables["ablations"],
        "module2": tables["module2"],
        "segmentation": tables["segmentation"],
        "comparisons": tables["comparisons"],
        "shortcut_checks": found.checks,
        "shortcuts": shortcuts,
        "warnings": warnings,
        "notes": notes,
        "severity_recall": diagnostics.severity_rows,
    }
