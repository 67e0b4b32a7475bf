"""The manifest: one row per sample, the single data model every later stage reads and extends.

Stored as Parquet with a fixed schema (below) and a companion ``<name>.report.json`` listing what the
importer could not use and why. Paths are relative to ``root`` (a column, the same on every row), so
the manifest's content does not depend on where the data sits except through that one value.

``rbc-dataset ingest`` writes ``root`` as an absolute folder. The copy inside a build is published, so its
``root`` is the source folder's name only; readers find that folder again with ``locate_root`` (beside the
build or in the working folder, accepted only when its files have the manifest's SHA-256).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from rbc_dataset.errors import DataError
from rbc_dataset.fileio import atomic_write_bytes, sha256_file, write_json
from rbc_dataset.reports import CBC_TESTS

MANIFEST_VERSION = "1"
FILE_ROLES = ("image", "mask", "rgb_mask", "cbc", "morphology", "instances", "cells", "meta")

_IDENTITY = [
    ("sample_id", pa.string()),  # stable id: anerbc1_a_001, anerbc2_a_0001_05, folder_<class>_<name>
    ("source", pa.string()),  # AneRBC-I, AneRBC-II or folder
    ("synthetic", pa.bool_()),  # written by rbc-dataset synth (has a synthetic_truth sidecar)
    ("class_name", pa.string()),  # anemic / healthy (folder layouts: the class folder name)
    ("label", pa.int64()),  # 0 healthy, 1 anaemic (folder layouts with other names: sorted index)
    ("number", pa.int64()),  # AneRBC image number (parent number for tiles)
    ("tile_index", pa.int64()),  # AneRBC-II tile 1..12
    ("tile_order", pa.string()),  # order used for the tile box: row-major / column-major
    ("tile_row", pa.int64()),
    ("tile_col", pa.int64()),
    ("tile_x", pa.int64()),  # tile box in parent pixels
    ("tile_y", pa.int64()),
    ("tile_width", pa.int64()),
    ("tile_height", pa.int64()),
    ("parent_id", pa.string()),  # the AneRBC-I image a tile was cut from (itself for full images)
    ("group_id", pa.string()),  # unit that must never cross splits (parent, or a given group)
    ("split", pa.string()),  # split folder of a pre-split release (train/val/test), else null
    ("severity", pa.string()),  # mild / chronic when known
    ("severity_source", pa.string()),  # where severity comes from (synthetic_truth, ...)
    ("root", pa.string()),  # absolute folder the paths are relative to (a build's copy: its folder name only)
]
_FILES = [(f"{role}_path", pa.string()) for role in FILE_ROLES] + [
    (f"{role}_sha256", pa.string()) for role in FILE_ROLES
]
_IMAGES = [
    ("image_format", pa.string()),  # sniffed from bytes, not the extension
    ("width", pa.int64()),
    ("height", pa.int64()),
    ("image_mode", pa.string()),  # PIL mode: RGB, L, RGBA, P, I;16 ...
    ("mask_format", pa.string()),
    ("mask_width", pa.int64()),
    ("mask_height", pa.int64()),
    ("mask_mode", pa.string()),
]
_CBC = (
    [(f"cbc_{t}", pa.float64()) for t in CBC_TESTS]
    + [(f"cbc_{t}_flag", pa.bool_()) for t in CBC_TESTS]
    + [("cbc_problems", pa.list_(pa.string())), ("cbc_raw", pa.string())]
)
_MORPHOLOGY = [("morphology_keywords", pa.list_(pa.string())), ("morphology_raw", pa.string())]
_PROBLEMS = [("problems", pa.list_(pa.string()))]  # codes of the issues of this sample (see the report)

MANIFEST_SCHEMA = pa.schema(_IDENTITY + _FILES + _IMAGES + _CBC + _MORPHOLOGY + _PROBLEMS)


def parent_keys(rows: pd.DataFrame) -> list[str]:
    """The unit a sample was cut from: parent_id, else group_id, else the sample itself."""
    keys = []
    for parent, group, sample in zip(rows["parent_id"], rows["group_id"], rows["sample_id"], strict=True):
        keys.append(next((v for v in (parent, group, sample) if isinstance(v, str) and v), str(sample)))
    return keys


def report_path_for(manifest_path: Path) -> Path:
    """Companion report of a manifest: ``manifest.parquet`` -> ``manifest.report.json``."""
    manifest_path = Path(manifest_path)
    return manifest_path.with_name(manifest_path.stem + ".report.json")


def write_manifest(rows: list[dict], path: Path, *, metadata: dict[str, str], report: dict) -> None:
    """Write the Parquet manifest and its report, each through a temporary name and a rename."""
    table = pa.Table.from_pylist(rows, schema=MANIFEST_SCHEMA)
    meta = {b"rbc_dataset.manifest_version": MANIFEST_VERSION.encode()}
    meta.update({f"rbc_dataset.{k}".encode(): str(v).encode() for k, v in metadata.items()})
    table = table.replace_schema_metadata(meta)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(report_path_for(path), report, sort_keys=True)
    atomic_write_bytes(path, sink.getvalue().to_pybytes())


def read_manifest(path: Path) -> pd.DataFrame:
    """Load a manifest written by ``rbc-dataset ingest``, checking that it is one."""
    path = Path(path)
    if not path.is_file():
        raise DataError(
            path,
            "a manifest file written by `rbc-dataset ingest`",
            "no such file",
            "run `rbc-dataset ingest ROOT --out manifest.parquet` first",
        )
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(
            path, "a Parquet manifest", f"an unreadable file ({exc})", "re-run `rbc-dataset ingest`"
        ) from exc
    version = (table.schema.metadata or {}).get(b"rbc_dataset.manifest_version")
    if version is None:
        raise DataError(
            path,
            "a Parquet file with rbc_dataset manifest metadata",
            "a Parquet file without it",
            "re-run `rbc-dataset ingest` to write a manifest",
        )
    # Nullable integer and boolean columns stay integers/booleans (with <NA>) instead of turning into floats.
    rows = table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}.get)
    return locate_root(rows, path, candidates=[path.parent.parent, Path.cwd()])


def _is_source(folder: Path, rows: pd.DataFrame) -> bool:
    """Whether ``folder`` holds the files of ``rows``: the first image there has the manifest's SHA-256."""
    known = rows.dropna(subset=["image_path", "image_sha256"])
    if known.empty:
        return folder.is_dir()
    first = known.iloc[0]
    candidate = folder / str(first["image_path"])
    return candidate.is_file() and sha256_file(candidate) == first["image_sha256"]


