"""``rbc-dataset build ROOT|MANIFEST --out DIR``: validated, leak-free, verifiable HDF5 and Hugging Face shards.

Stages (all inside one temporary folder that replaces DIR only at the very end, so an interrupted build
leaves the previous complete build or nothing): manifest -> validate-masks with canonical masks ->
audit evidence -> split groups and splits -> shards (one pass over the parents, in parallel) -> cards.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from rbc_dataset.auditing.config import AuditConfig
from rbc_dataset.auditing.run import gather_evidence, write_audit
from rbc_dataset.auditing.splits import read_splits
from rbc_dataset.errors import DataError
from rbc_dataset.faults import disk_full_error
from rbc_dataset.fileio import atomic_directory, atomic_write_bytes, check_output_outside, write_json
from rbc_dataset.manifest import read_manifest, report_path_for
from rbc_dataset.parallel import worker_count
from rbc_dataset.shards.card import dataset_card, write_cards
from rbc_dataset.shards.config import BuildConfig
from rbc_dataset.shards.one_pass import ShardSet
from rbc_dataset.shards.plan import Inputs, attach_masks, class_names, parent_tasks
from rbc_dataset.shards.publish import PathNames, check_published, path_names, publish_file, publish_folder
from rbc_dataset.shards.splits import (
    check_feasible,
    import_plan,
    join_groups,
    make_plan,
    parent_units,
    render_split_report,
)
from rbc_dataset.shards.splits import split_report as make_split_report
from rbc_dataset.shards.tiling import TileGrid, compare_release_tiles
from rbc_dataset.sources import LoadedSource
from rbc_dataset.validate.config import ValidateConfig
from rbc_dataset.validate.run import validate_masks


@dataclass(frozen=True)
class BuildResult:
    """What a build wrote."""

    out: Path
    configs: tuple[str, ...]
    counts: dict  # config -> split -> samples
    validation_errors: int
    excluded: int  # samples left out (no canonical mask)
    seconds: dict  # stage -> seconds


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, data, sort_keys=True, default=str)


def _manifest(source: Path, folder: Path, workers: int, show_progress: bool) -> Path:
    """A working copy of the source manifest in ``folder`` (a folder source is ingested into it)."""
    target = folder / "manifest.parquet"
    if source.is_dir():
        from rbc_dataset.ingestion import ingest

        ingest(source, out=target, workers=workers, show_progress=show_progress)
    else:
        read_manifest(source)  # refuse anything that is not a manifest before copying it
        shutil.copyfile(source, target)
        if report_path_for(source).is_file():
            shutil.copyfile(report_path_for(source), report_path_for(target))
    return target


def _published_manifest(working: Path, tmp: Path, names: PathNames) -> Path:
    """The build's ``manifest.parquet`` (and report): the working copy with paths relative to the source root."""
    target = tmp / "manifest.parquet"
    for source, copy in ((working, target), (report_path_for(working), report_path_for(target))):
        if source.is_file():
            shutil.copyfile(source, copy)
            publish_file(copy, names)
    return target


def _validate(manifest: Path, tmp: Path, *, work: Path, config: BuildConfig, out: Path, show_progress: bool):
    result = validate_masks(
        manifest,
        report=tmp / "reports" / "validate-masks.json",
        fix_out=work / "canonical",
        config=ValidateConfig(workers=config.workers),
        show_progress=show_progress,
    )
    errors = result.counts.get("error", 0)
    if errors and not config.allow_invalid:
        kept = out.parent / f"{out.name}.validation"
        shutil.rmtree(kept, ignore_errors=True)
        try:
            shutil.copytree(tmp / "reports", kept)
        except BaseException:  # a full disk: no half copy of the reports
            shutil.rmtree(kept, ignore_errors=True)
            raise
        codes = ", ".join(f"{code} ({e['count']})" for code, e in result.by_code.items() if e["severity"] == "error")
        raise DataError(
            manifest,
            "image/mask pairs without validation errors",
            f"{errors} errors: {codes}; the report is in {kept}",
            "fix the data (the report names every file), or pass --allow-invalid to build without the failing "
            "samples (the errors are recorded in the dataset card)",
        )
    return result


