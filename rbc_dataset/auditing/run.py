"""``rbc-dataset audit``: dataset-level problems that make benchmarks lie, each quantified.

One streaming pass computes per-sample features; the checks then work on small tables: duplicates
(``duplicates``), shortcut probes (``probes``), CBC reports (``cbc``) and, with splits, leakage (``splits``).
Inputs are only read; ``audit.json`` and ``audit.md`` are written atomically into an output folder that
must lie outside the data.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from rbc_dataset import __version__
from rbc_dataset.auditing.cbc import CBCFindings, audit_cbc
from rbc_dataset.auditing.config import AuditConfig, AuditResult
from rbc_dataset.auditing.duplicates import DuplicateFindings, find_duplicates
from rbc_dataset.auditing.features import (
    ACQUISITION_FEATURES,
    CANONICAL_FEATURES,
    MASK_FEATURES,
    compute_features,
)
from rbc_dataset.auditing.probes import ProbeResult, describe_top, run_probe
from rbc_dataset.auditing.report import build_report, write_outputs
from rbc_dataset.auditing.splits import SplitFindings, check_splits, manifest_splits, read_splits
from rbc_dataset.errors import DataError
from rbc_dataset.fileio import check_output_outside
from rbc_dataset.issues import Issue, count_by_severity
from rbc_dataset.manifest import parent_keys
from rbc_dataset.sources import load_source

REPORT_SCHEMA_VERSION = 1
_PROBES = {
    # name: (features, finding code, what must not be there, fix)
    "mask_encodes_label": (
        MASK_FEATURES,
        "raw mask intensities that do not depend on the class",
        "use canonical 0/1 masks (rbc-dataset validate-masks --fix); never give raw masks to a model",
    ),
    "canonical_mask_shortcut": (
        CANONICAL_FEATURES,
        "canonical masks whose cell edges sit where the image's do in every class",
        "the canonical masks still carry the class in where they draw the cells' edges: re-run validate-masks "
        "--fix with this version (each mask cut halfway between its own levels) and, if the finding stays, check "
        "how the masks were drawn in each class; until then compare models with and without the mask input",
    ),
    "acquisition_shortcut": (
        ACQUISITION_FEATURES,
        "background colour and illumination that do not depend on the class",
        "normalise colour/white balance (e.g. divide by the background colour) and report results on a test set "
        "balanced for acquisition; check that a model does not learn the microscope",
    ),
}


def _class_names(rows: pd.DataFrame) -> dict[int, str]:
    labelled = rows.dropna(subset=["label"])
    return {int(k): str(v.mode().iloc[0]) for k, v in labelled.groupby("label")["class_name"]}


def _probe_issue(result: ProbeResult, expected: str, fix: str) -> Issue | None:
    if result.status == "not_enough_samples":
        return Issue(
            "probe_not_enough_samples",
            "info",
            path=None,
            expected=f"enough samples for the {result.name} probe",
            found=result.reason,
            fix="audit a larger part of the dataset to run this check",
        )
    if result.status == "ok":
        return None
    # A high AUC whose interval reaches chance is only a warning: on a few images it can be luck.
    chance = "; the interval includes chance (0.5): audit more images to confirm" if result.ci_low <= 0.5 else ""
    found = (
        f"a cross-validated probe separates the classes: AUC {result.auc:.2f} (95 % CI {result.ci_low:.2f}-"
        f"{result.ci_high:.2f}, n={result.n}, {result.n_groups} groups, {result.folds} folds{chance}); "
        f"{describe_top(result)}"
    )
    return Issue(result.name, result.status, path=None, expected=expected, found=found, fix=fix)


def _features_issue(frame: pd.DataFrame) -> Issue | None:
    failed = frame[frame["error"].notna()]
    if failed.empty:
        return None
    listed = "; ".join(f"{s} ({e})" for s, e in zip(failed["sample_id"][:5], failed["error"][:5], strict=True))
    return Issue(
        "features_unavailable",
        "warning",
        path=None,
        expected="a readable image and mask for every sample",
        found=f"{len(failed)} samples without a readable image or mask (NaN features, left out of the probes that need "
        f"them): {listed}"
        f"{' ...' if len(failed) > 5 else ''}",
        fix="run rbc-dataset validate for the details; the other checks ran without these samples",
    )


def _collect_issues(frame, duplicates, *, probes, cbc, split_findings) -> list[Issue]:
    issues = [i for i in [_features_issue(frame)] if i is not None] + duplicates.issues
    for name, result in probes.items():
        issue = _probe_issue(result, _PROBES[name][1], _PROBES[name][2])
        issues += [issue] if issue is not None else []
    return issues + cbc.issues + (split_findings.issues if split_findings else [])


def _summary(loaded, rows, *, frame, duplicates, probes, cbc, splits, issues, seconds) -> dict:
    clusters = duplicates.clusters
    return {
        "n_samples": len(rows),
        # Folder sources are ingested on the fly; what the ingest found is `rbc-dataset ingest`'s report, counted here.
        "ingest_issues": count_by_severity(list(loaded.ingest_issues)),
        "n_parents": len(set(parent_keys(rows))),
        "classes": {str(k): int(v) for k, v in rows["class_name"].value_counts().sort_index().items()},
        "issues": count_by_severity(issues),
        "features_unavailable": int(frame["error"].notna().sum()),
        "duplicates": {
            "clusters": len(clusters),
            "across_classes": sum(c["severity"] == "error" for c in clusters),
            "across_groups": sum(c["severity"] == "warning" for c in clusters),
            "exact_pairs": duplicates.n_exact_pairs,
            "near_pairs": duplicates.n_near_pairs,
        },
        **{name: _probe_summary(result) for name, result in probes.items()},
        "cbc": _cbc_summary(cbc),
        "splits": None if splits is None else _splits_summary(splits),
        "seconds": seconds,
    }


def _probe_summary(result: ProbeResult) -> dict:
    return {k: getattr(result, k) for k in ("status", "auc", "ci_low", "ci_high", "n", "n_groups", "folds")}


def _cbc_summary(cbc: CBCFindings) -> dict:
    return {
        "report_units": cbc.units,
        "distinct_reports": cbc.distinct_reports,
        "shared_reports": len(cbc.shared),
        "shared_across_classes": sum(r["severity"] == "error" for r in cbc.shared),
        "units_in_shared_reports": sum(r["n_units"] for r in cbc.shared),
        "implausible": len(cbc.implausible),
        "hb_disagreements": len(cbc.hb_disagreements),
    }


def _splits_summary(splits: SplitFindings) -> dict:
    kinds = ("parent", "group", "duplicate", "cbc")
    return {
        "source": splits.source,
        "leaks": {kind: sum(leak["kind"] == kind for leak in splits.leaks) for kind in kinds},
        "unknown_ids": len(splits.unknown_ids),
        "missing_ids": len(splits.missing_ids),
        "conflicts": len(splits.conflicts),
    }


def _run_probes(rows: pd.DataFrame, frame: pd.DataFrame, config: AuditConfig) -> dict[str, ProbeResult]:
    labels = rows["label"].astype("Float64").astype(float)
    groups = rows["group_id"].where(rows["group_id"].notna(), pd.Series(parent_keys(rows), index=rows.index))
    thresholds = (config.probe_auc_warning, config.probe_auc_error)
    class_names = _class_names(rows)
    return {
        name: run_probe(
            name,
            frame,
            features=list(features),
            labels=labels,
            groups=groups,
            class_names=class_names,
            thresholds=thresholds,
            seed=config.seed,
        )
        for name, (features, _, _) in _PROBES.items()
    }


def _load(source: Path, out_dir: Path, config: AuditConfig, show_progress: bool):
    if source.is_dir():  # refuse before the (possibly long) ingest
        check_output_outside(out_dir, [source])
    loaded = load_source(source, workers=config.workers, show_progress=show_progress)
    check_output_outside(out_dir, list(loaded.roots))
    if loaded.rows.empty:
        raise DataError(source, "at least one sample", "an empty manifest", "re-run rbc-dataset ingest")
    return loaded


@dataclass(frozen=True)
class AuditEvidence:
    """Per-sample features and the split-independent findings computed from them."""

    rows: pd.DataFrame
    frame: pd.DataFrame  # per-sample features
    duplicates: DuplicateFindings
    probes: dict[str, ProbeResult]
    cbc: CBCFindings
    feature_seconds: float


def gather_evidence(rows: pd.DataFrame, config: AuditConfig, *, show_progress: bool) -> AuditEvidence:
    """The one streaming feature pass and the checks that do not depend on splits."""
    rows = rows.reset_index(drop=True)
    feature_start = time.perf_counter()
    frame, coefficients = compute_features(rows, config.workers, show_progress=show_progress)
    feature_seconds = time.perf_counter() - feature_start
    duplicates = find_duplicates(rows, coefficients, radius=config.hamming_radius)
    probes = _run_probes(rows, frame, config)
    cbc = audit_cbc(rows, config.hb_bands)
    return AuditEvidence(rows, frame, duplicates=duplicates, probes=probes, cbc=cbc, feature_seconds=feature_seconds)


def write_audit(
    evidence: AuditEvidence,
    loaded,
    *,
    out_dir: Path,
    config: AuditConfig,
    split_table: pd.DataFrame | None,
    splits_source: str | None,
    start: float,
) -> AuditResult:
    """Check the splits (when given) against the evidence and write ``audit.json`` and ``audit.md``."""
    rows, duplicates, cbc = evidence.rows, evidence.duplicates, evidence.cbc
    split_findings = None
    if split_table is not None:
        split_findings = check_splits(
            rows, split_table, source=str(splits_source), duplicates=duplicates.clusters, shared_cbc=cbc.shared
        )
    issues = _collect_issues(evidence.frame, duplicates, probes=evidence.probes, cbc=cbc, split_findings=split_findings)
    seconds = {"features": round(evidence.feature_seconds, 2), "total": round(time.perf_counter() - start, 2)}
    summary = _summary(
        loaded,
        rows,
        frame=evidence.frame,
        duplicates=duplicates,
        probes=evidence.probes,
        cbc=cbc,
        splits=split_findings,
        issues=issues,
        seconds=seconds,
    )
    meta = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "tool": f"rbc-dataset {__version__}",
        "source": str(loaded.source),
        "source_kind": loaded.kind,
        "splits": splits_source,
        "config": asdict(config),
    }
    report = build_report(
        meta,
        summary,
        issues=issues,
        rows=rows,
        frame=evidence.frame,
        duplicates=duplicates,
        probes=evidence.probes,
        cbc=cbc,
        splits=split_findings,
        hb_bands=config.hb_bands,
    )
    report_path, markdown_path = write_outputs(report, out_dir)
    return AuditResult(report_path, markdown_path, issues, summary)


def audit(
    source: Path,
    *,
    out_dir: Path,
    splits: Path | None = None,
    config: AuditConfig = AuditConfig(),  # noqa: B008 (frozen, so one shared default is safe)
    show_progress: bool = True,
) -> AuditResult:
    """Audit a dataset for duplicates, shortcuts, CBC report problems and split leakage.

    Args:
        source: dataset folder (ingested on the fly) or manifest written by ``rbc-dataset ingest``.
        out_dir: folder that receives ``audit.json`` and ``audit.md``; must lie outside the data.
        splits: CSV or Parquet with columns ``sample_id`` and ``split``; without it the manifest's split column
            (pre-split releases) is checked when it has values.
        config: thresholds, Hb band table, workers and seed.
        show_progress: draw progress bars.

    Raises:
        UsageError: ``out_dir`` lies inside the input.
        DataError: the source or the splits file cannot be used.
    """
    start = time.perf_counter()
    source, out_dir = Path(source), Path(out_dir)
    split_table = read_splits(splits) if splits is not None else None  # a bad file fails before the long pass
    loaded = _load(source, out_dir, config, show_progress)
    evidence = gather_evidence(loaded.rows, config, show_progress=show_progress)
    splits_source = None if splits is None else str(splits)
    if split_table is None:  # no file: a pre-split release's own split column, when it has one
        split_table = manifest_splits(evidence.rows)
        splits_source = None if split_table is None else "manifest split column"
    return write_audit(
        evidence,
        loaded,
        out_dir=out_dir,
        config=config,
        split_table=split_table,
        splits_source=splits_source,
        start=start,
    )
