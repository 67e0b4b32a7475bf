"""Suites of ``rbc-bench run``: what runs, under which protocol, into which run folder (docs/RBC_BENCH.md)."""
