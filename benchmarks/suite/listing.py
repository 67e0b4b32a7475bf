"""Console output of ``rbc-bench list``, ``score`` and the leaderboard ``run`` prints at the end."""

from __future__ import annotations

from pathlib import Path

import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from benchmarks.catalog import list_models
from benchmarks.suite.suites import SUITES
from benchmarks.training.presets import PRESETS
from rbc_dataset.errors import DataError


def _names_column(table: Table, title: str, names: list[str]) -> None:
    """A column of names that is never cut or wrapped, whatever the terminal's width (the text columns fold)."""
    table.add_column(title, no_wrap=True, min_width=max([len(title), *map(len, names)]))


def _table(title: str) -> Table:
    # No borders: at 80 columns every character goes to the text.
    return Table(title=escape(title), box=None, padding=(0, 1, 0, 0), pad_edge=False, header_style="bold")


def print_listing(pattern: str = "*", console: Console | None = None) -> None:
    """Models matching ``pattern``, then the suites and presets; names are printed whole at any width."""
    console = console or Console()
    specs = list_models(pattern)
    models = _table(f"models matching {pattern!r}")
    _names_column(models, "name", [spec.name for spec in specs])
    _names_column(models, "family", [spec.family for spec in specs])
    _names_column(models, "task", [spec.task for spec in specs])
    _names_column(models, "needs mask", [])
    models.add_column("description", overflow="fold")
    for spec in specs:
        cells = (spec.name, spec.family, spec.task, "yes" if spec.needs_mask else "no", spec.description)
        models.add_row(*map(escape, cells))
    console.print(models)
    suites = _table("suites")
    _names_column(suites, "suite", list(SUITES))
    for column in ("models per preset", "description"):
        suites.add_column(column, overflow="fold")
    for suite in SUITES.values():
        lineup = "; ".join(f"{preset}: {', '.join(names)}" for preset, names in suite.models.items())
        suites.add_row(*map(escape, (suite.name, lineup, suite.description)))
    console.print(suites)
    console.print("presets: " + ", ".join(sorted(PRESETS)), markup=False, highlight=False)


def _recorded_resamples(run_dir: Path) -> int:
    config = Path(run_dir) / "config.yaml"
    if not config.is_file():
        raise DataError(config, "the config.yaml of a rbc-bench run folder", "no such file", "pass a run folder")
    return int(yaml.safe_load(config.read_text())["preset"]["bootstrap_resamples"])


def rescore(run_dir: Path, resamples: int | None = None) -> bool:
    """Score a run again from its predictions; print and return whether its metrics.csv is reproduced."""
    from benchmarks.evaluation.scoring import compare_with_recorded, score_run

    rescored = score_run(Path(run_dir), n_resamples=resamples or _recorded_resamples(run_dir))
    differences = compare_with_recorded(Path(run_dir), rescored)
    console = Console()
    if differences:
        console.print(f"{run_dir}: {len(differences)} metrics differ from metrics.csv:", highlight=False)
        for line in differences[:20]:
            console.print(f"  {line}", highlight=False, markup=False)
        return False
    console.print(f"{run_dir}: {len(rescored)} metric rows reproduced from predictions/", highlight=False)
    return True


def print_run_leaderboard(run_dir: Path) -> None:
    """The leaderboard of one finished run (test split, mean over seeds with the bootstrap interval of that mean),
    the ablation table (tier heads, ``3tier-*`` variants, not ranked), the shortcut verdicts, then its caveats."""
    from benchmarks.evaluation.ablations import split_ablations
    from benchmarks.evaluation.report import TIER_HEADS, leaderboard_rows, load_run, run_warnings, segmentation_rows
    from benchmarks.evaluation.shortcuts import shortcut_checks
    from benchmarks.evaluation.terminal import (
        print_ablations,
        print_leaderboard,
        print_module2,
        print_shortcut_checks,
        print_warnings,
    )

    runs = [load_run(Path(run_dir))]
    segmentation = segmentation_rows(runs)
    if segmentation:
        _print_segmentation(segmentation)
        return
    module1, ablations = split_ablations(leaderboard_rows(runs, task="module1", heads=TIER_HEADS))
    print_leaderboard(module1)
    print_ablations(ablations)
    module2 = leaderboard_rows(runs, task="module2", heads=None)
    if module2:
        print_module2(module2)
    print_shortcut_checks(shortcut_checks(module1))
    print_warnings(run_warnings(runs))


def _print_segmentation(rows: list[dict]) -> None:
    table = Table(title="Segmentation, test split, cell class only (mean over seeds)")
    _names_column(table, "model", [row["model"] for row in rows])
    for column in ("Dice", "IoU", "AP@0.5", "AP@0.75", "seeds"):
        table.add_column(column, justify="right")
    for row in rows:
        values = [row.get(f"{m}_mean", float("nan")) for m in ("dice", "iou", "ap50", "ap75")]
        table.add_row(escape(row["model"]), *(f"{v:.3f}" for v in values), str(row.get("n_seeds", "")))
    Console().print(table)
