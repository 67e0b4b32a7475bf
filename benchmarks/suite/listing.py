"""Console output of ``rbc-bench list``, ``score`` and the leaderboard ``run`` prints at the end."""

from __future__ import annotations

from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from benchmarks.models.registry import list_models
from benchmarks.suite.suites import SUITES
from benchmarks.training.presets import PRESETS
from rbc_dataset.errors import DataError


def print_listing(pattern: str = "*") -> None:
    """Models matching ``pattern``, then the suites and presets."""
    console = Console()
    models = Table(title=f"models matching {pattern!r}")
    for column in ("name", "family", "task", "needs mask", "description"):
        models.add_column(column)
    for spec in list_models(pattern):
        models.add_row(spec.name, spec.family, spec.task, "yes" if spec.needs_mask else "no", spec.description)
    console.print(models)
    suites = Table(title="suites")
    for column in ("suite", "models per preset", "description"):
        suites.add_column(column)
    for suite in SUITES.values():
        lineup = "; ".join(f"{preset}: {', '.join(names)}" for preset, names in suite.models.items())
        suites.add_row(suite.name, lineup, suite.description)
    console.print(suites)
    console.print("presets: " + ", ".join(sorted(PRESETS)))


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
    """The leaderboard of one finished run (test split, mean over seeds with bootstrap CIs)."""
    from benchmarks.evaluation.report import (
        TIER_HEADS,
        find_shortcuts,
        leaderboard_rows,
        load_run,
        print_leaderboard,
        segmentation_rows,
    )

    runs = [load_run(Path(run_dir))]
    segmentation = segmentation_rows(runs)
    if segmentation:
        _print_segmentation(segmentation)
        return
    module1 = leaderboard_rows(runs, "module1", TIER_HEADS)
    print_leaderboard(module1)
    module2 = leaderboard_rows(runs, "module2", None)
    if module2:
        print_leaderboard(module2, title="Module II (mild vs chronic, anaemic samples), test split")
    for sentence in find_shortcuts(module1):
        Console(stderr=True).print(f"[bold red]confounded:[/] {sentence}", highlight=False)


def _print_segmentation(rows: list[dict]) -> None:
    table = Table(title="Segmentation, test split, cell class only (mean over seeds)")
    for column in ("model", "Dice", "IoU", "AP@0.5", "AP@0.75", "seeds"):
        table.add_column(column)
    for row in rows:
        values = [row.get(f"{m}_mean", float("nan")) for m in ("dice", "iou", "ap50", "ap75")]
        table.add_row(row["model"], *(f"{v:.3f}" for v in values), str(row.get("n_seeds", "")))
    Console().print(table)
