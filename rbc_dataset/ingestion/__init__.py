"""Ingest: any AneRBC-style folder (or a user's own folder or CSV) into one manifest table."""

from rbc_dataset.ingestion.run import LAYOUTS, IngestResult, ingest

__all__ = ["LAYOUTS", "IngestResult", "ingest"]
