"""Split leakage: units that must stay whole (parents, groups, duplicate clusters, shared CBC reports) across splits.

The split of each sample comes from a ``--splits`` file (CSV or Parquet with columns ``sample_id`` and
``split``) or, without one, from the manifest's ``split`` column (pre-split releases). Ids the file names
that are not in the manifest, and manifest samples the file does not name, are reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from rbc_dataset.errors import DataError
from rbc_dataset.issues import Issue
from rbc_dataset.manifest import parent_keys

SPLIT_COLUMNS = ("sample_id", "split")
_FORMATS = {".csv": "csv", ".tsv": "tsv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet"}
_LIST = 10  # ids quoted in one finding; the full lists are in audit.json


@dataclass(frozen=True)
class SplitFindings:
    """Leaks, bookkeeping problems and per-split counts."""

    source: str  # the splits file, or "manifest split column"
    leaks: list[dict]  # one row per unit with members in several splits
    class_counts: list[dict]  # split x class: samples and parents
    unknown_ids: list[str]
    missing_ids: list[str]
    conflicts: list[dict]
    issues: list[Issue]


def read_splits(path: Path) -> pd.DataFrame:
    """The ``sample_id``/``split`` table of a CSV or Parquet file, as strings, blank splits dropped.

    Raises:
        DataError: the file is missing, unreadable, of another format, or lacks a column.
    """
    path = Path(path)
    fix = "write one row per sample with a header: sample_id,split (CSV) or the same two columns in Parquet"
    if not path.is_file():
        raise DataError(path, "a splits file (CSV or Parquet)", "no such file", "check the path")
    kind = _FORMATS.get(path.suffix.lower())
    if kind is None:
        raise DataError(path, f"a splits file named {', '.join(sorted(_FORMATS))}", f"'{path.suffix}'", fix)
    try:
        if kind == "parquet":
            table = pd.read_parquet(path)
        else:
            table = pd.read_csv(path, sep="\t" if kind == "tsv" else ",", dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(path, f"a readable {kind} file", f"an unreadable file ({exc})", fix) from exc
    table.columns = [str(c).strip().lower() for c in table.columns]
    missing = [c for c in SPLIT_COLUMNS if c not in table.columns]
    if missing:
        found = f"columns {', '.join(table.columns) or '(none)'}; missing {', '.join(missing)}"
        raise DataError(path, "columns sample_id and split", found, fix)
    table = table[list(SPLIT_COLUMNS)].astype(str).apply(lambda column: column.str.strip())
    return table[(table["split"] != "") & (table["split"].str.lower() != "nan")].reset_index(drop=True)


def _assignment(table: pd.DataFrame) -> tuple[dict[str, str], list[dict]]:
    splits_of = table.groupby("sample_id", sort=True)["split"].agg(lambda s: sorted(set(s)))
    conflicts = [{"sample_id": sid, "splits": s} for sid, s in splits_of.items() if len(s) > 1]
    assigned = {sid: s[0] for sid, s in splits_of.items() if len(s) == 1}
    return assigned, conflicts


def _leak_rows(kind: str, units: dict[str, list[str]], assigned: dict[str, str]) -> list[dict]:
    """Units of one kind whose assigned members fall into more than one split."""
    leaks = []
    for unit, members in units.items():
        by_split: dict[str, list[str]] = {}
        for sample in members:
            if sample in assigned:
                by_split.setdefault(assigned[sample], []).append(sample)
        if len(by_split) > 1:
            counts = {split: len(ids) for split, ids in sorted(by_split.items())}
            leaks.append({"kind": kind, "unit": unit, "splits": counts, "members": dict(sorted(by_split.items()))})
    return leaks


_LEAK_CODES = {
    "parent": ("split_leak_parent", "error", "crops/tiles of one image in one split"),
    "group": ("split_leak_group", "error", "every group_id in one split"),
    "duplicate": ("split_leak_duplicate", "error", "copies of one image in one split"),
    "cbc": ("split_leak_cbc", "warning", "images sharing one CBC report in one split"),
}


def _leak_issue(leak: dict) -> Issue:
    code, severity, expected = _LEAK_CODES[leak["kind"]]
    spread = "; ".join(
        f"{split} ({len(ids)}): {', '.join(ids[:_LIST])}{' ...' if len(ids) > _LIST else ''}"
        for split, ids in leak["members"].items()
    )
    fix = "split by group (rbc-dataset split keeps parents, groups and duplicates together) and re-run"
    if leak["kind"] == "cbc":
        fix = "keep these images in one split when CBC values are model input; otherwise note it"
    return Issue(
        code,
        severity,
        path=None,
        expected=expected,
        found=f"{leak['kind']} {leak['unit']} in {spread}",
        fix=fix,
        sample_id=leak["unit"],
    )


def _units(rows: pd.DataFrame, duplicates: list[dict], shared_cbc: list[dict]) -> dict[str, dict[str, list[str]]]:
    parents = pd.Series(parent_keys(rows), index=rows.index)
    by_parent = rows.groupby(parents)["sample_id"].apply(list).to_dict()
    groups = rows["group_id"].where(rows["group_id"].notna(), parents)
    by_group = rows.groupby(groups)["sample_id"].apply(list).to_dict()
    # A group that is just a parent under another name would repeat the parent finding.
    same = {group for group, members in by_group.items() if by_parent.get(group) == members}
    return {
        "parent": by_parent,
        "group": {g: m for g, m in by_group.items() if g not in same},
        "duplicate": {c["cluster_id"]: c["sample_ids"] for c in duplicates},
        "cbc": {r["report_id"]: r["sample_ids"] for r in shared_cbc},
    }


def _class_counts(rows: pd.DataFrame, assigned: dict[str, str]) -> list[dict]:
    frame = rows.assign(split=rows["sample_id"].map(assigned), parent=parent_keys(rows)).dropna(subset=["split"])
    if frame.empty:
        return []
    counts = frame.groupby(["split", "class_name"]).agg(samples=("sample_id", "size"), parents=("parent", "nunique"))
    return [{"split": s, "class_name": c, **{k: int(v) for k, v in r.items()}} for (s, c), r in counts.iterrows()]


def _bookkeeping_issues(source: str, unknown: list[str], missing: list[str], conflicts: list[dict]) -> list[Issue]:
    issues = []
    if unknown:
        issues.append(
            Issue(
                "splits_unknown_sample",
                "warning",
                path=source,
                expected="split ids that name samples of the dataset",
                found=f"{len(unknown)} unknown ids: {', '.join(unknown[:_LIST])}"
                f"{' ...' if len(unknown) > _LIST else ''}",
                fix="regenerate the splits from this manifest (ids are stable: anerbc1_a_001, ...)",
            )
        )
    if missing:
        issues.append(
            Issue(
                "splits_missing_sample",
                "warning",
                path=source,
                expected="a split for every sample",
                found=f"{len(missing)} samples without a split: {', '.join(missing[:_LIST])}"
                f"{' ...' if len(missing) > _LIST else ''}",
                fix="assign every sample, or drop unassigned samples from the dataset on purpose",
            )
        )
    for conflict in conflicts:
        issues.append(
            Issue(
                "splits_conflict",
                "error",
                path=source,
                expected="one split per sample",
                found=f"{conflict['sample_id']} in {', '.join(conflict['splits'])}",
                fix="list each sample once",
                sample_id=conflict["sample_id"],
            )
        )
    return issues


def check_splits(
    rows: pd.DataFrame, table: pd.DataFrame, *, source: str, duplicates: list[dict], shared_cbc: list[dict]
) -> SplitFindings:
    """Leaks of parents, groups, duplicate clusters and shared CBC reports across splits.

    Args:
        rows: manifest rows.
        table: ``sample_id``/``split`` rows (from ``read_splits`` or the manifest).
        source: where the splits came from, for the findings.
        duplicates: duplicate clusters (``find_duplicates``).
        shared_cbc: shared CBC report rows (``audit_cbc``).
    """
    rows = rows.reset_index(drop=True)
    assigned, conflicts = _assignment(table)
    known = set(rows["sample_id"])
    unknown = sorted(set(assigned) - known)
    missing = sorted(known - set(assigned) - {c["sample_id"] for c in conflicts})
    assigned = {sid: split for sid, split in assigned.items() if sid in known}
    leaks = []
    for kind, units in _units(rows, duplicates, shared_cbc).items():
        leaks += _leak_rows(kind, units, assigned)
    issues = _bookkeeping_issues(source, unknown, missing, conflicts) + [_leak_issue(leak) for leak in leaks]
    return SplitFindings(
        source,
        leaks,
        class_counts=_class_counts(rows, assigned),
        unknown_ids=unknown,
        missing_ids=missing,
        conflicts=conflicts,
        issues=issues,
    )


def manifest_splits(rows: pd.DataFrame) -> pd.DataFrame | None:
    """The manifest's own ``split`` column as a splits table, or None when no sample has one."""
    if "split" not in rows.columns or rows["split"].isna().all():
        return None
    table = rows.loc[rows["split"].notna(), ["sample_id", "split"]].astype(str)
    return table.reset_index(drop=True)
