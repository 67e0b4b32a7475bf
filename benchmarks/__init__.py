"""rbc-bench: the model benchmark on built shards, and the toolkit's own benchmarks.

The model benchmark (``rbc-bench run``, ``list``, ``score``, ``report``; docs/RBC_BENCH.md): ``models/`` and
``baselines/`` register the models (``catalog.py`` lists them), ``training/`` trains them on a build's splits,
``suite/`` runs a suite (classification, segmentation) under the test-split guard into a run folder, and
``evaluation/`` scores and reports runs. ``commands.py`` holds these commands.

``toolkit/`` is separate: speed and quality benchmarks of the toolkit itself (synth, ingest, validate-masks,
build, loaders, annotate, training throughput), one module per ``rbc-bench`` command (docs/BENCHMARKS.md).
``environment.py`` records the machine and versions beside every result of both.

Python API: ``run_benchmark`` (what ``rbc-bench run`` does, in ``api.py``), ``score_run``, ``write_report``,
``list_models``.
"""

from __future__ import annotations

from rbc_dataset.lazy import lazy_exports

# The Python API (PEP 562: imported on first use, so ``import benchmarks`` loads no torch).
_HOMES = {
    "run_benchmark": "benchmarks.api",
    "score_run": "benchmarks.evaluation.scoring",
    "write_report": "benchmarks.evaluation.report",
    "list_models": "benchmarks.catalog",
}
__all__ = sorted(_HOMES)

__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
