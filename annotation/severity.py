"""Anaemia severity (mild vs chronic) from red-cell morphology, and haemoglobin bands from a named table.

The rule is the Module-II idea of 3-TierDCFNet made explicit: every cell gets a score from its size
(relative to the image's own normal cells), its roundness and its central pallor; the image is chronic when
the share of abnormal cells reaches a threshold. All numbers live in a versioned YAML file
(``annotation/configs/severity_v1.yaml``) that says where each one comes from; the paper's own thresholds
were never published. ``derive_severity`` fills the ``severity`` of anaemic manifest rows where it is unknown,
never touching a known one.
"""

from __future__ import annotations

import io
import json
import math
import time
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from rbc_dataset.errors import DataError, UsageError, check_choice

SEVERITY_LEVELS = ("mild", "chronic")
ANAEMIC_CLASS_NAMES = ("anemic", "anaemic", "anemia", "anaemia")  # class names whose rows get a severity
DEFAULT_CONFIG = "severity_v1.yaml"  # packaged with annotation/configs


@dataclass(frozen=True)
class SeverityConfig:
    """The severity rule (read from a versioned YAML file; see severity_v1.yaml for the source of each number)."""

    version: str  # rule name written next to every result, e.g. "severity_v1"
    size_tolerance: float  # |ln(diameter / normal diameter)| at which size alone makes a cell abnormal
    min_roundness: float  # minor / major axis below which shape alone makes a cell abnormal
    pallor_tolerance: float  # pale share above the normal cells' at which pallor alone makes a cell abnormal
    rim_tolerance: float  # 1 - rim OD / normal rim OD at which paleness alone makes a cell abnormal
    chronic_min_abnormal_share: float  # share of abnormal cells from which an image is chronic
    published_size_rule: tuple[float, float, float, float]  # 3-TierDCFNet size rule: low, high, small, large
    sources: dict = field(default_factory=dict, compare=False)  # where each number comes from
    path: str = ""  # file the rule was read from

    @property
    def source_label(self) -> str:
        """The ``severity_source`` written into manifests."""
        return f"derived: annotation {self.version} (rule)"


def _number(data: dict, section: str, key: str, path: Path) -> float:
    from rbc_dataset.config_file import check_value  # the one type check of every config file

    block = data.get(section)
    if not isinstance(block, dict) or key not in block:
        raise DataError(path, f"a number at {section}.{key}", "no such key", "see annotation/configs/severity_v1.yaml")
    value = check_value(path, f"{section}.{key}", value=block[key], hint=float)
    if not math.isfinite(value) or value < 0:
        raise DataError(path, f"a non-negative number at {section}.{key}", str(value), "fix the value")
    return value


def load_severity_config(path: Path | None = None) -> SeverityConfig:
    """Read a severity rule file; without a path, the packaged ``severity_v1.yaml``.

    Raises:
        DataError: the file is missing, not YAML, or lacks a required number (the message names it).
        UsageError: a value that is not a number (``size_tolerance: "0.2"``), naming the file, key and value.
    """
    from rbc_dataset.config_file import load_config_file  # size, UTF-8, YAML syntax and a mapping, checked

    if path is None:
        path = Path(str(resources.files("annotation").joinpath("configs").joinpath(DEFAULT_CONFIG)))
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "a severity rule YAML file", "no such file", "check the path of --config")
    data = load_config_file(path)
    if not isinstance(data, dict) or not isinstance(data.get("version"), str):
        raise DataError(
            path, "a mapping with a `version` name", f"{type(data).__name__}", "start from severity_v1.yaml"
        )
    rule = tuple(
        _number(data, "published_size_rule", k, path)
        for k in ("window_low", "window_high", "small_centre", "large_centre")
    )
    config = SeverityConfig(
        version=data["version"],
        size_tolerance=_number(data, "cell", "size_tolerance", path),
        min_roundness=_number(data, "cell", "min_roundness", path),
        pallor_tolerance=_number(data, "cell", "pallor_tolerance", path),
        rim_tolerance=_number(data, "cell", "rim_tolerance", path),
        chronic_min_abnormal_share=_number(data, "image", "chronic_min_abnormal_share", path),
        published_size_rule=rule,
        sources=dict(data.get("sources") or {}),
        path=str(path),
    )
    tolerances = (config.size_tolerance, config.pallor_tolerance, config.rim_tolerance)
    if not (0 < config.min_roundness < 1 and min(tolerances) > 0 and config.chronic_min_abnormal_share <= 1):
        expected = "0 < min_roundness < 1, positive tolerances and a share <= 1"
        raise DataError(path, expected, str(asdict(config)), "fix the values")
    return config


