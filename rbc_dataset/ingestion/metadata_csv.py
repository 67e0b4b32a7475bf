"""The metadata-CSV layout: one row per image naming its file, class and optional mask, group, split and id.

``ingest ROOT --metadata FILE.csv``: relative paths are read from the CSV's folder; every file must lie inside
ROOT (after following links) unless ``--allow-outside-root`` says that files elsewhere are meant. ROOT is what
the manifest's paths are relative to and what outputs are kept out of. A ``sample_id`` becomes part of file
names later (thumbnails, canonical masks), so an id outside the safe set (letters, digits, ``._-``) is an error
naming its row; ids are join keys (``--splits``, results), so they are refused rather than silently changed.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pandas as pd

from rbc_dataset.errors import DataError
from rbc_dataset.fileio import safe_name
from rbc_dataset.ingestion.anerbc import ScanResult
from rbc_dataset.ingestion.classes import UNLABELLED, ClassMap, resolve_class, unknown_class_issue
from rbc_dataset.ingestion.folder import dedupe_ids, slug
from rbc_dataset.ingestion.samples import Sample
from rbc_dataset.issues import Issue

METADATA_MAX_BYTES = 64_000_000  # about 300,000 rows of paths; a larger file is not a metadata table
FILE_ROLES = ("image", "mask", "rgb_mask")
SAFE_ID = "letters, digits, '.', '_' and '-' (at most 200, starting with a letter or digit, no '..')"


def _read_table(csv_path: Path) -> pd.DataFrame:
    try:
        size = csv_path.stat().st_size
    except OSError as exc:
        raise DataError(csv_path, "a readable CSV file", exc.strerror or str(exc), "check the --metadata path") from exc
    if size > METADATA_MAX_BYTES:
        raise DataError(
            csv_path,
            f"a metadata CSV of at most {METADATA_MAX_BYTES:,} bytes",
            f"{size:,} bytes",
            "split the table or check that --metadata names the right file",
        )
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError as exc:
        raise DataError(csv_path, "a CSV with a header row and one row per image", "an empty file", "fill it") from exc
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(
            csv_path, "a readable CSV file", f"an error: {exc}", "save it as UTF-8 CSV with a header"
        ) from exc
    columns = {c.strip().lower(): c for c in table.columns}
    if "image" not in columns or not ({"class", "label"} & set(columns)):
        raise DataError(
            csv_path,
            "columns image and class (or label); optional mask, rgb_mask, group, split, sample_id",
            f"columns {', '.join(table.columns) or '(none)'}",
            "rename the header row",
        )
    if table.empty:
        raise DataError(csv_path, "one row per image under the header", "a header only", "add the rows")
    return table.rename(columns={v: k for k, v in columns.items()})


def _resolve(value: str, csv_path: Path) -> Path | None:
    """The absolute path a cell names, links followed (None when no file system could hold it: NUL, too long)."""
    path = Path(value)
    try:
        return (path if path.is_absolute() else csv_path.parent / path).resolve()
    except (OSError, ValueError):
        return None


def _is_file(path: Path | None) -> bool:
    try:
        return path is not None and path.is_file()
    except (OSError, ValueError):
        return False


def _check_inside_root(table: pd.DataFrame, csv_path: Path, root: Path) -> None:
    """Refuse paths outside ROOT (all of them named at once) unless --allow-outside-root was given."""
    outside = []
    for index, row in table.iterrows():
        for role in FILE_ROLES:
            value = str(row.get(role, "") or "").strip()
            path = _resolve(value, csv_path) if value else None
            if path is not None and root not in path.parents:
                outside.append(f"row {index + 2} {role} {value}")
    if outside:
        more = f" and {len(outside) - 5} more" if len(outside) > 5 else ""
        raise DataError(
            csv_path,
            f"files inside the root {root} (relative paths are read from {csv_path.parent})",
            f"{len(outside)} paths outside it: {'; '.join(outside[:5])}{more}",
            "move the files under ROOT, pass the folder that holds them all as ROOT, or pass --allow-outside-root "
            "(files are only ever read; outputs are named by sample id)",
        )


def read_metadata_csv(
    csv_path: Path, root: Path, *, scan: ScanResult, class_map: ClassMap | None = None, allow_outside_root: bool = False
) -> list[Sample]:
    """Samples from a CSV with columns image, class (or label), and optional mask, rgb_mask, group, split, sample_id.

    Args:
        csv_path: the metadata CSV (read only).
        root: the ingest root; files outside it are refused unless ``allow_outside_root``.
        scan: collects issues (missing files, unsafe ids, unknown classes, a file named by two rows).
        class_map: the user's --class-map (class cell -> label).
        allow_outside_root: accept files outside ``root``.
    """
    csv_path = Path(csv_path)
    table = _read_table(csv_path)
    if not allow_outside_root:
        _check_inside_root(table, csv_path, Path(root).resolve())
    class_map = class_map or ClassMap()
    class_column = "class" if "class" in table else "label"
    labels = _csv_labels(table, class_column, csv_path=csv_path, class_map=class_map, scan=scan)
    samples, rows = [], []
    for index, row in table.iterrows():
        sample = _csv_sample(row, index, csv_path=csv_path, labels=labels, class_column=class_column, scan=scan)
        if sample is not None:
            samples.append(sample)
            rows.append(index + 2)
    dedupe_ids(samples, scan)
    scan.issues.extend(_shared_files(samples, rows, csv_path))
    return samples


def _csv_labels(table: pd.DataFrame, column: str, *, csv_path: Path, class_map: ClassMap, scan: ScanResult) -> dict:
    """Class cell -> (class name, label); "0"/"1" are labels here; an unknown value is an error naming its rows."""
    labels = {}
    for value, group in table.groupby(column, sort=True):
        status, label = resolve_class(str(value), class_map, digits=True)
        if status == "unknown":
            rows = ", ".join(str(i + 2) for i in group.index[:5]) + (" ..." if len(group) > 5 else "")
            scan.issues.append(unknown_class_issue(str(value), f"{csv_path.name} rows {rows}", count=len(group)))
        labels[value] = (UNLABELLED if label is None and status != "unknown" else str(value), label)
    scan.issues.extend(class_map.unused_issues())
    return labels


def _csv_files(row, index: int, csv_path: Path, scan: ScanResult) -> dict[str, Path]:
    files = {}
    for role in FILE_ROLES:
        value = str(row.get(role, "") or "").strip()
        if not value:
            continue  # an empty cell means "no such file" on purpose
        path = _resolve(value, csv_path)
        if not _is_file(path):
            scan.issues.append(
                Issue(
                    f"missing_{role}",
                    "error",
                    path=f"{csv_path.name} row {index + 2}",
                    expected=f"the {role} file {value}",
                    found="no such file",
                    fix=f"fix the path (relative paths are read from {csv_path.parent})",
                )
            )
            continue
        files[role] = path
    return files


def _csv_sample(row, index: int, *, csv_path: Path, labels: dict, class_column: str, scan: ScanResult) -> Sample | None:
    given = str(row.get("sample_id", "") or "").strip()
    if given and safe_name(given) != given:
        scan.issues.append(
            Issue(
                "unsafe_sample_id",
                "error",
                path=f"{csv_path.name} row {index + 2}",
                expected=f"a sample_id of {SAFE_ID}",
                found=f"{given!r}",
                fix="change the id in this row (or leave the cell empty for folder_<class>_<name>); the row is left "
                "out",
            )
        )
        return None
    files = _csv_files(row, index, csv_path, scan)
    name, label = labels[row[class_column]]
    stem = Path(str(row["image"])).stem
    sid = given or f"folder_{slug(str(row[class_column]) or UNLABELLED)}_{slug(stem)}"
    group = str(row.get("group", "") or "") or sid
    split = str(row.get("split", "") or "") or None
    return Sample(sid, "folder", cls=name, label=label, parent_id=sid, group_id=group, split=split, files=files)


def _shared_files(samples: list[Sample], rows: list[int], csv_path: Path) -> list[Issue]:
    """A file named by two rows (the same mask for two images, one image twice) is an error on every such row."""
    users: dict[Path, list[tuple[int, str, Sample]]] = defaultdict(list)
    for sample, row in zip(samples, rows, strict=True):
        for role, path in sample.files.items():
            users[path].append((row, role, sample))
    issues = []
    for path, named in users.items():
        if len({id(sample) for _, _, sample in named}) < 2:
            continue  # image and mask of one row being one file is a pairing problem validate-masks reports
        for row, role, sample in named:
            others = ", ".join(f"row {r} ({o})" for r, o, s in named if s is not sample)
            issues.append(
                Issue(
                    "file_named_twice",
                    "error",
                    path=f"{csv_path.name} row {row}",
                    expected=f"a {role} file of its own",
                    found=f"{path.name}, also named by {others}",
                    fix="correct the path in the row that names the wrong file",
                    sample_id=sample.sample_id,
                )
            )
    return issues
