"""CBC reports at dataset level: shared reports, implausible values and Hb bands that disagree with the label.

Findings are counted per report unit, not per image: AneRBC-II tiles carry verbatim copies of their parent's
report, so a unit is the parent (``parent_id``; the sample itself when it has none). Reports are compared by
their parsed value vector (formatting and spelling ignored) and, when nothing could be parsed, by the raw
text's SHA-256. The manifest's ``cbc_*`` columns are read as written by ``rbc-dataset ingest``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import pandas as pd

from rbc_dataset.auditing.config import HbBands
from rbc_dataset.issues import Issue
from rbc_dataset.manifest import parent_keys
from rbc_dataset.reports import CBC_TESTS, PLAUSIBLE_BOUNDS

_NOT_TRUTH = "CBC reports are not per-image truth and not patient ids"


@dataclass(frozen=True)
class CBCFindings:
    """Tables and findings of the CBC part."""

    units: int  # report units (parents) with a report
    distinct_reports: int
    shared: list[dict]  # one row per report shared by several units
    implausible: list[dict]
    hb_disagreements: list[dict]
    hb_by_class: list[dict]  # class x Hb band counts
    issues: list[Issue]


def class_role(class_name: object) -> str | None:
    """ "anaemic" or "healthy" from a class folder name; None when the name says neither."""
    name = str(class_name).lower()
    if "anem" in name or "anaem" in name:
        return "anaemic"
    if name in ("healthy", "normal", "control") or name.startswith("healthy"):
        return "healthy"
    return None


def report_units(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per report unit (parent) that has a CBC report, with the unit's samples listed."""
    rows = rows.reset_index(drop=True)
    has_report = rows["cbc_raw"].notna() | rows[[f"cbc_{t}" for t in CBC_TESTS]].notna().any(axis=1)
    keyed = rows.assign(unit=parent_keys(rows), has_report=has_report)
    samples = keyed.groupby("unit", sort=False)["sample_id"].apply(list)
    with_report = keyed[keyed["has_report"]].copy()
    # Prefer the full image's own row (AneRBC-I) over a tile's copy of its report.
    with_report["_tile"] = with_report["tile_index"].notna()
    units = with_report.sort_values(["unit", "_tile", "sample_id"]).drop_duplicates("unit").set_index("unit")
    units["samples"] = samples.reindex(units.index)
    return units


def _report_key(unit: pd.Series) -> tuple | None:
    values = tuple(None if pd.isna(unit[f"cbc_{t}"]) else round(float(unit[f"cbc_{t}"]), 4) for t in CBC_TESTS)
    if any(v is not None for v in values):
        return ("values", values)
    sha = unit.get("cbc_sha256")
    return ("sha", sha) if isinstance(sha, str) else None


def find_shared(units: pd.DataFrame) -> tuple[list[dict], int]:
    """Reports shared by several units (one table row each), and the number of distinct reports."""
    by_key: dict[tuple, list[str]] = defaultdict(list)
    for unit, row in units.iterrows():
        key = _report_key(row)
        if key is not None:
            by_key[key].append(unit)
    shared = []
    for key, members in by_key.items():
        if len(members) < 2:
            continue
        classes = sorted({str(units.at[m, "class_name"]) for m in members})
        sample_ids = [s for m in members for s in units.at[m, "samples"]]
        hb = units.at[members[0], "cbc_HGB"]
        shared.append(
            {
                "report_id": "",
                "units": members,
                "unit_classes": [str(units.at[m, "class_name"]) for m in members],
                "classes": classes,
                "n_units": len(members),
                "n_samples": len(sample_ids),
                "sample_ids": sample_ids,
                "distinct_texts": len({units.at[m, "cbc_sha256"] for m in members}),
                "hgb": None if pd.isna(hb) else float(hb),
                "matched_by": key[0],
                "severity": "error" if len(classes) > 1 else "warning",
            }
        )
    shared.sort(key=lambda r: (r["severity"] != "error", -r["n_units"], r["units"][0]))
    for n, row in enumerate(shared, start=1):
        row["report_id"] = f"cbc_{n:04d}"
    return shared, len(by_key)


def _shared_issue(row: dict) -> Issue:
    listed = ", ".join(f"{u} ({c})" for u, c in zip(row["units"][:8], row["unit_classes"][:8], strict=True))
    listed += " ..." if row["n_units"] > 8 else ""
    found = f"one CBC report ({row['report_id']}) shared by {row['n_units']} images: {listed}"
    if row["severity"] == "error":
        return Issue(
            "cbc_shared_across_classes",
            "error",
            path=None,
            expected="each image's CBC report to belong to that image, and one class per report",
            found=found,
            fix=f"{_NOT_TRUTH}: do not use them as labels or to explain a label; keep these images in one split "
            "if reports are model input",
            sample_id=row["units"][0],
        )
    return Issue(
        "cbc_shared",
        "warning",
        path=None,
        expected="one CBC report per image",
        found=found,
        fix=f"{_NOT_TRUTH}: do not group or deduplicate by report; keep these images in one split if reports are model "
        "input",
        sample_id=row["units"][0],
    )