def locate_root(rows: pd.DataFrame, manifest: Path, *, candidates: list[Path | None]) -> pd.DataFrame:
    """``rows`` with a root given by folder name only (a build's published manifest) made absolute again.

    Each candidate is the source folder itself or a folder holding it; the first whose files match the
    manifest's checksums is used, so a different folder of the same name is never mistaken for the source.

    Raises:
        DataError: no candidate holds the source folder (the message names where it looked).
    """
    names = [r for r in rows["root"].dropna().unique() if not Path(str(r)).is_absolute()]
    for name in names:
        mine = rows["root"] == name
        places = [p for c in candidates if c is not None for p in (Path(c), Path(c) / name) if p.name == name]
        found = next((p.resolve() for p in places if _is_source(p, rows[mine])), None)
        if found is None:
            raise DataError(
                manifest,
                f"the source folder {name!r} its paths are relative to (a build's manifest names it by name only)",
                f"no folder of that name with the manifest's files in {', '.join(str(p.parent) for p in places)}",
                "keep the build beside the source folder or run from the folder that holds it, or ingest the source "
                "again (`rbc-dataset ingest SOURCE --out m.parquet`) and use that manifest",
            )
        rows = rows.assign(root=rows["root"].where(~mine, found.as_posix()))
    return rows


def absolute_path(row, role: str) -> Path | None:
    """Absolute path of a sample's file of the given role, or None."""
    rel = row[f"{role}_path"]
    return None if rel is None or pd.isna(rel) else Path(row["root"]) / rel
