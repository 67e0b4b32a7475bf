"""``rbc-dataset ingest``: turn an AneRBC-style folder (or a user's own folder/CSV) into one manifest."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rbc_dataset import __version__
from rbc_dataset.errors import DataError, UsageError, check_choice
from rbc_dataset.fileio import check_output_outside, link_leaves
from rbc_dataset.ingestion.anerbc import (
    ScanResult,
    drop_non_utf8,
    is_utf8,
    list_files,
    looks_like_anerbc,
    printable,
    scan_anerbc,
)
from rbc_dataset.ingestion.classes import ClassMap, parse_class_map
from rbc_dataset.ingestion.file_facts import OUTSIDE_LINK, inspect_many
from rbc_dataset.ingestion.folder import group_folder
from rbc_dataset.ingestion.metadata_csv import read_metadata_csv
from rbc_dataset.ingestion.release import release_check
from rbc_dataset.ingestion.rows import build_rows
from rbc_dataset.ingestion.samples import Sample, group_anerbc
from rbc_dataset.ingestion.tiles import TileOrder, detect_tile_order
from rbc_dataset.issues import Issue, count_by_severity
from rbc_dataset.layout import TILE_ORDERS
from rbc_dataset.manifest import report_path_for, write_manifest
from rbc_dataset.parallel import process_pool, worker_count
from rbc_dataset.progress import track

LAYOUTS = ("auto", "anerbc", "folder", "csv")
REPORT_SCHEMA_VERSION = 1
CHUNK = 64  # files per worker task: large enough to amortise process hops


@dataclass(frozen=True)
class IngestResult:
    """What an ingest run produced."""

    manifest_path: Path
    report_path: Path
    layout: str
    n_samples: int
    counts: dict  # source -> class -> samples
    issues: list[Issue]
    tile_order: TileOrder | None
    n_unrecognised: int  # files under the root that are not part of the layout (listed in the report)
    seconds: float
    release: dict | None = None  # the input against the published AneRBC release (ingest.release)


def _check_root(root: Path) -> list[Path]:
    if not is_utf8(root):
        raise DataError(
            printable(root),
            "a folder whose path is UTF-8 text",
            "bytes that are not UTF-8 in the path",
            "rename the folder (manifests store paths as UTF-8 text)",
        )
    if not root.exists():
        raise DataError(
            root,
            "an existing folder holding the dataset",
            "nothing at this path",
            "check the path (quote it if it has spaces)",
        )
    if not root.is_dir():
        raise DataError(root, "a folder", "a file", "pass the folder that holds the dataset, not a file in it")
    files = list_files(root)
    if not files:
        raise DataError(
            root,
            "a folder with image files",
            "an empty folder",
            "point to the folder that holds AneRBC_dataset (or your images)",
        )
    return files


def _choose_layout(layout: str, root: Path, files: list[Path], metadata: Path | None) -> str:
    check_choice("layout", layout, choices=LAYOUTS)
    if layout == "csv" and metadata is None:
        raise UsageError("--layout csv needs --metadata FILE.csv naming image, class and optional mask/group columns")
    if layout != "auto":
        return layout
    if metadata is not None:
        return "csv"
    return "anerbc" if looks_like_anerbc(root, files) else "folder"


def _collect_samples(
    layout: str, root: Path, *, files: list[Path], metadata: Path | None, class_map: ClassMap, allow_outside_root: bool
) -> tuple[list[Sample], ScanResult]:
    scan = ScanResult()
    files = drop_non_utf8(root, files, result=scan)
    if layout == "anerbc":
        anerbc = scan_anerbc(root, files)
        anerbc.issues[:0] = scan.issues  # the non-UTF-8 names come first, as they were found first
        anerbc.unrecognised[:0] = scan.unrecognised
        return group_anerbc(anerbc), anerbc
    if layout == "csv":
        return read_metadata_csv(
            Path(metadata), root, scan=scan, class_map=class_map, allow_outside_root=allow_outside_root
        ), scan
    return group_folder(root, files, scan=scan, class_map=class_map), scan


def _no_samples_error(root: Path, files: list[Path], layout: str, scan: ScanResult) -> DataError:
    extensions = Counter(p.suffix.lower() or "(none)" for p in files)
    found = ", ".join(f"{n} {ext}" for ext, n in extensions.most_common(6))
    errors = [issue for issue in scan.issues if issue.severity == "error"]
    if errors:  # e.g. every CSV row refused: say why instead of blaming the folder
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        found += f"; {errors[0].code}: {errors[0].message}{more}"
    return DataError(
        root,
        f"image files in the {layout} layout",
        f"no usable samples among {len(files)} files ({found})",
        "fix the errors named, point to the folder holding AneRBC_dataset or your image folders, or pass "
        "--layout/--metadata",
    )


def _inspect_all(samples: list[Sample], root: Path, workers: int, show_progress: bool) -> dict[str, dict]:
    items = sorted({(str(path), role) for s in samples for role, path in s.files.items()})
    # A link out of the root is never read (not even hashed): nothing from elsewhere may reach the manifest.
    refused = {path: {"path": path, "error": OUTSIDE_LINK} for path, _ in items if link_leaves(path, root)}
    items = [item for item in items if item[0] not in refused]
    chunks = [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]
    if workers <= 1 or len(chunks) <= 2:
        results = map(inspect_many, chunks)
        batches = list(
            track(results, len(items), description="ingest files", show=show_progress, sizes=map(len, chunks))
        )
    else:
        with process_pool(workers) as pool:
            results = pool.map(inspect_many, chunks)
            batches = list(
                track(results, len(items), description="ingest files", show=show_progress, sizes=map(len, chunks))
            )
    return {**refused, **{info["path"]: info for batch in batches for info in batch}}


def _tile_order(samples: list[Sample], given: str | None, issues: list[Issue], skip: set[str]) -> TileOrder | None:
    if not any(s.source == "AneRBC-II" for s in samples):
        return None
    detected = detect_tile_order(samples, skip)
    if given is not None:
        check_choice("tile order", given, choices=TILE_ORDERS)
        if detected.order not in (None, given):
            issues.append(
                Issue(
                    "tile_order_disagrees",
                    "warning",
                    path=None,
                    expected=f"tiles in the given {given} order",
                    found=f"pixels matching {detected.order} ({detected.median_abs_diff})",
                    fix="check --tile-order; the given order is used",
                )
            )
        return TileOrder(
            given,
            "given",
            parents_checked=detected.parents_checked,
            median_abs_diff=detected.median_abs_diff,
            exact=detected.exact,
        )
    if detected.order is None:
        issues.append(
            Issue(
                "tile_order_unknown",
                "warning",
                path=None,
                expected="AneRBC-I parents next to AneRBC-II tiles",
                found="no parent to compare with",
                fix="pass --tile-order row-major|column-major to set tile boxes",
            )
        )
    return detected


def ingest(
    root: Path,
    *,
    out: Path,
    layout: str = "auto",
    metadata: Path | None = None,
    tile_order: str | None = None,
    workers: int = 0,
    show_progress: bool = True,
    class_map: str | Path | None = None,
    allow_outside_root: bool = False,
) -> IngestResult:
    """Index every sample under ``root`` into a Parquet manifest at ``out`` plus ``<out>.report.json``.

    Args:
        root: folder holding the dataset anywhere below it (inputs are only read).
        out: manifest path; must lie outside ``root``.
        layout: "auto", "anerbc", "folder" or "csv".
        metadata: CSV naming image, class and optional mask/group/split per row (csv layout).
        tile_order: AneRBC-II tile order to use instead of the detected one.
        workers: processes for hashing and parsing (0 = all cores).
        show_progress: draw a progress bar.
        class_map: labels of class names that are not healthy/anaemic (``NAME=VALUE,...`` or a .yaml/.csv file;
            see ``ingest.classes``).
        allow_outside_root: let a metadata CSV name files outside ``root``.
    """
    start = time.perf_counter()
    root, out = Path(root).resolve(), Path(out)
    classes = parse_class_map(class_map)
    files = _check_root(root)
    check_output_outside(out, [root])
    layout = _choose_layout(layout, root, files, metadata)
    samples, scan = _collect_samples(
        layout, root, files=files, metadata=metadata, class_map=classes, allow_outside_root=allow_outside_root
    )
    if not samples:
        raise _no_samples_error(root, files, layout, scan)
    infos = _inspect_all(samples, root, worker_count(workers), show_progress)
    unreadable = {path for path, info in infos.items() if "error" in info}
    order = _tile_order(samples, tile_order, scan.issues, unreadable)
    rows = build_rows(samples, infos, root=root, order=order, issues=scan.issues)
    counts = _counts(rows)
    report = _report(
        root, layout, rows=rows, scan=scan, order=order, counts=counts, seconds=time.perf_counter() - start
    )
    report["release"] = release_check(layout, scan.entries, rows=rows)
    metadata_fields = {"root": root.as_posix(), "layout": layout, "tool_version": __version__}
    write_manifest(rows, out, metadata=metadata_fields, report=report)
    seconds = time.perf_counter() - start
    return IngestResult(
        out, report_path_for(out), layout=layout, n_samples=len(rows), counts=counts, issues=scan.issues,
        tile_order=order, n_unrecognised=len(scan.unrecognised), seconds=seconds, release=report["release"],
    )  # fmt: skip


def _counts(rows: list[dict]) -> dict:
    counts: dict = {}
    for row in rows:
        by_class = counts.setdefault(row["source"], {})
        by_class[row["class_name"]] = by_class.get(row["class_name"], 0) + 1
    return counts


def _report(root: Path, layout: str, *, rows: list[dict], scan: ScanResult, order, counts, seconds: float) -> dict:
    cbc_problems = Counter(code for row in rows for code in (row.get("cbc_problems") or []))
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "tool": f"rbc-dataset {__version__}",
        "root": root.as_posix(),
        "layout": layout,
        "n_samples": len(rows),
        "samples": counts,
        "synthetic": any(row["synthetic"] for row in rows),
        "tile_order": None if order is None else order.__dict__,
        "issue_counts": count_by_severity(scan.issues),
        "issues": [issue.to_dict() for issue in scan.issues],
        "unrecognised_files": [{"path": p, "reason": r} for p, r in scan.unrecognised],
        "sidecar_files": scan.sidecar_files,
        "cbc_problem_counts": dict(sorted(cbc_problems.items())),
        "seconds": round(seconds, 3),
    }
