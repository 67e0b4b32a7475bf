"""Shared output of the benchmark scripts: environment facts, a console table and a JSON file."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from rbc_dataset import __version__
from rbc_dataset.fileio import atomic_write_bytes


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_sha() -> str | None:
    """Short commit of this checkout (None outside git)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def environment() -> dict:
    """Facts a benchmark number needs next to it: machine, versions, commit, date."""
    return {
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "tool_version": __version__,
        "git_sha": git_sha(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "device": "cpu",
        "command": " ".join(sys.argv),
    }


def report(title: str, rows: list[tuple[str, str]], result: dict, json_out: Path) -> None:
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
    atomic_write_bytes(json_out, (json.dumps(payload, indent=1, sort_keys=True) + "\n").encode())
    Console().print(f"wrote {json_out}")