def find_implausible(units: pd.DataFrame) -> list[dict]:
    """Units whose report has impossible values or indices inconsistent with each other."""
    table = []
    for unit, row in units.iterrows():
        problems = row["cbc_problems"]
        codes = [str(c) for c in (problems if problems is not None and not _is_na(problems) else [])]
        codes = [c for c in codes if c.startswith("impossible:") or c.split(":")[0].endswith("_mismatch")]
        if not codes:
            continue
        tests = sorted(
            {c.split(":")[1] for c in codes if ":" in c} | {_MISMATCH_TEST[c] for c in codes if c in _MISMATCH_TEST}
        )
        table.append(
            {
                "unit": unit,
                "class_name": str(row["class_name"]),
                "codes": codes,
                "values": {t: None if pd.isna(row[f"cbc_{t}"]) else float(row[f"cbc_{t}"]) for t in tests},
                "severity": "warning" if any(c.startswith("impossible:") for c in codes) else "info",
                "path": None if pd.isna(row.get("cbc_path")) else str(row.get("cbc_path")),
            }
        )
    return table


_MISMATCH_TEST = {"hct_mismatch": "HCT", "mchc_mismatch": "MCHC", "mch_mismatch": "MCH"}


def _is_na(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _implausible_issue(row: dict) -> Issue:
    values = ", ".join(f"{t} {v}" for t, v in row["values"].items())
    return Issue(
        "cbc_implausible" if row["severity"] == "warning" else "cbc_inconsistent",
        row["severity"],
        path=row["path"],
        expected="plausible CBC values, consistent with each other",
        found=f"{', '.join(row['codes'])} ({values})",
        fix="exclude these values from CBC features (a lost decimal point or a column shift in the export)",
        sample_id=row["unit"],
    )


def check_hb(units: pd.DataFrame, bands: HbBands) -> tuple[list[dict], list[dict]]:
    """Units whose Hb band disagrees with the class folder, and the class x band counts."""
    disagreements, counts = [], defaultdict(int)
    for unit, row in units.iterrows():
        hb, role = row["cbc_HGB"], class_role(row["class_name"])
        low, high = PLAUSIBLE_BOUNDS["HGB"]
        if pd.isna(hb) or not low <= float(hb) <= high:
            continue
        band = bands.band(float(hb))
        counts[(str(row["class_name"]), band)] += 1
        if (role == "healthy" and band != "none") or (role == "anaemic" and band == "none"):
            disagreements.append(
                {
                    "unit": unit,
                    "class_name": str(row["class_name"]),
                    "hgb": float(hb),
                    "band": band,
                    "n_samples": len(row["samples"]),
                    "path": None if pd.isna(row.get("cbc_path")) else str(row.get("cbc_path")),
                }
            )
    by_class = [{"class_name": c, "band": b, "units": n} for (c, b), n in sorted(counts.items())]
    return disagreements, by_class


def _hb_issue(row: dict, bands: HbBands) -> Issue:
    if row["band"] == "none":
        expected = f"Hb < {bands.no_anaemia:.1f} g/dL for an anaemic label"
    else:
        expected = f"Hb >= {bands.no_anaemia:.1f} g/dL for a healthy label"
    return Issue(
        "hb_disagrees_with_label",
        "warning",
        path=row["path"],
        expected=f"{expected} ({bands.population}, {bands.source})",
        found=f"{row['class_name']} image with Hb {row['hgb']:.1f} g/dL, band '{row['band']}'",
        fix=f"check the label; {_NOT_TRUTH}, so do not relabel from Hb alone",
        sample_id=row["unit"],
    )


def audit_cbc(rows: pd.DataFrame, bands: HbBands) -> CBCFindings:
    """Every CBC check on the manifest rows (no report columns or no reports: empty findings)."""
    if "cbc_raw" not in rows.columns:
        return CBCFindings(0, 0, shared=[], implausible=[], hb_disagreements=[], hb_by_class=[], issues=[])
    units = report_units(rows)
    if units.empty:
        return CBCFindings(0, 0, shared=[], implausible=[], hb_disagreements=[], hb_by_class=[], issues=[])
    shared, distinct = find_shared(units)
    implausible = find_implausible(units)
    disagreements, by_class = check_hb(units, bands)
    issues = [_shared_issue(r) for r in shared] + [_implausible_issue(r) for r in implausible]
    issues += [_hb_issue(r, bands) for r in disagreements]
    return CBCFindings(
        len(units),
        distinct,
        shared=shared,
        implausible=implausible,
        hb_disagreements=disagreements,
        hb_by_class=by_class,
        issues=issues,
    )
