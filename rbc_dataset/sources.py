"""Commands that take ``ROOT|MANIFEST``: a dataset folder is ingested on the fly, a manifest is read as is."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from rbc_dataset.errors import DataError
from rbc_dataset.manifest import read_manifest


@dataclass(frozen=True)
class LoadedSource:
    """The manifest rows behind a command's input, and where they came from."""

    rows: pd.DataFrame
    source: Path  # what the user passed
    kind: str  # "manifest" or "folder"
    roots: tuple[Path, ...]  # data folders the rows point into (outputs must stay out of them)
    ingest_issues: tuple = ()  # issues the on-the-fly ingest found (folder sources)


def load_source(source: Path, workers: int = 0, show_progress: bool = False) -> LoadedSource:
    """Rows of a manifest file, or of a folder ingested into a temporary manifest."""
    source = Path(source)
    if source.is_file():
        rows = read_manifest(source)
        roots = tuple(sorted({Path(r) for r in rows["root"].dropna().unique()}))
        return LoadedSource(rows, source, "manifest", roots)
    if not source.exists():
        raise DataError(
            source,
            "a dataset folder or a manifest file",
            "nothing at this path",
            "check the path (quote it if it has spaces)",
        )
    from rbc_dataset.ingest import ingest

    with tempfile.TemporaryDirectory(prefix="rbc-ingest-") as tmp:
        result = ingest(source, Path(tmp) / "manifest.parquet", workers=workers, show_progress=show_progress)
        rows = read_manifest(result.manifest_path)
    return LoadedSource(rows, source, "folder", (source.resolve(),), tuple(result.issues))
