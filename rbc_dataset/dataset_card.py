"""``dataset.json``, the machine-readable card of a build: one typed object, one reader, one writer.

``rbc-dataset build`` writes it (``write_card``); ``verify``, ``show`` (``rbc_dataset.loaders.check``) and
``rbc-bench`` read it (``read_card``), so a card that is not what the build writes is refused in one place,
with one message naming the file, the field, what was expected, what was found and the fix.

Two version numbers, and why two (docs/SHARDS.md, "Versions"):

- ``schema_version`` numbers the card's own fields (the dataclasses below). It changes when a field a reader
  needs is added, renamed or retyped.
- ``format_version`` numbers the build the card describes: the shards' layout and encoding (format 2: Parquet
  masks hold class indices 0/1 like HDF5; format 1 stored them as 0/255). It changes when a shard written by an
  older version would be read wrongly.

A reader accepts only the versions it knows: an older build (format 1) is refused with the fix "rebuild", a
newer card with "install the rbc-dataset version that wrote it".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, is_dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, TypeAdapter, ValidationError

from rbc_dataset.errors import DataError
from rbc_dataset.fileio import atomic_write_bytes, json_bytes
from rbc_dataset.shards.integrity import INTEGRITY, edited_sections, file_checksums, seal

CARD_NAME = "dataset.json"
SCHEMA_VERSION = 1
FORMAT_VERSION = 2  # 2: Parquet masks hold class indices 0/1 like HDF5 (format 1 stored them as 0/255)
REBUILD = "rebuild with rbc-dataset build --overwrite, or restore the file from the original build"
# Every field typed, nothing coerced ("3" is not 3), no field the card does not define: so ``to_dict`` gives
# back exactly what was read, and the card's own section checksums can be recomputed from the object.
STRICT = ConfigDict(extra="forbid", strict=True)


def _optional(default=None):
    """A field left out of the JSON when it holds None (HDF5-only and Parquet-only keys of a shard entry)."""
    return field(default=default, metadata={"omit_none": True})


@dataclass(frozen=True)
class ShardFile:
    """One shard file: ``hdf5/<config>/<split>.h5`` (with ``codec``) or a Parquet shard (with ``num_bytes``)."""

    __pydantic_config__ = STRICT

    path: str  # relative to the build folder
    sha256: str  # of the file's bytes
    num_examples: int
    content_sha256: str  # of the samples' pixel hashes in order (equal for both formats of a split)
    codec: str | None = _optional()  # HDF5: gzip-4, blosc-lz4 or none
    num_bytes: int | None = _optional()  # Parquet: size of the encoded samples


@dataclass(frozen=True)
class SplitEntry:
    """One split of one config: counts, content hash and its files in each format written."""

    __pydantic_config__ = STRICT

    num_examples: int
    classes: dict[str, int]  # class name -> samples
    content_sha256: str
    hdf5: ShardFile | None = _optional()
    parquet: tuple[ShardFile, ...] | None = _optional()
    num_bytes: int | None = _optional()  # with Parquet: the sum over its shards (the README's num_bytes)


@dataclass(frozen=True)
class ConfigEntry:
    """One dataset config (``full``, ``tiles`` or ``model``)."""

    __pydantic_config__ = STRICT

    description: str
    size: tuple[int, int]  # (width, height) of its samples
    splits: dict[str, SplitEntry]  # train / validation / test; an empty split is not declared


@dataclass(frozen=True)
class SourceInfo:
    """What the build read: the source by name only (a card is published, the builder's folders are not)."""

    __pydantic_config__ = STRICT

    path: str
    manifest: str  # the manifest copied into the build
    manifest_sha256: str
    n_input_samples: int
    origin: str  # synthetic, anerbc or folder: decides licence and citation


@dataclass(frozen=True)
class TileGridInfo:
    """The grid the ``tiles`` config was cut with."""

    __pydantic_config__ = STRICT

    cols: int
    rows: int
    width: int
    height: int
    order: str  # row-major or column-major


@dataclass(frozen=True)
class SplitWarning:
    """A split too small (fewer than 10 parents) or with one class, and why that matters."""

    __pydantic_config__ = STRICT

    split: str
    parents: int
    classes: tuple[str, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class FindingCount:
    """How often one finding code occurred (with the first example, for audit findings)."""

    __pydantic_config__ = STRICT

    severity: str
    count: int
    example: str | None = _optional()


@dataclass(frozen=True)
class ValidationInfo:
    """What validate-masks found in the input (the full report is ``reports/validate-masks.json``)."""

    __pydantic_config__ = STRICT

    counts: dict[str, int]  # severity -> findings
    by_code: dict[str, FindingCount]
    allowed_invalid: bool  # built with --allow-invalid despite validation errors
    excluded_samples: tuple[dict[str, Any], ...]  # manifest rows left out, with the reason
    report: str


@dataclass(frozen=True)
class AuditInfo:
    """The audit's headline numbers and its warnings and errors by code (full report: ``reports/audit.json``)."""

    __pydantic_config__ = STRICT

    summary: dict[str, Any]
    by_code: dict[str, FindingCount]
    report: str


@dataclass(frozen=True)
class TileCheckInfo:
    """The input's own tiles (AneRBC-II) compared pixel for pixel with the tiles cut from their parents."""

    __pydantic_config__ = STRICT

    order: str
    compared: int
    matched: int
    mismatched: int
    examples: tuple[str, ...]


@dataclass(frozen=True)
class Integrity:
    """The card's own checksums: SHA-256 of each top-level field as canonical JSON (``shards/integrity.py``)."""

    __pydantic_config__ = STRICT

    method: str
    sections: dict[str, str]


@dataclass(frozen=True)
class DatasetCard:
    """The content of ``dataset.json`` (docs/SHARDS.md). Read it with ``read_card``, write it with ``write_card``."""

    __pydantic_config__ = STRICT

    schema_version: int
    format_version: int
    tool: str  # "rbc-dataset <version>" that wrote the build
    source: SourceInfo
    config: dict[str, Any]  # the resolved build config (build_config.yaml)
    class_names: tuple[str, ...]  # label index -> name
    severity_names: tuple[str, ...]
    cbc_tests: tuple[str, ...]  # the cbc_<TEST> columns
    has_masks: bool
    tile_grid: TileGridInfo
    configs: dict[str, ConfigEntry]
    splits: dict[str, Any]  # the split report (splits/split_report.json)
    split_warnings: tuple[SplitWarning, ...]
    validation: ValidationInfo
    audit: AuditInfo | None  # None: built with --no-audit
    tile_check: TileCheckInfo | None  # None: no input tiles to compare
    files: dict[str, str] = field(default_factory=dict)  # every other file of the build -> SHA-256
    integrity: Integrity | None = _optional()  # added by write_card

    @property
    def default_config(self) -> str:
        """The config ``load_dataset(DIR)`` and ``rbc-dataset show`` open without a name: tiles when built."""
        return "tiles" if "tiles" in self.configs else next(iter(self.configs))

    def to_dict(self) -> dict:
        """The card as plain JSON values, exactly as ``dataset.json`` holds it."""
        return _plain(self)

    @classmethod
    def from_dict(cls, document: dict, path: str | Path = CARD_NAME) -> DatasetCard:
        """A card from its JSON values; a DataError naming ``path``, each wrong field and the fix otherwise."""
        return _parse(json.dumps(document, default=str), document, Path(path))  # as seal() writes values

    def edited_fields(self) -> tuple[list[str], str | None]:
        """Top-level fields whose content differs from the build-time checksums, and a problem reading them."""
        return edited_sections(self.to_dict())


def _plain(value):
    if is_dataclass(value):
        out = {}
        for spec in fields(value):
            item = getattr(value, spec.name)
            if item is None and spec.metadata.get("omit_none"):
                continue
            out[spec.name] = _plain(item)
        return out
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


@cache
def _adapter() -> TypeAdapter:
    return TypeAdapter(DatasetCard)


def _where(location: tuple) -> str:
    return ".".join(str(part) for part in location) or "(the card)"


def _describe(error: dict) -> str:
    """One pydantic error as ``field: what is wrong (found: value)``."""
    where = _where(error["loc"])
    if error["type"] == "missing":
        return f"{where} (missing)"
    if error["type"] == "unexpected_keyword_argument":
        return f"{where} (a field the card does not define)"
    found = json.dumps(error.get("input"), default=str)
    found = found if len(found) <= 60 else found[:57] + "..."
    return f"{where} ({error['msg'].lower()}, found {found})"


def _check_versions(document: dict, path: Path) -> None:
    """Refuse a card of another schema or format version before its fields are checked."""
    for key, known in (("schema_version", SCHEMA_VERSION), ("format_version", FORMAT_VERSION)):
        value = document.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value == known:
            continue
        tool = document.get("tool", "an unknown version")
        if isinstance(value, int) and not isinstance(value, bool) and value > known:
            fix = f"install the rbc-dataset version that wrote it ({tool}), or rebuild with this one"
        elif key == "format_version" and value == 1:
            fix = "rebuild with rbc-dataset build --overwrite (format 1 stored Parquet masks as 0/255)"
        else:
            fix = REBUILD
        raise DataError(path, f"{key} {known} (a build of this rbc-dataset)", f"{key} {value!r} ({tool})", fix)


def _parse(text: str, document: dict, path: Path) -> DatasetCard:
    _check_versions(document, path)
    try:
        return _adapter().validate_json(text, strict=True)
    except ValidationError as error:
        problems = [_describe(e) for e in error.errors()]
        found = "a missing or mistyped field: " + "; ".join(problems[:4])
        if len(problems) > 4:
            found += f"; and {len(problems) - 4} more"
        changed, _ = edited_sections(document)
        if changed:  # the build wrote it right: say what was edited since
            found += f"; edited fields: {', '.join(changed)} (the card's own checksums)"
        expected = f"the fields rbc-dataset build writes (schema_version {SCHEMA_VERSION})"
        raise DataError(path, expected, found, REBUILD) from None  # pydantic's traceback adds nothing


def read_card(folder: str | Path) -> DatasetCard:
    """The ``dataset.json`` of a build folder: refused with a DataError unless it is what the build writes.

    Raises:
        DataError: no such file, not UTF-8, not JSON, another schema or format version, or a missing, mistyped
            or unknown field (each named, with the fields edited since the build when its checksums say so).
    """
    path = Path(folder) / CARD_NAME
    if not path.is_file():
        raise DataError(path, "a folder written by rbc-dataset build", f"no {CARD_NAME}", "run rbc-dataset build")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
        document = json.loads(text)
    except UnicodeDecodeError as exc:
        found = f"bytes that are not UTF-8 (byte {exc.start} is 0x{data[exc.start]:02x})"
        raise DataError(path, "UTF-8 JSON written by rbc-dataset build", found, REBUILD) from exc
    except json.JSONDecodeError as exc:
        raise DataError(path, "valid JSON", f"a syntax error: {exc}", REBUILD) from exc
    if not isinstance(document, dict):
        raise DataError(path, "a JSON object", f"a JSON {type(document).__name__}", REBUILD)
    return _parse(text, document, path)


def write_card(folder: str | Path, card: DatasetCard) -> DatasetCard:
    """Write ``card`` as ``folder/dataset.json``, last of the build's files, and return it as written.

    The written card lists the SHA-256 of every other file of the folder but the shards (listed with their
    configs) and seals its own fields (``integrity.sections``); equal builds give byte-identical cards.
    """
    folder = Path(folder)
    document = card.to_dict()
    document.pop(INTEGRITY, None)
    document["files"] = file_checksums(folder)
    sealed = seal(document)
    text = json_bytes(sealed, sort_keys=True).decode()
    written = _parse(text, sealed, folder / CARD_NAME)  # the writer's own bug would show here, not in a reader
    atomic_write_bytes(folder / CARD_NAME, text.encode())
    return written