def _canonical_masks(work: Path) -> tuple[dict[str, str], dict[str, str]]:
    folder = work / "canonical"
    written = pd.read_csv(folder / "provenance.csv") if (folder / "provenance.csv").stat().st_size else None
    skipped = pd.read_csv(folder / "skipped.csv")
    canonical = (
        {}
        if written is None
        else {s: str(folder / p) for s, p in zip(written["sample_id"], written["canonical_mask"], strict=True)}
    )
    return canonical, dict(zip(skipped["sample_id"], skipped["reason"], strict=True))


def _grid(config: BuildConfig, rows: pd.DataFrame) -> TileGrid:
    order = config.tile_order
    if order == "auto":
        detected = rows.loc[rows["tile_index"].notna(), "tile_order"].dropna()
        order = str(detected.mode().iloc[0]) if not detected.empty else "row-major"
    return TileGrid(config.tile_cols, config.tile_rows, width=config.tile_width, height=config.tile_height, order=order)


def _plan(inputs: Inputs, rows, *, evidence, cbc_shared, config: BuildConfig, split_table, splits_source):
    units = parent_units(inputs.rows, config.stratify_severity)
    duplicates = evidence.duplicates.clusters if evidence is not None else []
    units = units.assign(group_id=join_groups(units, rows, duplicates=duplicates, shared_cbc=cbc_shared))
    if split_table is not None:
        return import_plan(
            units, inputs.rows, table=split_table, source=splits_source, folds=config.folds, seed=config.seed
        )
    return make_plan(units, config.split_ratios, seed=config.seed, folds=config.folds)


def _write_splits(tmp: Path, plan, report: dict) -> None:
    folder = tmp / "splits"
    folder.mkdir(parents=True, exist_ok=True)
    columns = ["parent_id", "group_id", "class_name", "stratum", "split", "fold"]
    plan.units[columns].to_csv(folder / "splits.csv", index=False)
    _write_json(folder / "split_report.json", report)
    (folder / "split_report.md").write_text(render_split_report(report))


def _check_leaks(audit_result, out: Path) -> None:
    leaks = [i for i in audit_result.issues if i.code.startswith("split_leak") and i.severity == "error"]
    if leaks:  # the splitter keeps groups whole; a leak here is a bug, never a dataset to publish
        raise DataError(
            out / "splits" / "splits.csv",
            "no parent, group or duplicate in two splits",
            f"{len(leaks)} leaks, e.g. {leaks[0].found}",
            "report this as a bug of rbc-dataset build",
        )


def _tile_check(rows: pd.DataFrame, grid: TileGrid, *, configs, config: BuildConfig, show_progress: bool):
    has_both = rows["tile_index"].notna().any() and rows["tile_index"].isna().any()
    if "tiles" not in configs or not has_both:
        return None
    comparison = compare_release_tiles(
        rows, grid_order_default=grid.order, workers=config.workers, show_progress=show_progress
    )
    if comparison.mismatched and not config.allow_invalid:
        first = comparison.issues[0]
        raise DataError(
            first.path,
            first.expected,
            f"{comparison.mismatched} of {comparison.compared} release tiles differ from the cut parents; "
            f"{first.found}",
            f"{first.fix}; or pass --allow-invalid (the mismatch is recorded in the card)",
        )
    return comparison


def build(
    source: Path,
    *,
    out: Path,
    config: BuildConfig = BuildConfig(),  # noqa: B008 (frozen)
    splits: Path | None = None,
    overwrite: bool = False,
    show_progress: bool = True,
) -> BuildResult:
    """Build a versioned dataset folder (docs/SHARDS.md) from a dataset folder or a manifest.

    Args:
        source: dataset folder (AneRBC or folder layout; ingested) or a manifest written by ``rbc-dataset ingest``.
        out: the new dataset folder (replaced only with ``overwrite``, and only when the build completes).
        config: what to build.
        splits: import fixed splits from a ``sample_id,split`` CSV/Parquet instead of making them.
        overwrite: replace an existing ``out``.
        show_progress: draw progress bars.

    Raises:
        DataError: validation errors (without ``allow_invalid``), unusable splits, inputs that make no config.
        UsageError: ``out`` inside the input, an existing ``out`` without ``overwrite``.
    """
    start = time.perf_counter()
    source, out = Path(source), Path(out)
    if source.is_dir():
        check_output_outside(out, [source], replaced=True)
    split_table = read_splits(splits) if splits is not None else None
    try:
        return _build(
            source,
            out,
            config=config,
            splits=splits,
            split_table=split_table,
            overwrite=overwrite,
            show_progress=show_progress,
            start=start,
        )
    except Exception as exc:  # h5py, pyarrow and Python each report a full disk their own way
        error = disk_full_error(
            exc, outputs=[out], expected="free disk space for the build (about the size of the input per config)"
        )
        if error is None:
            raise
        raise error from exc


