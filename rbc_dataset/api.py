"""The Python API: what the rbc-dataset commands do, as functions a notebook calls.

Each function takes its input first and everything else by keyword, returns a typed result (findings and the
manifest as pandas DataFrames, a build as a ``Build`` that knows its paths, splits and card), draws no progress
bar unless asked, and writes nothing unless it is given an output. Reports that a function needs on the way
(validate-masks reads back its own JSON) go to a temporary folder that is removed before it returns.

The commands (``rbc_dataset/commands.py``) call the same engines and add the terminal output and the reports'
default places. Finding codes are those of the JSON reports. Layout: docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

from rbc_dataset.errors import UsageError

FINDING_COLUMNS = ("severity", "code", "sample_id", "path", "expected", "found", "fix", "message")
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
LOAD_FORMATS = ("hdf5", "parquet", "streaming")


def findings_frame(findings) -> pd.DataFrame:
    """Findings (report dicts or ``Issue`` objects) as a DataFrame, errors first, then by code.

    Columns: ``severity``, ``code``, ``sample_id``, ``path``, ``expected``, ``found``, ``fix``, ``message``; the
    codes are those of the JSON reports.
    """
    rows = [f if isinstance(f, dict) else f.to_dict() for f in findings]
    frame = pd.DataFrame(rows, columns=list(FINDING_COLUMNS)) if rows else pd.DataFrame(columns=FINDING_COLUMNS)
    frame = frame.reindex(columns=list(FINDING_COLUMNS))
    rank = frame["severity"].map(SEVERITY_ORDER).fillna(len(SEVERITY_ORDER))
    return (
        frame.assign(_rank=rank)
        .sort_values(["_rank", "code"], kind="stable")
        .drop(columns="_rank")
        .reset_index(drop=True)
    )


@contextlib.contextmanager
def _output(given: str | Path | None, name: str) -> Iterator[Path]:
    """``given`` as a Path, or ``name`` inside a temporary folder that is removed afterwards."""
    if given is not None:
        yield Path(given)
        return
    with tempfile.TemporaryDirectory(prefix="rbc-dataset-") as tmp:
        yield Path(tmp) / name


def _config(config, options: dict, cls, *, what: str):
    """``config``, or ``cls(**options)``; both at once is ambiguous."""
    if config is not None and options:
        raise UsageError(f"{what}: pass either config= or the options {sorted(options)}, not both")
    return config if config is not None else cls(**options)


# --- synth --------------------------------------------------------------------------------------------------


def synthesize(out: str | Path, *, overwrite: bool = False, progress: bool = False, config=None, **options) -> Path:
    """Write a synthetic AneRBC (the exact release layout, plus full truth in ``synthetic_truth/``) into ``out``.

    Args:
        out: the new folder; the same options give byte-identical files.
        overwrite: replace an existing non-empty ``out``.
        progress: draw a progress bar.
        config: a ``SynthConfig``; or its fields as keyword options (``n_images=4``, ``seed=0``,
            ``shortcuts=("colour",)``, ``defect_rate=0.1``).

    Returns:
        ``out/AneRBC_dataset``, the dataset folder the other functions take.
    """
    from rbc_dataset.synth.config import SynthConfig
    from rbc_dataset.synth.generate import synthesize as run_synth

    config = _config(config, options, SynthConfig, what="synthesize")
    summary = run_synth(config, Path(out), overwrite=overwrite, show_progress=progress)
    return Path(summary.out) / "AneRBC_dataset"


def calibrate(
    real_dir: str | Path,
    *,
    out: str | Path | None = None,
    overwrite: bool = False,
    max_images: int = 20,
    config=None,
    progress: bool = False,
):
    """A ``SynthConfig`` whose ``lab`` section draws smears that look like the real images under ``real_dir``.

    Args:
        real_dir: a folder of a lab's real smear images (AneRBC masks beside them are used when present).
        out: write the config there as YAML for ``rbc-dataset synth --config`` (nothing written without it).
        overwrite: replace an existing ``out`` (refused otherwise, before anything is measured).
        max_images: measure at most this many images.
        config: the other settings to keep (a ``SynthConfig``); defaults otherwise.
        progress: draw a progress bar.
    """
    from rbc_dataset.synth.calibrate import calibrate as run_calibrate
    from rbc_dataset.synth.calibrate import write_synth_config

    if out is not None and Path(out).exists() and not overwrite:
        raise UsageError(f"{out} exists; pass --overwrite to replace it or choose another --out")
    calibrated = run_calibrate(Path(real_dir), max_images=max_images, base=config, show_progress=progress)
    if out is not None:
        write_synth_config(calibrated, Path(out), source=Path(real_dir))
    return calibrated


# --- ingest -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Manifest:
    """One row per sample of a dataset folder (columns: README "The manifest") and what ingest found."""

    rows: pd.DataFrame
    findings: pd.DataFrame
    layout: str
    counts: dict  # source -> class -> samples
    release: dict | None  # the input against the published AneRBC release
    path: Path | None  # the manifest file, when an output was given


def ingest(
    root: str | Path,
    *,
    out: str | Path | None = None,
    layout: str = "auto",
    metadata: str | Path | None = None,
    class_map: str | Path | None = None,
    tile_order: str | None = None,
    allow_outside_root: bool = False,
    workers: int = 0,
    progress: bool = False,
) -> Manifest:
    """Index every sample under ``root``; write the Parquet manifest to ``out`` only when it is given.

    Layouts, class maps and the metadata CSV are as for ``rbc-dataset ingest`` (docs/CLI.md).
    """
    from rbc_dataset.ingestion.run import ingest as run_ingest
    from rbc_dataset.manifest import read_manifest

    with _output(out, "manifest.parquet") as target:
        result = run_ingest(
            Path(root),
            out=target,
            layout=layout,
            metadata=metadata,
            tile_order=tile_order,
            workers=workers,
            show_progress=progress,
            class_map=class_map,
            allow_outside_root=allow_outside_root,
        )
        rows = read_manifest(target)
    return Manifest(
        rows=rows,
        findings=findings_frame(result.issues),
        layout=result.layout,
        counts=result.counts,
        release=result.release,
        path=None if out is None else Path(out),
    )


# --- validate-masks -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Validation:
    """What validate-masks found: every finding, per-sample statistics, and the report as a dict."""

    findings: pd.DataFrame
    samples: pd.DataFrame  # one row per pair: sample_id, mask statistics
    report: dict = field(repr=False)  # the JSON report's document
    report_path: Path | None  # validate-masks.json (Markdown and HTML beside it), when a report was asked for
    fix_dir: Path | None  # the canonical masks, when fix_out was given
    n_fixed: int

    @property
    def counts(self) -> dict[str, int]:
        """Severity -> findings."""
        return dict(self.report["counts"])

    @property
    def ok(self) -> bool:
        """No error finding."""
        return self.counts.get("error", 0) == 0

    def worst(self, n: int = 10) -> pd.DataFrame:
        """The first ``n`` findings, errors first."""
        return self.findings.head(n)


def validate_masks(
    source: str | Path,
    *,
    report: str | Path | None = None,
    fix_out: str | Path | None = None,
    remove_specks_px: int | None = None,
    fill_holes_px: int | None = None,
    overwrite: bool = False,
    progress: bool = False,
    config=None,
    **options,
) -> Validation:
    """Check every image/mask pair of a dataset folder or manifest.

    Args:
        source: dataset folder (ingested on the fly) or a manifest from ``ingest(out=...)``.
        report: write ``validate-masks.json`` (and .md, .html beside it) here; nothing is written without it.
        fix_out: write canonical masks into this new folder (the originals are never touched).
        remove_specks_px, fill_holes_px: with ``fix_out``, the clean-up of the canonical masks.
        overwrite: replace an existing ``fix_out``.
        progress: draw a progress bar.
        config: a ``ValidateConfig``; or its fields as keyword options (``workers=2``).
    """
    from rbc_dataset.validate.config import ValidateConfig
    from rbc_dataset.validate.run import validate_masks as run_validate

    config = _config(config, options, ValidateConfig, what="validate_masks")
    with _output(report, "validate-masks.json") as target:
        result = run_validate(
            Path(source),
            report=target,
            fix_out=fix_out,
            remove_specks_px=remove_specks_px,
            fill_holes_px=fill_holes_px,
            config=config,
            overwrite=overwrite,
            show_progress=progress,
        )
        document = json.loads(target.read_text(encoding="utf-8"))
    return Validation(
        findings=findings_frame(document["findings"]),
        samples=pd.DataFrame(document["samples"]),
        report=document,
        report_path=None if report is None else Path(report),
        fix_dir=result.fix_dir,
        n_fixed=result.n_fixed,
    )


# --- audit --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Audit:
    """What the audit found: every finding and its headline numbers (duplicates, probes, CBC, splits)."""

    findings: pd.DataFrame
    summary: dict
    report: dict = field(repr=False)  # audit.json's document
    out_dir: Path | None  # audit.json, .md and .html, when an output was given


def audit(
    source: str | Path,
    *,
    out_dir: str | Path | None = None,
    splits: str | Path | None = None,
    progress: bool = False,
    config=None,
    **options,
) -> Audit:
    """Audit a dataset for duplicates, shortcuts, CBC report problems and split leakage.

    Args:
        source: dataset folder or manifest.
        out_dir: write audit.json, audit.md and audit.html here; nothing is written without it.
        splits: a ``sample_id,split`` CSV or Parquet to check for leakage.
        progress: draw progress bars.
        config: an ``AuditConfig``; or its fields as keyword options (``workers=2``, ``seed=0``).
    """
    from rbc_dataset.auditing.config import AuditConfig
    from rbc_dataset.auditing.run import audit as run_audit

    config = _config(config, options, AuditConfig, what="audit")
    with _output(out_dir, "audit") as folder:
        result = run_audit(Path(source), out_dir=folder, splits=splits, config=config, show_progress=progress)
        document = json.loads(result.report_path.read_text(encoding="utf-8"))
    return Audit(
        findings=findings_frame(result.issues),
        summary=result.summary,
        report=document,
        out_dir=None if out_dir is None else Path(out_dir),
    )


# --- build, verify, load ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    """What verify checked (one row per shard file) and found."""

    path: Path
    checked: pd.DataFrame
    findings: pd.DataFrame

    @property
    def ok(self) -> bool:
        return not (self.findings["severity"] == "error").any()


@dataclass(frozen=True)
class Build:
    """A folder written by ``rbc-dataset build``: its card, splits and manifest, read when first asked for."""

    path: Path

    @classmethod
    def open(cls, path: str | Path) -> Build:
        """An existing build; its ``dataset.json`` is read and checked now (a DataError names what is wrong)."""
        opened = cls(Path(path))
        _ = opened.card
        return opened

    @cached_property
    def card(self):
        """The typed ``dataset.json`` (``rbc_dataset.dataset_card.DatasetCard``)."""
        from rbc_dataset.dataset_card import read_card

        return read_card(self.path)

    @property
    def configs(self) -> tuple[str, ...]:
        """The dataset configs built (``full``, ``tiles``, ``model``)."""
        return tuple(self.card.configs)

    @property
    def counts(self) -> pd.DataFrame:
        """Samples per config, split and class, as the card records them."""
        rows = [
            {"config": name, "split": split, "class_name": cls, "samples": n}
            for name, entry in self.card.configs.items()
            for split, counts in entry.splits.items()
            for cls, n in counts.classes.items()
        ]
        return pd.DataFrame(rows, columns=["config", "split", "class_name", "samples"])

    @cached_property
    def splits(self) -> pd.DataFrame:
        """One row per parent image: ``parent_id``, ``group_id``, ``class_name``, ``stratum``, ``split``, ``fold``."""
        return pd.read_csv(self.path / "splits" / "splits.csv", dtype={"parent_id": str, "group_id": str})

    @cached_property
    def manifest(self) -> pd.DataFrame:
        """The build's manifest, as published: paths relative to the source root, which it names by folder name."""
        return pd.read_parquet(self.path / "manifest.parquet")

    def load(self, *, config: str = "model", split: str = "train", format: str = "hdf5", **kwargs):
        """``rbc_dataset.load`` of this build."""
        return load(self.path, config=config, split=split, format=format, **kwargs)

    def verify(self, *, deep: bool = True, workers: int = 0, progress: bool = False) -> Verification:
        """``rbc_dataset.verify`` of this build."""
        return verify(self.path, deep=deep, workers=workers, progress=progress)


