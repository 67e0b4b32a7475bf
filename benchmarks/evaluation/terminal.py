"""Terminal output of leaderboards: compact rich tables, and the caveats printed under them.

Model names are never cut: their column is as wide as the longest name. Values from data are printed without
rich markup (a name such as ``[bold]`` stays text).
"""

from __future__ import annotations

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from benchmarks.evaluation.caveats import is_rule_derived
from benchmarks.evaluation.shortcuts import CONFOUNDED, POSSIBLE, ShortcutCheck


def _mean_std(row: dict, metric: str) -> str:
    mean, std = row[f"{metric}_mean"], row[f"{metric}_std"]
    if np.isnan(mean):
        return "n/a"
    return f"{mean:.3f}±{std:.3f}" if np.isfinite(std) else f"{mean:.3f}"


def _mean(row: dict, metric: str) -> str:
    value = row[f"{metric}_mean"]
    return "n/a" if np.isnan(value) else f"{value:.3f}"


def _counted(value: int) -> str:
    return str(value) if value >= 0 else "?"


def _sample(row: dict) -> tuple[int, int]:
    return row.get("n_test", -1), row.get("n_test_parents", -1)


def print_leaderboard(
    rows: list[dict], *, title: str = "Module I, test split", console: Console | None = None, labels: bool = False
) -> None:
    """Print leaderboard rows as a compact rich table (on ``console``, the terminal by default).

    Narrow enough for 80 columns with the usual model names: balanced accuracy as mean±std over seeds with the
    95 % group-bootstrap interval of that mean (or the mean of per-seed bounds, see ``ci_method``), the other
    metrics as means (leaderboard.md has them all). The test samples and parents go into the title when every row
    shares them, else into a column ``n (parents)``. Rows from several runs carry a run number, named below the
    table.

    Args:
        rows: rows of ``leaderboard_rows``.
        title: the table's title.
        console: where to print.
        labels: add a ``labels`` column (Module II: ``dataset`` or ``rule-derived labels``).
    """
    console = console or Console()
    run_numbers = {run: number for number, run in enumerate(dict.fromkeys(row["run"] for row in rows), start=1)}
    several_runs = len(run_numbers) > 1
    samples = {_sample(row) for row in rows}
    shared = len(samples) == 1
    if shared:
        n, parents = next(iter(samples))
        title = f"{title}: {_counted(n)} samples from {_counted(parents)} parent{'' if parents == 1 else 's'}"
    table = Table(title=escape(title), box=None, padding=(0, 1, 0, 0), pad_edge=False, header_style="bold")
    name_width = max([len("model"), *(len(str(row["model"])) for row in rows)])
    table.add_column("model", no_wrap=True, min_width=name_width)
    table.add_column("head", no_wrap=True)
    columns = ["bal.acc", "95% CI", "acc", "AUC", "ECE", "seeds"]
    columns += ([] if shared else ["n (parents)"]) + (["labels"] if labels else []) + (["run"] if several_runs else [])
    for column in columns:
        table.add_column(column, justify="left" if column == "labels" else "right", no_wrap=column != "labels")
    for row in rows:
        low, high = row["balanced_accuracy_ci_low"], row["balanced_accuracy_ci_high"]
        interval = f"{low:.3f}-{high:.3f}" if np.isfinite(low) and np.isfinite(high) else "n/a"
        cells = [row["model"], row["head"], _mean_std(row, "balanced_accuracy"), interval]
        cells += [_mean(row, metric) for metric in ("accuracy", "roc_auc", "ece")] + [str(row["n_seeds"])]
        cells += [] if shared else [f"{_counted(row['n_test'])} ({_counted(row.get('n_test_parents', -1))})"]
        cells += ([str(row.get("labels", ""))] if labels else []) + (
            [str(run_numbers[row["run"]])] if several_runs else []
        )
        table.add_row(*(escape(str(cell)) for cell in cells))
    console.print(table)
    if several_runs:
        for run, number in run_numbers.items():
            console.print(f"run {number}: {run}", highlight=False, markup=False)


ABLATION_TITLE = "Ablations (tier heads, 3tier-* variants), test split: not ranked, no head is chosen on test"


def print_ablations(rows: list[dict], console: Console | None = None) -> None:
    """The ablation rows (``ablations.split_ablations``) in their fixed order, under a title that says why."""
    if rows:
        print_leaderboard(rows, title=ABLATION_TITLE, console=console)


def print_shortcut_checks(checks: list[ShortcutCheck], console: Console | None = None) -> None:
    """The confounded verdicts (red), then the possible ones (yellow), each with its numbers (stderr by default)."""
    console = console or Console(stderr=True)
    for verdict, style in ((CONFOUNDED, "bold red"), (POSSIBLE, "bold yellow")):
        for check in checks:
            if check.verdict == verdict:
                console.print(f"[{style}]shortcut:[/] {escape(check.sentence)}", highlight=False)


def print_module2(rows: list[dict], console: Console | None = None) -> None:
    """Module II: rows on the dataset's labels, then (unranked, marked) rows on rule-derived labels."""
    ranked = [row for row in rows if not is_rule_derived(row.get("labels"))]
    circular = [row for row in rows if is_rule_derived(row.get("labels"))]
    if ranked:
        print_leaderboard(
            ranked, title="Module II (mild vs chronic, anaemic samples), test split", console=console, labels=True
        )
    if circular:
        title = "Module II on rule-derived labels (circular: not a result, not ranked), test split"
        print_leaderboard(circular, title=title, console=console, labels=True)


def print_warnings(sentences: list[str], console: Console | None = None) -> None:
    """Each caveat as ``warning: ...`` (stderr by default, like every other diagnostic)."""
    console = console or Console(stderr=True)
    for sentence in sentences:
        console.print(f"[bold yellow]warning:[/] {escape(sentence)}", highlight=False)
