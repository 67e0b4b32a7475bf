"""What the report shows beyond the leaderboard: calibration, recall per severity, per-parent errors, learning curves.

``collect_diagnostics`` reads everything first (so the Markdown can be rendered before the report folder is opened),
``diagnostics_markdown`` renders the sections, ``write_diagnostics`` writes the files into the report's temporary
folder (``report.write_report``: nothing looks complete until the whole folder is renamed into place).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from benchmarks.evaluation import calibration, curves, errors, severity
from benchmarks.evaluation.run_tables import CaseTable, rows_by_model, rule_derived_ids
from rbc_dataset.fileio import atomic_write_bytes, path_inside, safe_name

if TYPE_CHECKING:
    from benchmarks.evaluation.report import RunRecord

ERRORS_FOLDER = "parent_errors"
SEVERITY_CSV = "severity_recall.csv"


@dataclass(frozen=True)
class ParentErrors:
    """The per-parent error table of one model of one run, and the CSV it is written to."""

    run: str
    model: str
    label: str  # how figures and sections name the model ("model (run)" with several runs)
    file: str  # path inside the report folder
    table: pd.DataFrame


@dataclass
class Diagnostics:
    """Everything the report's diagnostic sections show, read from the runs."""

    reliability: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # label -> (y, prob)
    severity_rows: list[dict] = field(default_factory=list)
    derived: int = 0  # anaemic test tiles whose rule-derived severity counts as unknown
    parents: list[ParentErrors] = field(default_factory=list)
    learning: dict[str, list[curves.CaseCurve]] = field(default_factory=dict)


def _errors_file(run: RunRecord, model: str, *, several: bool, taken: set[str]) -> str:
    stem = safe_name(f"{run.path.parent.name}_{run.path.name}__{model}" if several else model)
    name, k = f"{stem}.csv", 1
    while name in taken:  # two names that differ only in characters safe_name replaces
        k += 1
        name = f"{stem}-{k}.csv"
    taken.add(name)
    return f"{ERRORS_FOLDER}/{name}"


def collect_diagnostics(runs: list[RunRecord], tables: dict[str, list[CaseTable]]) -> Diagnostics:
    """Read each run's diagnostics (Module I, global head, test split; learning curves from summary.json).

    Args:
        runs: the loaded runs.
        tables: run label -> its test cases (``run_tables.read_test_tables``).
    """
    found, several, taken = Diagnostics(), len(runs) > 1, set()
    for run in runs:
        cases = tables.get(run.label, [])
        derived = rule_derived_ids(cases)
        found.derived += len(derived)  # distinct anaemic test tiles of this run (Module-II rows are anaemic ones)
        by_model = rows_by_model(cases, task="module1", head="global")
        found.severity_rows += severity.severity_recall_rows(run.label, by_model, derived=derived)
        for model, model_cases in by_model.items():
            label = f"{model} ({run.label})" if several else model
            pooled = pd.concat([case.table for case in model_cases], ignore_index=True)
            found.reliability[label] = (pooled["label"].to_numpy(), pooled["prob"].to_numpy())
            table = errors.parent_errors(model_cases, derived=derived)
            file = _errors_file(run, model, several=several, taken=taken)
            found.parents.append(ParentErrors(run.label, model, label=label, file=file, table=table))
        for model, model_curves in curves.case_curves(run.summary).items():
            found.learning[f"{model} ({run.label})" if several else model] = model_curves
    return found


def diagnostics_markdown(found: Diagnostics, module1: list[dict]) -> list[str]:
    """Markdown sections: calibration, Module-I recall per severity, per-parent errors, learning curves."""
    lines = calibration.calibration_markdown(module1, figure=calibration.FIGURE_NAME if found.reliability else None)
    lines += severity.severity_markdown(found.severity_rows, derived=found.derived)
    lines += ["## Per-parent errors: Module I, test, global head", ""]
    if found.parents:
        lines += [
            f"One CSV per model in `{ERRORS_FOLDER}/`: every test parent image with its tiles, true class, severity, "
            "mean probability of anaemic over tiles and seeds, wrong tiles (mean over seeds) and share of wrong tile "
            f"predictions, worst first. The {errors.WORST_SHOWN} worst parents of each model:",
            "",
            *(errors.worst_parents_line(item.label, item.table, csv_name=item.file) for item in found.parents),
            "",
        ]
    else:
        lines += ["No Module-I test predictions with a global head in these runs.", ""]
    lines += curves.training_markdown(found.learning, figure=curves.FIGURE_NAME if found.learning else None)
    return lines


def write_diagnostics(found: Diagnostics, folder: Path) -> list[str]:
    """Write the diagnostics' figures and CSVs into ``folder``; returns the names written (relative paths)."""
    names = []
    if found.reliability:
        title = "Module I, test, global head: reliability of the predictions pooled over seeds"
        calibration.plot_reliability_diagrams(found.reliability, folder / calibration.FIGURE_NAME, title=title)
        names.append(calibration.FIGURE_NAME)
    if found.severity_rows:
        frame = pd.DataFrame(found.severity_rows, columns=list(severity.SEVERITY_COLUMNS))
        atomic_write_bytes(folder / SEVERITY_CSV, frame.to_csv(index=False).encode())
        names.append(SEVERITY_CSV)
    if found.parents:
        (folder / ERRORS_FOLDER).mkdir()
    for item in found.parents:
        path = path_inside(folder / ERRORS_FOLDER, Path(item.file).name)
        atomic_write_bytes(path, item.table.to_csv(index=False).encode())
        names.append(item.file)
    if found.learning:
        title = "Training loss and validation score per epoch (star: the epoch kept)"
        curves.plot_learning_curves(found.learning, folder / curves.FIGURE_NAME, title=title)
        names.append(curves.FIGURE_NAME)
    return names


def diagnostics_json(found: Diagnostics) -> dict:
    """The diagnostics for report.json: severity rows, each model's error CSV with its worst parents, training."""
    worst = [
        {
            "run": item.run,
            "model": item.model,
            "file": item.file,
            "worst": item.table.head(errors.WORST_SHOWN).to_dict(orient="records"),
        }
        for item in found.parents
    ]
    training = [
        {
            "model": label,
            "case": curve.case,
            "stage": stage.get("name"),
            "epochs": len(stage.get("train_loss") or []),
            "selected_epoch": stage.get("selected_epoch"),
            "selected_on": stage.get("selected_on"),
            "stopped_early": bool(stage.get("stopped_early")),
        }
        for label, model_curves in found.learning.items()
        for curve in model_curves
        for stage in curve.stages
    ]
    return {"severity_recall": found.severity_rows, "parent_errors": worst, "training": training}
