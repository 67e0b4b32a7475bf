"""rbc-bench: the model benchmark on built shards, and the toolkit's own benchmarks.

The model benchmark (``rbc-bench run``, ``list``, ``score``, ``report``; docs/RBC_BENCH.md): ``models/`` and
``baselines/`` register the models (``catalog.py`` lists them), ``training/`` trains them on a build's splits,
``suite/`` runs a suite (classification, segmentation) under the test-split guard into a run folder, and
``evaluation/`` scores and reports runs. ``commands.py`` holds these commands.

``toolkit/`` is separate: speed and quality benchmarks of the toolkit itself (synth, ingest, validate-masks,
build, loaders, annotate, training throughput), one module per ``rbc-bench`` command (docs/BENCHMARKS.md).
``environment.py`` records the machine and versions beside every result of both.
"""
