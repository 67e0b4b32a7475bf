"""Benchmark scripts and (later) the rbc-bench model/baseline harness."""
