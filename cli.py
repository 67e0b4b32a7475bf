"""Command-line entry points ``rbc-dataset`` and ``rbc-bench``: this module only assembles them.

Each package owns its commands: ``rbc_dataset.commands`` (synth, ingest, validate-masks, audit, tile, build,
verify, show), ``annotation.commands`` (the ``annotate`` group) and ``benchmarks.commands`` (run, list, score,
report, and the toolkit benchmarks of ``benchmarks.toolkit.commands``). Their shared options and the error
wrapper are in ``rbc_dataset/cli_options.py`` (docs/CLI.md). No package imports this module.
"""

from __future__ import annotations

from annotation.commands import app as annotate_app
from benchmarks.commands import app as bench_app
from rbc_dataset.commands import app as dataset_app

dataset_app.add_typer(annotate_app, name="annotate")

# Both programs, by name: docs/CLI.md is generated from these (`make docs`).
APPS = {"rbc-dataset": dataset_app, "rbc-bench": bench_app}

if __name__ == "__main__":  # `python cli.py annotate ...` runs rbc-dataset
    dataset_app()
