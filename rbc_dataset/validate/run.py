"""``rbc-dataset validate-masks ROOT|MANIFEST``: check every pair, collect every finding, report them all at once."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pandas as pd

from rbc_dataset import __version__
from rbc_dataset.fileio import (
    atomic_directory,
    check_output_outside,
    path_inside,
    removed_on_error,
    write_json,
)
from rbc_dataset.issues import SEVERITIES
from rbc_dataset.parallel import process_pool, worker_count
from rbc_dataset.progress import track
from rbc_dataset.sources import load_source
from rbc_dataset.validate.config import ValidateConfig
from rbc_dataset.validate.dataset import dataset_findings
from rbc_dataset.validate.fix import CURED_BY_CANONICAL, FixOptions
from rbc_dataset.validate.loading import FILE_FINDINGS
from rbc_dataset.validate.pair import validate_many
from rbc_dataset.validate.summary import write_summaries

REPORT_SCHEMA_VERSION = 1
CHUNK = 16  # pairs per worker task


@dataclass(frozen=True)
class ValidationResult:
    """What validate-masks found and wrote."""

    report_path: Path
    markdown_path: Path
    html_path: Path
    n_samples: int
    counts: dict[str, int]  # severity -> findings
    by_code: dict[str, dict]  # code -> {"severity", "count"}
    fix_dir: Path | None
    n_fixed: int
    seconds: float


def _chunks(rows: list[dict], size: int) -> Iterator[list[dict]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _run_pairs(rows: list[dict], config: ValidateConfig, fix: FixOptions | None, show_progress: bool) -> list[dict]:
    """Validate all pairs, streamed through a worker pool; results are small dicts, images never travel."""
    chunks = list(_chunks(rows, CHUNK))
    work = partial(validate_many, config=config, fix=fix)
    workers = worker_count(config.workers)
    if workers == 1 or len(chunks) == 1:
        batches = track(
            map(work, chunks), len(rows), description="validate pairs", show=show_progress, sizes=map(len, chunks)
        )
        return [result for batch in batches for result in batch]
    with process_pool(min(workers, len(chunks))) as pool:
        batches = track(
            pool.map(work, chunks), len(rows), description="validate pairs", show=show_progress, sizes=map(len, chunks)
        )
        return [result for batch in batches for result in batch]


def _default_paths(report: Path | None, out_dir: Path | None) -> tuple[Path, Path]:
    folder = Path(out_dir) if out_dir else Path.cwd()
    report = Path(report) if report else folder / "validate-masks.json"
    return report, report.parent


def _by_code(findings: list[dict]) -> dict[str, dict]:
    table: dict[str, dict] = {}
    for f in findings:
        entry = table.setdefault(f["code"], {"severity": f["severity"], "count": 0})
        entry["count"] += 1
    return dict(sorted(table.items(), key=lambda kv: (SEVERITIES.index(kv[1]["severity"]), -kv[1]["count"])))


def _blocking(findings: list[dict], results: list[dict]) -> dict[str, list[str]]:
    """Sample id -> error codes that keep its canonical mask out (errors re-encoding does not cure)."""
    blocking: dict[str, list[str]] = {}
    for f in findings:
        if f["severity"] == "error" and f["code"] not in CURED_BY_CANONICAL and f["sample_id"]:
            blocking.setdefault(f["sample_id"], []).append(f["code"])
    # Ids that differ only in case would share one file on a case-insensitive disk (macOS, Windows).
    by_name: dict[str, list[str]] = {}
    for result in results:
        if result.get("fix"):
            by_name.setdefault(result["fix"]["canonical_mask"].casefold(), []).append(result["sample_id"])
    for ids in by_name.values():
        if len(set(ids)) > 1:
            for sid in ids:
                blocking.setdefault(sid, []).append("canonical_name_collision")
    return blocking


def _finish_fix(results: list[dict], findings: list[dict], fix: FixOptions) -> tuple[int, list[dict]]:
    """Drop canonical masks of pairs with errors that re-encoding does not cure; write the provenance log."""
    blocking = _blocking(findings, results)
    written, skipped = [], []
    for result in results:
        sid, entry = result["sample_id"], result.get("fix")
        if entry and sid in blocking:
            # Two rows of one id share one file: the first unlink removed it already.
            path_inside(fix.out, entry["canonical_mask"]).unlink(missing_ok=True)
        if entry and sid not in blocking:
            written.append({"sample_id": sid, **entry})
        else:
            skipped.append({"sample_id": sid, "reason": ", ".join(sorted(set(blocking.get(sid, ["no usable mask"]))))})
    buffer = io.StringIO()
    if written:
        writer = csv.DictWriter(buffer, fieldnames=list(written[0]))
        writer.writeheader()
        writer.writerows(written)
    (fix.out / "provenance.csv").write_text(buffer.getvalue())
    pd.DataFrame(skipped, columns=["sample_id", "reason"]).to_csv(fix.out / "skipped.csv", index=False)
    return len(written), skipped


def validate_masks(
    source: Path,
    *,
    report: Path | None = None,
    out_dir: Path | None = None,
    fix_out: Path | None = None,
    remove_specks_px: int | None = None,
    fill_holes_px: int | None = None,
    config: ValidateConfig | None = None,
    overwrite: bool = False,
    show_progress: bool = True,
) -> ValidationResult:
    """Validate every image/mask pair of a dataset folder or manifest.

    Args:
        source: dataset folder (ingested on the fly) or a manifest written by ``rbc-dataset ingest``.
        report: JSON report path (default ``<out_dir or cwd>/validate-masks.json``); Markdown and HTML go beside it.
        out_dir: folder for the report files when ``report`` is not given.
        fix_out: write canonical masks and a provenance log into this new folder.
        remove_specks_px: with ``fix_out``, drop cell components smaller than this.
        fill_holes_px: with ``fix_out``, fill enclosed holes smaller than this.
        config: thresholds.
        overwrite: replace an existing ``fix_out``.
        show_progress: draw a progress bar.
    """
    start = time.perf_counter()
    config = config or ValidateConfig()
    loaded = load_source(source, workers=config.workers, show_progress=show_progress)
    report_path, report_dir = _default_paths(report, out_dir)
    check_output_outside(report_dir, list(loaded.roots))
    if fix_out is not None:
        check_output_outside(Path(fix_out), list(loaded.roots), replaced=True)
    rows = loaded.rows.to_dict("records")
    n_fixed, fix_dir = 0, None if fix_out is None else Path(fix_out)
    # The report and the fix folder stand or fall together (a full disk, an interrupt): the report is written
    # before the folder is committed, and removed if anything fails up to the commit.
    report_set = [report_path, *(report_path.with_suffix(s) for s in (".md", ".html"))]
    report_set.append(report_path.with_name(report_path.stem + "_thumbs"))
    fixing = contextlib.nullcontext(None) if fix_dir is None else atomic_directory(fix_dir, overwrite)
    with removed_on_error(*report_set), fixing as tmp:
        fix = None if tmp is None else FixOptions(tmp, remove_specks_px, fill_holes_px)
        results = _run_pairs(rows, config, fix, show_progress)
        findings, facts, stats = _collect(results, loaded, config)
        if fix is not None:
            n_fixed, _ = _finish_fix(results, findings, fix)
            _write_fix_config(tmp, loaded, config, fix)
        document = _document(
            loaded,
            config,
            findings=findings,
            facts=facts,
            stats=stats,
            n_fixed=n_fixed,
            fix_dir=fix_dir,
            seconds=time.perf_counter() - start,
        )
        report_dir.mkdir(parents=True, exist_ok=True)
        write_json(report_path, document, default=str)
        markdown, html = write_summaries(document, loaded.rows, report_path=report_path, limit=config.thumbnails)
    counts = {s: sum(1 for f in findings if f["severity"] == s) for s in SEVERITIES}
    return ValidationResult(
        report_path,
        markdown,
        html_path=html,
        n_samples=len(rows),
        counts=counts,
        by_code=document["by_code"],
        fix_dir=fix_dir,
        n_fixed=n_fixed,
        seconds=time.perf_counter() - start,
    )


def _collect(results: list[dict], loaded, config: ValidateConfig):
    stats = pd.DataFrame([r["stats"] for r in results])
    findings = [f for r in results for f in r["findings"]]
    extra, facts = dataset_findings(loaded.rows, stats, config=config)
    findings += extra
    return findings + ingest_findings(loaded.ingest_issues, findings), facts, stats


def ingest_findings(issues, findings: list[dict]) -> list[dict]:
    """Ingest's errors as findings (same codes), so that counts, the exit code and a build's check include them.

    An error ingest found (a duplicate file, an unknown class, a file named by two CSV rows) once stayed in the
    ingest report while validate-masks exited 0 and build used whichever file came first. Warnings stay in the
    report's ``ingest_issues``; an error the pair checks already found for the same file is not repeated, nor is
    ingest's "this file cannot be read" once the pair checks said why (empty, truncated, a bomb ...).
    """
    seen = {(f["code"], f["path"], f["sample_id"]) for f in findings}
    unreadable = {f["path"] for f in findings if f["code"] in FILE_FINDINGS and f["severity"] == "error"}
    out = []
    for issue in issues:
        said = issue.code in FILE_FINDINGS and issue.path in unreadable
        if issue.severity == "error" and not said and (issue.code, issue.path, issue.sample_id) not in seen:
            seen.add((issue.code, issue.path, issue.sample_id))
            out.append(issue.to_dict())
    return out


def _write_fix_config(folder: Path, loaded, config: ValidateConfig, fix: FixOptions) -> None:
    data = {
        "tool": f"rbc-dataset {__version__}",
        "source": str(loaded.source),
        "options": fix.to_dict(),
        "validate_config": config.to_dict(),
        "encoding": "single-channel PNG, cell = 255, background = 0",
    }
    write_json(folder / "fix_config.json", data, sort_keys=True)


def _document(loaded, config, *, findings, facts, stats, n_fixed, fix_dir, seconds) -> dict:
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "tool": f"rbc-dataset {__version__}",
        "source": str(loaded.source),
        "source_kind": loaded.kind,
        "n_samples": int(len(loaded.rows)),
        "config": config.to_dict(),
        "counts": {s: sum(1 for f in findings if f["severity"] == s) for s in SEVERITIES},
        "by_code": _by_code(findings),
        "dataset": facts,
        "findings": findings,
        "ingest_issues": [issue.to_dict() for issue in loaded.ingest_issues],
        "samples": json.loads(stats.to_json(orient="records")),
        "fix": None if fix_dir is None else {"folder": str(fix_dir), "written": n_fixed},
        "seconds": round(seconds, 2),
    }