def published_size_score(size: np.ndarray, roundness: np.ndarray, *, rule: tuple[float, float, float, float]):
    """3-TierDCFNet's per-cell size rule: 1 - |0.8 - size| SR inside (0.66, 0.96), else 1 - |1.6 - size| SR."""
    low, high, small, large = rule
    size = np.asarray(size, float)
    inside = (size > low) & (size < high)
    return np.where(inside, 1 - np.abs(small - size) * roundness, 1 - np.abs(large - size) * roundness)


def cell_scores(cells: pd.DataFrame, config: SeverityConfig) -> pd.DataFrame:
    """Per-cell terms, score and abnormal flag of a classified cell table (``classify_cells`` output).

    Returns:
        Columns ``size_term``, ``roundness_term``, ``pallor_term``, ``rim_term`` (each 1 at its tolerance),
        ``score`` (their maximum), ``abnormal`` (score >= 1) and ``published_score`` (the paper's size rule).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        roundness = np.clip(1.0 / cells["elongation"].to_numpy(float), 0.0, 1.0)
        terms = pd.DataFrame(
            {
                "size_term": np.abs(np.log(cells["size"].to_numpy(float))) / config.size_tolerance,
                "roundness_term": (1.0 - roundness) / (1.0 - config.min_roundness),
                "pallor_term": cells["extra_pallor"].to_numpy(float) / config.pallor_tolerance,
                "rim_term": (1.0 - cells["rim_rel"].to_numpy(float)) / config.rim_tolerance,
            },
            index=cells.index,
        )
    terms = terms.fillna(0.0)
    terms["score"] = terms.max(axis=1)
    terms["abnormal"] = terms["score"] >= 1.0
    terms["published_score"] = published_size_score(cells["size"], roundness, rule=config.published_size_rule)
    return terms


def image_severity(cells: pd.DataFrame, config: SeverityConfig) -> dict:
    """Severity of one image (or of pooled tiles) from its classified cells; border cells are left out.

    Returns:
        ``n_cells``, ``abnormal_share`` (the score the decision uses), ``published_score`` (mean of the
        paper's size rule, for reference), ``severity`` ("mild" / "chronic", None without cells), ``rule``.
    """
    inner = cells[~cells["touches_border"].astype(bool)]
    result = {"n_cells": len(inner), "abnormal_share": np.nan, "published_score": np.nan, "severity": None}
    result["rule"] = config.version
    if inner.empty:
        return result
    scores = cell_scores(inner, config)
    share = float(scores["abnormal"].mean())
    result |= {"abnormal_share": share, "published_score": float(np.nanmean(scores["published_score"]))}
    result["severity"] = "chronic" if share >= config.chronic_min_abnormal_share else "mild"
    return result


def severity_from_image(image_rgb: np.ndarray, labels: np.ndarray, *, config: SeverityConfig | None = None) -> dict:
    """``image_severity`` of an RGB image and its instance map."""
    from annotation.cell_types import classify_cells
    from annotation.morphometry import cell_features

    return image_severity(classify_cells(cell_features(image_rgb, labels)), config or load_severity_config())


def check_hb_table(table: str) -> str:
    """``table`` if it names an Hb band table (rbc_dataset.auditing.config.HB_BAND_TABLES); else a UsageError."""
    from rbc_dataset.auditing.config import HB_BAND_TABLES

    return check_choice("Hb band table", table, choices=tuple(HB_BAND_TABLES))


def hb_band(hb_g_dl: float | None, table: str = "who2011_women") -> str | None:
    """Haemoglobin band ("none", "mild", "moderate", "severe") from a named table (WHO 2011 by default).

    Args:
        hb_g_dl: haemoglobin in g/dL; None or NaN gives None (unknown).
        table: a key of ``rbc_dataset.auditing.config.HB_BAND_TABLES`` (who2011_women, who2011_men).

    Raises:
        UsageError: unknown table, or a value that cannot be a haemoglobin concentration in g/dL.
    """
    from rbc_dataset.auditing.config import HB_BAND_TABLES

    check_hb_table(table)
    if hb_g_dl is None or (isinstance(hb_g_dl, float) and math.isnan(hb_g_dl)) or pd.isna(hb_g_dl):
        return None
    value = float(hb_g_dl)
    if not 0 < value < 30:
        raise UsageError(f"haemoglobin {value} is not a plausible concentration in g/dL (expected 0-30)")
    return HB_BAND_TABLES[table].band(value)


def reported_band(hb_g_dl, table: str) -> str | None:
    """``hb_band`` for values read from CBC reports: an impossible value (a column shift) is "implausible"."""
    check_hb_table(table)
    try:
        return hb_band(hb_g_dl, table)
    except UsageError:
        return "implausible"


def _score_unit(job: tuple) -> dict:
    """Worker: severity of one unit (one image, or the pooled tiles of one parent)."""
    from annotation.morphometry import measure_image

    key, items, instances_dir, config = job
    cells = pd.concat([measure_image(item, instances_dir=instances_dir) for item in items], ignore_index=True)
    return {"key": key, "n_images": len(items), **image_severity(cells, config)}


def score_units(units: dict, instances_dir, *, config, workers, show_progress, what: str) -> dict[str, dict]:
    """Run ``_score_unit`` over ``{key: [ImageItem, ...]}``; returns ``{key: result}``."""
    from rbc_dataset.parallel import bounded_map, worker_count
    from rbc_dataset.progress import track

    jobs = [(key, items, instances_dir, config) for key, items in units.items()]
    n_workers = min(worker_count(workers), max(1, len(jobs)))
    results = track(bounded_map(_score_unit, jobs, workers=n_workers), len(jobs), description=what, show=show_progress)
    return {row["key"]: row for row in results}


def _write_csv(table: pd.DataFrame, out: Path) -> None:
    from rbc_dataset.fileio import atomic_write_bytes

    out.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    table.to_csv(buffer, index=False, float_format="%.6g")
    atomic_write_bytes(out, buffer.getvalue().encode())


def _manifest_hb(source: Path) -> dict[str, float]:
    """``sample_id -> cbc_HGB`` of a manifest (empty for folders or without the column)."""
    if not source.is_file():
        return {}
    from rbc_dataset.manifest import read_manifest

    rows = read_manifest(source)
    if "cbc_HGB" not in rows:
        return {}
    return {str(k): v for k, v in zip(rows["sample_id"], rows["cbc_HGB"], strict=True) if pd.notna(v)}


@dataclass(frozen=True)
class SeverityImagesResult:
    """What ``severity_images`` wrote."""

    out: Path  # the CSV file
    table: pd.DataFrame  # one row per image: stem, sample_id, class_name, n_cells, scores, severity, Hb
    seconds: float


def severity_images(
    source: Path,
    out: Path,
    *,
    config: SeverityConfig | None = None,
    instances_dir: Path | None = None,
    hb_source: str = "who2011_women",
    overwrite: bool = False,
    workers: int | None = None,
    show_progress: bool = True,
) -> SeverityImagesResult:
    """Score every image of ``source`` (folder or manifest) and write one CSV row per image.

    Args:
        source: image folder (recursive) or manifest.
        out: a ``.csv`` file, or a folder that receives ``severity.csv``.
        config: severity rule (default: the packaged severity_v1).
        instances_dir: folder of ``<stem>.png`` instance maps; without it cells are segmented here.
        hb_source: Hb band table for the ``hb_band`` column (manifests with CBC values only).
        overwrite: replace an existing output.
        workers: processes (0 or None = all cores).
        show_progress: draw a progress bar.

    Raises:
        DataError: no images, an unreadable image or instance map.
        UsageError: an existing output without ``overwrite``, an output inside the input, a bad table name.
    """
    from annotation.images import list_images
    from rbc_dataset.fileio import check_output_outside

    start = time.perf_counter()
    config = config or load_severity_config()
    check_hb_table(hb_source)
    source, out = Path(source), Path(out)
    csv_path = out if out.suffix.lower() == ".csv" else out / "severity.csv"
    items = list_images(source)
    inputs = [source] if source.is_dir() else sorted({item.path.parent for item in items}, key=str)
    check_output_outside(csv_path, inputs + ([Path(instances_dir)] if instances_dir else []), replaced=True)
    if csv_path.exists() and not overwrite:
        raise UsageError(f"output {csv_path} already exists; pass --overwrite to replace it")
    results = score_units(
        {item.stem: [item] for item in items},
        instances_dir,
        config=config,
        workers=workers,
        show_progress=show_progress,
        what="severity",
    )
    hb = _manifest_hb(source)
    rows = []
    for item in items:
        result = {k: v for k, v in results[item.stem].items() if k not in ("key", "n_images")}
        value = hb.get(str(item.sample_id))
        rows.append(
            {"stem": item.stem, "sample_id": item.sample_id, "class_name": item.class_name, **result}
            | {"hb_g_dl": value, "hb_band": reported_band(value, hb_source), "hb_source": hb_source if hb else None}
        )
    table = pd.DataFrame(rows)
    _write_csv(table, csv_path)
    return SeverityImagesResult(csv_path, table, time.perf_counter() - start)


def _is_unknown(value) -> bool:
    return value is None or (not isinstance(value, str) and pd.isna(value)) or str(value).strip() == ""


def plan_units(rows: pd.DataFrame, items: dict) -> tuple[dict, dict, dict]:
    """Which images decide the severity of each anaemic row whose severity is unknown.

    A full image decides for itself and its tiles; tiles whose full image is not in the manifest are
    pooled per parent (their cells together). A tile whose parent already has a known severity inherits it.

    Args:
        rows: the manifest.
        items: ``sample_id -> ImageItem`` (``annotation.images.list_images`` of the manifest).

    Returns:
        ``(units, unit_of_row, inherited)``: ``{unit key: [ImageItem]}``, ``{row index: unit key}`` for rows
        to derive, ``{row index: (severity, source)}`` for tiles inheriting a known parent severity.
    """
    anaemic = rows["class_name"].astype(str).str.lower().isin(ANAEMIC_CLASS_NAMES)
    unknown = rows["severity"].map(_is_unknown)
    by_id = {str(sid): index for index, sid in zip(rows.index, rows["sample_id"], strict=True)}
    is_tile = rows["tile_index"].notna() & rows["parent_id"].notna()
    units: dict[str, list] = {}
    unit_of_row: dict = {}
    inherited: dict = {}
    for index in rows.index[anaemic & unknown]:
        row = rows.loc[index]
        key = str(row["parent_id"]) if is_tile[index] else str(row["sample_id"])
        parent = by_id.get(key)
        if parent is not None and parent != index and not _is_unknown(rows.at[parent, "severity"]):
            inherited[index] = (rows.at[parent, "severity"], rows.at[parent, "severity_source"])
            continue
        if key not in units:
            members = (
                [key]
                if parent is not None
                else [str(s) for s in rows["sample_id"][is_tile & (rows["parent_id"] == key)]]
            )
            units[key] = [items[m] for m in members if m in items]
        if units[key]:
            unit_of_row[index] = key
    return {k: v for k, v in units.items() if v}, unit_of_row, inherited


def _manifest_extras(path: Path) -> tuple[dict, dict]:
    """Metadata (without the ``rbc_dataset.`` prefix and version) and report of a manifest."""
    import pyarrow.parquet as pq

    from rbc_dataset.manifest import report_path_for

    raw = pq.read_schema(path).metadata or {}
    metadata = {
        k.decode().removeprefix("rbc_dataset."): v.decode()
        for k, v in raw.items()
        if k.decode().startswith("rbc_dataset.") and k != b"rbc_dataset.manifest_version"
    }
    report_path = report_path_for(path)
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    return metadata, report


def _records(rows: pd.DataFrame) -> list[dict]:
    """Manifest rows as plain Python records (missing values as None, list columns as lists)."""
    records = rows.astype(object).to_dict("records")
    for record in records:
        for key, value in record.items():
            if isinstance(value, np.ndarray):
                record[key] = value.tolist()
            elif value is not None and not isinstance(value, list | str) and pd.isna(value):
                record[key] = None
    return records


@dataclass(frozen=True)
class DeriveResult:
    """What ``derive_severity`` wrote."""

    out: Path  # the derived manifest (its report next to it)
    n_derived: int  # rows that got a severity from the rule (tiles included)
    n_inherited: int  # tiles that took a known severity of their parent
    n_kept: int  # anaemic rows whose known severity was kept as it was
    n_unscored: int  # anaemic rows left unknown (no image, or no measurable cell)
    counts: dict  # derived severity -> rows
    seconds: float


def _check_manifest_output(manifest_in: Path, manifest_out: Path, rows: pd.DataFrame, overwrite: bool) -> None:
    from rbc_dataset.fileio import check_output_outside

    if manifest_out.resolve() == manifest_in.resolve():
        raise UsageError(f"output {manifest_out} is the input manifest; write the derived copy to another file")
    if manifest_out.exists() and not overwrite:
        raise UsageError(f"output {manifest_out} already exists; pass --overwrite to replace it")
    check_output_outside(manifest_out, [Path(r) for r in rows["root"].dropna().unique()])


def _hb_agreement(rows: pd.DataFrame, derived: list, hb_source: str) -> dict:
    """Derived severity against the Hb band of the same rows (rows with an Hb value only)."""
    table: dict[str, dict[str, int]] = {}
    if "cbc_HGB" not in rows:
        return table
    for index in derived:
        band = reported_band(rows.at[index, "cbc_HGB"], hb_source)
        if band is not None:
            cell = table.setdefault(str(rows.at[index, "severity"]), {})
            cell[band] = cell.get(band, 0) + 1
    return table


def _plain(value):
    """JSON-safe scalar: NaN becomes None, numpy numbers become Python numbers."""
    value = value.item() if isinstance(value, np.generic) else value
    return None if isinstance(value, float) and math.isnan(value) else value


def _derivation_report(config: SeverityConfig, manifest_in: Path, instances_dir, scored: dict) -> dict:
    keys = ("key", "n_images", "n_cells", "abnormal_share", "severity")
    return {
        "rule": config.version,
        "rule_file": config.path,
        "config": {k: v for k, v in asdict(config).items() if k not in ("sources", "path")},
        "source_manifest": str(manifest_in),
        "instances": str(instances_dir) if instances_dir else "annotation.instances.segment_instances",
        "units": [{k: _plain(scored[key][k]) for k in keys} for key in sorted(scored)],
    }


def derive_severity(
    manifest_in: Path,
    manifest_out: Path,
    *,
    config: SeverityConfig | None = None,
    instances_dir: Path | None = None,
    hb_source: str = "who2011_women",
    overwrite: bool = False,
    workers: int | None = None,
    show_progress: bool = True,
) -> DeriveResult:
    """Write a copy of a manifest with ``severity`` derived for anaemic rows where it is unknown.

    Known severities are never changed. Derived rows get ``severity_source`` = ``config.source_label``
    ("derived: annotation severity_v1 (rule)"); AneRBC-II tiles take the severity of their parent image
    (decided on the full image when the manifest has it, else on the parent's tiles pooled). The manifest's
    report is copied and gains a ``severity_derivation`` section (rule, counts, per-parent scores and the
    derived severity against the ``hb_source`` Hb band where CBC values exist).

    Raises:
        DataError: the input is not a manifest, or an image / instance map cannot be read.
        UsageError: the output is the input, exists without ``overwrite``, or lies inside the data.
    """
    from annotation.images import list_images
    from rbc_dataset.manifest import read_manifest, write_manifest

    start = time.perf_counter()
    manifest_in, manifest_out = Path(manifest_in), Path(manifest_out)
    config = config or load_severity_config()
    check_hb_table(hb_source)
    rows = read_manifest(manifest_in)
    _check_manifest_output(manifest_in, manifest_out, rows, overwrite)
    metadata, report = _manifest_extras(manifest_in)
    anaemic = rows["class_name"].astype(str).str.lower().isin(ANAEMIC_CLASS_NAMES)
    n_kept = int((anaemic & ~rows["severity"].map(_is_unknown)).sum())
    items = {}
    if (anaemic & rows["severity"].map(_is_unknown)).any():
        items = {str(item.sample_id): item for item in list_images(manifest_in)}
    units, unit_of_row, inherited = plan_units(rows, items)
    scored = score_units(
        units, instances_dir, config=config, workers=workers, show_progress=show_progress, what="severity"
    )
    derived = [i for i, key in unit_of_row.items() if scored[key]["severity"] is not None]
    for index in derived:
        rows.at[index, "severity"] = scored[unit_of_row[index]]["severity"]
        rows.at[index, "severity_source"] = config.source_label
    for index, (severity, source) in inherited.items():
        rows.at[index, "severity"], rows.at[index, "severity_source"] = severity, source
    counts = {level: int((rows.loc[derived, "severity"] == level).sum()) for level in SEVERITY_LEVELS}
    n_unscored = int((anaemic & rows["severity"].map(_is_unknown)).sum())
    report = {**report, "severity_derivation": _derivation_report(config, manifest_in, instances_dir, scored)}
    report["severity_derivation"] |= {
        "n_derived": len(derived),
        "n_inherited_known": len(inherited),
        "n_kept_known": n_kept,
        "n_unscored": n_unscored,
        "counts": counts,
        "hb_source": hb_source,
        "severity_vs_hb_band": _hb_agreement(rows, derived, hb_source),
    }
    write_manifest(_records(rows), manifest_out, metadata={**metadata, "severity_rule": config.version}, report=report)
    return DeriveResult(
        manifest_out,
        len(derived),
        n_inherited=len(inherited),
        n_kept=n_kept,
        n_unscored=n_unscored,
        counts=counts,
        seconds=time.perf_counter() - start,
    )
