"""``rbc-bench explain``: Grad-CAM of a finished run's torch models, with the two sanity checks (docs/RBC_BENCH.md).

Importing this package loads torch; the command imports it only when it runs.
"""

from benchmarks.explain.run import ExplainResult, explain_run

__all__ = ["ExplainResult", "explain_run"]