def _build(source, out, *, config, splits, split_table, overwrite, show_progress, start) -> BuildResult:
    seconds = {}
    workers = worker_count(config.workers)
    with atomic_directory(out, overwrite) as tmp:
        work = tmp / ".work"
        work.mkdir()
        # Stages read the working manifest (absolute root, in .work); the build holds a published copy.
        manifest = _manifest(source, work, workers, show_progress)
        rows = read_manifest(manifest)
        roots = sorted({Path(r) for r in rows["root"].dropna()})
        check_output_outside(out, roots, replaced=True)
        inputs_files = [p for p in (splits, source) if p is not None and not p.is_dir()]
        names = path_names(roots, tmp, out=out, files=inputs_files, scratch=work)
        published = _published_manifest(manifest, tmp, names)
        # Options the data cannot satisfy (empty splits, too many folds) fail now, not after validation.
        check_feasible(rows, config, source=str(source), split_table=split_table, splits_source=str(splits))
        seconds["ingest"] = time.perf_counter() - start
        validation = _validate(manifest, tmp, work=work, config=config, out=out, show_progress=show_progress)
        seconds["validate"] = validation.seconds
        canonical, skipped = _canonical_masks(work)
        inputs = attach_masks(rows, canonical, skipped=skipped)
        classes = class_names(inputs.rows, str(source))
        loaded = LoadedSource(rows, source, "folder" if source.is_dir() else "manifest", ())
        stage = time.perf_counter()
        audit_config = AuditConfig(workers=config.workers, seed=config.seed)
        evidence = gather_evidence(rows, audit_config, show_progress=show_progress) if config.audit else None
        cbc_shared = evidence.cbc.shared if evidence is not None else _shared_reports(rows, audit_config)
        plan = _plan(
            inputs,
            rows,
            evidence=evidence,
            cbc_shared=cbc_shared,
            config=config,
            split_table=split_table,
            splits_source=str(splits),
        )
        report = make_split_report(plan)
        _write_splits(tmp, plan, report)
        audit_result = None
        if evidence is not None:
            table = pd.DataFrame({"sample_id": rows["sample_id"], "split": plan.split_of_samples(rows)}).dropna()
            audit_result = write_audit(
                evidence,
                loaded,
                out_dir=tmp / "reports",
                config=audit_config,
                split_table=table,
                splits_source="rbc-dataset build",
                start=stage,
            )
            _check_leaks(audit_result, out)
        seconds["audit_and_splits"] = time.perf_counter() - stage
        stage = time.perf_counter()
        grid = _grid(config, inputs.rows)
        tasks = parent_tasks(inputs, plan)
        shards = ShardSet(tmp, config, grid=grid, class_names=classes, inputs=inputs, tasks=tasks, manifest=published)
        tile_check = _tile_check(inputs.rows, grid, configs=shards.configs, config=config, show_progress=show_progress)
        entries = shards.write(show_progress)
        seconds["shards"] = time.perf_counter() - stage
        atomic_write_bytes(tmp / "build_config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=True).encode())
        publish_folder(tmp, names)  # reports name files by absolute path; a published build does not
        card = dataset_card(
            source=source, config=config, shards=shards, entries=entries, split_report=report,
            validation=validation, audit=audit_result, inputs=inputs, tile_check=tile_check,
        )  # fmt: skip
        write_cards(tmp, card, names=names)
        shutil.rmtree(work)
        check_published(tmp, names)
    seconds["total"] = time.perf_counter() - start
    counts = {c: {s: e["num_examples"] for s, e in splits_.items()} for c, splits_ in entries.items()}
    excluded = len(inputs.excluded)
    return BuildResult(
        out,
        shards.configs,
        counts=counts,
        validation_errors=validation.counts.get("error", 0),
        excluded=excluded,
        seconds=seconds,
    )


def _shared_reports(rows: pd.DataFrame, audit_config: AuditConfig) -> list[dict]:
    from rbc_dataset.auditing.cbc import audit_cbc

    return audit_cbc(rows.reset_index(drop=True), audit_config.hb_bands).shared