def build(
    source: str | Path,
    *,
    out: str | Path,
    splits: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = False,
    config=None,
    **options,
) -> Build:
    """Build the versioned dataset folder ``out`` (docs/SHARDS.md) from a dataset folder or manifest.

    Args:
        source: dataset folder or manifest.
        out: the new folder (a build is its own output, so it is required).
        splits: fixed splits from a ``sample_id,split`` CSV/Parquet instead of making them.
        overwrite: replace an existing ``out`` (only once the build completes).
        progress: draw progress bars.
        config: a ``BuildConfig``; or its fields as keyword options (``configs=("model",)``, ``folds=5``).
    """
    from rbc_dataset.shards.config import BuildConfig
    from rbc_dataset.shards.run import build as run_build

    config = _config(config, options, BuildConfig, what="build")
    result = run_build(
        Path(source), out=Path(out), config=config, splits=splits, overwrite=overwrite, show_progress=progress
    )
    return Build(result.out)


def verify(
    folder: str | Path, *, deep: bool = True, report: str | Path | None = None, workers: int = 0, progress: bool = False
) -> Verification:
    """Check a build against its card: checksums, shard contents, splits without shared parents.

    ``report`` writes the JSON report there; nothing is written without it.
    """
    from rbc_dataset.shards.verify import verify as run_verify
    from rbc_dataset.shards.verify import write_verify_report

    result = run_verify(Path(folder), deep=deep, workers=workers, show_progress=progress)
    if report is not None:
        write_verify_report(result, Path(report))
    return Verification(
        path=result.folder, checked=pd.DataFrame(result.checked), findings=findings_frame(result.issues)
    )


def load(
    folder: str | Path,
    *,
    config: str = "model",
    split: str = "train",
    format: str = "hdf5",
    with_mask: bool | None = None,
    transform=None,
):
    """A PyTorch dataset of one config and split of a build (needs the ``torch`` extra).

    ``format``: ``"hdf5"`` (``HDF5RBCDataset``, fastest random access), ``"parquet"`` (``HFRBCDataset`` through
    ``datasets.load_dataset``) or ``"streaming"`` (``StreamingRBCDataset``, an IterableDataset). Each item is the
    same dict: ``image``, ``mask``, ``label``, ``severity``, ``fold``, ``sample_id``, ``parent_id``.
    """
    from rbc_dataset import loaders

    if format not in LOAD_FORMATS:
        raise UsageError(f"format {format!r} is not one of {', '.join(LOAD_FORMATS)}")
    options = {"config": config, "split": split, "with_mask": with_mask, "transform": transform}
    if format == "hdf5":
        return loaders.HDF5RBCDataset.from_build(folder, **options)
    if format == "parquet":
        return loaders.HFRBCDataset(folder, **options)
    return loaders.StreamingRBCDataset(folder, **options)
