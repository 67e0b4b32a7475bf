"""Benchmarks of the toolkit itself: speed and quality of synth, ingest, validate-masks, build, loaders, annotate.

One module per ``rbc-bench`` command, named after it (``rbc-bench loader-speed`` runs ``loader_speed.py``; the
training throughput of ``train-speed`` too). Helpers: ``results.py`` prints a table and writes the JSON,
``memory.py`` samples peak memory, ``realism_stats.py`` holds the per-image measures of ``realism.py``.
Their figures are in docs/BENCHMARKS.md.
"""
