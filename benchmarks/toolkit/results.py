"""Shared output of the toolkit benchmarks: a console table and a JSON file with the environment beside it."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.environment import environment
from rbc_dataset.fileio import write_json


def format_interval(bounds) -> str:
    """``[low, high]`` of a 95 % interval, to three places."""
    return f"[{bounds[0]:.3f}, {bounds[1]:.3f}]"


def report(title: str, rows: list[tuple[str, str]], *, result: dict, json_out: Path) -> None:
    """Print ``rows`` as a two-column table and write ``result`` (plus the environment) to ``json_out``."""
    table = Table(title=title)
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, value in rows:
        table.add_row(name, value)
    Console().print(table)
    json_out = Path(json_out)
    json_out.parent.mkdir(parents=True, exist_ok=True)
    payload = {**result, "environment": environment()}
    write_json(json_out, payload, sort_keys=True)
    Console().print(f"wrote {json_out}")
