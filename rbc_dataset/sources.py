"""Commands that take ``ROOT|MANIFEST``: a dataset folder is ingested on the fly, a manifest is read as is.

Either way the ingest's issues come along (from the manifest's ``.report.json`` beside it), so that an error
ingest found (a duplicate file, an unknown class) reaches validate-masks' findings and stops a build.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from rbc_dataset.errors import DataError
from rbc_dataset.issues import SEVERITIES, Issue
from rbc_dataset.manifest import read_manifest, report_path_for

REPORT_MAX_BYTES = 256_000_000  # an ingest report lists every unused file; far beyond any real one


@dataclass(frozen=True)
class LoadedSource:
    """The manifest rows behind a command's input, and where they came from."""

    rows: pd.DataFrame
    source: Path  # what the user passed
    kind: str  # "manifest" or "folder"
    roots: tuple[Path, ...]  # data folders the rows point into (outputs must stay out of them)
    ingest_issues: tuple = ()  # issues ingest found (the on-the-fly ingest, or the manifest's .report.json)


def load_source(source: Path, *, workers: int = 0, show_progress: bool = False) -> LoadedSource:
    """Rows of a manifest file, or of a folder ingested into a temporary manifest."""
    source = Path(source)
    if source.is_file():
        rows = read_manifest(source)
        roots = tuple(sorted({Path(r) for r in rows["root"].dropna().unique()}))
        return LoadedSource(rows, source, kind="manifest", roots=roots, ingest_issues=read_ingest_issues(source))
    if not source.exists():
        raise DataError(
            source,
            "a dataset folder or a manifest file",
            "nothing at this path",
            "check the path (quote it if it has spaces)",
        )
    from rbc_dataset.ingestion import ingest

    with tempfile.TemporaryDirectory(prefix="rbc-ingest-") as tmp:
        result = ingest(source, out=Path(tmp) / "manifest.parquet", workers=workers, show_progress=show_progress)
        rows = read_manifest(result.manifest_path)
    return LoadedSource(rows, source, kind="folder", roots=(source.resolve(),), ingest_issues=tuple(result.issues))


def read_ingest_issues(manifest: Path) -> tuple[Issue, ...]:
    """The issues in a manifest's ``.report.json`` (none when the report is absent: a manifest copied alone)."""
    path = report_path_for(manifest)
    if not path.is_file():
        return ()
    if path.stat().st_size > REPORT_MAX_BYTES:
        raise DataError(path, f"an ingest report of at most {REPORT_MAX_BYTES:,} bytes", "a larger file", _RERUN)
    try:
        report = json.loads(path.read_bytes())
        issues = tuple(_issue(item) for item in report.get("issues", []))
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, TypeError, KeyError, ValueError) as exc:
        raise DataError(
            path, "the JSON report written by `rbc-dataset ingest`", f"an unreadable file ({exc})", _RERUN
        ) from exc
    return issues


_RERUN = "re-run `rbc-dataset ingest` (it writes the manifest and its report together)"


def _issue(item: dict) -> Issue:
    fields = ("code", "severity", "path", "expected", "found", "fix")
    values = {name: item[name] for name in fields}
    if values["severity"] not in SEVERITIES or not isinstance(values["code"], str):
        raise ValueError(f"issue {values['code']!r} with severity {values['severity']!r}")
    return Issue(**values, sample_id=item.get("sample_id"))
