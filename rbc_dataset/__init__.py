"""rbc-dataset: curation, sharding and benchmarking toolkit for red-blood-cell microscopy (AneRBC)."""

__version__ = "0.1.0"
