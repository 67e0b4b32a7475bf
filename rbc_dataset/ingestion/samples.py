"""Group recognised AneRBC files into samples: one image with its masks, reports and synthetic truth."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from rbc_dataset.ingestion.anerbc import FileEntry, ScanResult
from rbc_dataset.issues import Issue
from rbc_dataset.layout import CLASS_LABEL, IMAGE_ROLES, KIND_FOLDERS, REPORT_ROLES, sample_id

TRUTH_ROLES = ("instances", "cells", "meta")


@dataclass
class Sample:
    """One row of the manifest before its files are inspected."""

    sample_id: str
    source: str  # "AneRBC-I", "AneRBC-II" or "folder"
    cls: str
    label: int | None  # 0 healthy, 1 anaemic, None unlabelled (never a number made up from a name)
    parent_id: str
    group_id: str
    number: int | None = None
    tile: int | None = None
    split: str | None = None
    files: dict[str, Path] = field(default_factory=dict)  # role -> absolute path


def _index(entries: list[FileEntry], issues: list[Issue]):
    """Files by sample key and report key; a second file for the same key and role is an error."""
    samples: dict[tuple, dict[str, FileEntry]] = defaultdict(dict)
    reports: dict[tuple, dict[str, FileEntry]] = defaultdict(dict)
    for entry in entries:
        if entry.role in REPORT_ROLES:
            table, key = reports, (entry.kind, entry.cls, entry.number)
            # AneRBC-II reports belong to every tile of a parent: the issue names no single sample.
            sid = sample_id(entry.kind, entry.cls, number=entry.number) if entry.kind == "I" else None
        else:
            table, key = samples, (entry.kind, entry.cls, entry.number, entry.tile)
            sid = sample_id(entry.kind, entry.cls, number=entry.number, tile=entry.tile)
        kept = table[key].get(entry.role)
        if kept is not None:
            issues.append(
                Issue(
                    "duplicate_file",
                    "error",
                    path=entry.rel,
                    expected=f"one {entry.role} file per sample",
                    found=f"a second one besides {kept.rel}",
                    fix="remove one copy (validate and build stop on this; --allow-invalid leaves the sample out)",
                    sample_id=sid,
                )
            )
            continue
        table[key][entry.role] = entry
    return samples, reports


def _split_of(files: list[FileEntry], issues: list[Issue]) -> str | None:
    splits = sorted({f.split for f in files if f.split})
    if len(splits) > 1:
        issues.append(
            Issue(
                "split_conflict",
                "error",
                path=files[0].rel,
                expected="all files of a sample in one split folder",
                found=f"splits {', '.join(splits)}",
                fix="keep each sample in one of train/val/test",
            )
        )
    return splits[0] if splits else None


def _report_files(kind: str, cls: str, number: int, reports: dict) -> dict[str, FileEntry]:
    """Reports of a sample; AneRBC-II reports are per parent and fall back to AneRBC-I's verbatim originals."""
    own = dict(reports.get((kind, cls, number), {}))
    if kind == "II":
        for role, entry in reports.get(("I", cls, number), {}).items():
            own.setdefault(role, entry)
    return own


def group_anerbc(scan: ScanResult) -> list[Sample]:
    """Samples of an AneRBC layout, adding missing-partner and orphan-report issues to ``scan.issues``."""
    samples_by_key, reports = _index(scan.entries, scan.issues)
    used_reports: set[tuple] = set()
    samples = []
    for key in sorted(samples_by_key, key=lambda k: (k[0], k[1], k[2], k[3] or 0)):
        files = samples_by_key[key]
        if not any(role in files for role in IMAGE_ROLES):
            continue  # truth files alone do not make a sample
        kind, cls, number, tile = key
        sid = sample_id(kind, cls, number=number, tile=tile)
        parent = sample_id("I", cls, number=number)
        report_files = _report_files(kind, cls, number, reports)
        used_reports.update((e.kind, e.cls, e.number) for e in report_files.values())
        paths = {role: e.path for role, e in {**files, **report_files}.items()}
        split = _split_of(list(files.values()), scan.issues)
        samples.append(
            Sample(
                sid,
                KIND_FOLDERS[kind],
                cls=cls,
                label=CLASS_LABEL[cls],
                parent_id=parent,
                group_id=parent,
                number=number,
                tile=tile,
                split=split,
                files=paths,
            )
        )
    for key in sorted(set(reports) - used_reports):
        for entry in reports[key].values():
            scan.issues.append(
                Issue(
                    "orphan_report",
                    "warning",
                    path=entry.rel,
                    expected="a report with a matching image",
                    found="no image of that number and class",
                    fix="add the image or remove the report",
                )
            )
    scan.issues.extend(missing_partner_issues(samples))
    return samples


def missing_partner_issues(samples: list[Sample]) -> list[Issue]:
    """A role that some samples of a source have and others lack is a missing partner; absent roles are noted once."""
    issues = []
    for source in sorted({s.source for s in samples}):
        group = [s for s in samples if s.source == source]
        roles = IMAGE_ROLES if source == "folder" else IMAGE_ROLES + REPORT_ROLES  # own data has no lab reports
        for role in roles:
            have = [s for s in group if role in s.files]
            if not have:
                issues.append(
                    Issue(
                        "role_absent",
                        "info",
                        path=None,
                        expected=f"{role} files for {source}",
                        found="none in this dataset",
                        fix="nothing to do if the release has none",
                    )
                )
                continue
            for s in group:
                if role not in s.files:
                    issues.append(_missing(s, role))
    return issues


def _missing(sample: Sample, role: str) -> Issue:
    other = next((p for r, p in sample.files.items() if r in IMAGE_ROLES), None)
    fix = "add the file, or exclude the sample" if role != "image" else "add the image or remove the orphan files"
    where = str(other) if other else None
    return Issue(
        f"missing_{role}",
        "warning",
        path=where,
        expected=f"the {role} file of {sample.sample_id}",
        found="none",
        fix=fix,
        sample_id=sample.sample_id,
    )
