"""Find AneRBC files anywhere under a root and say what each one is, whatever layout variant it uses.

Every path component is normalised (lower case, letters and digits only) and matched against the
names seen in the wild (ANERBC.md): ``Original_images``/``Original_Images``, class folders named
``Anemic_individuals`` or ``anemic``/``healthy`` under the kind folder, the older
``Reports/{Healthy,Anemic}/{CBC,Morphology}`` tree, pre-split ``train/val/test`` folders, and a root
folder with spaces and periods in its name. The file name (``NNN_a``, ``NNNN_SS_a``) is the identity:
the key is (kind, class, number, tile), never the number alone.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from rbc_dataset.issues import Issue
from rbc_dataset.layout import SUFFIX_CLASS, TRUTH_FOLDER

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}
KIND_TOKENS = {"anerbci": "I", "anerbc1": "I", "anerbcii": "II", "anerbc2": "II"}
CLASS_TOKENS = {
    "anemicindividuals": "anemic",
    "anaemicindividuals": "anemic",
    "anemic": "anemic",
    "anaemic": "anemic",
    "healthyindividuals": "healthy",
    "healthy": "healthy",
}
ROLE_TOKENS = {
    "originalimages": "image",
    "originalimage": "image",
    "binarysegmented": "mask",
    "binarysegmentation": "mask",
    "rgbsegmented": "rgb_mask",
    "rgbsegmentation": "rgb_mask",
    "cbcreports": "cbc",
    "cbcreport": "cbc",
    "cbc": "cbc",
    "morphologyreports": "morphology",
    "morphologyreport": "morphology",
    "morphology": "morphology",
}
TRUTH_TOKENS = {"instances": "instances", "cells": "cells", "meta": "meta"}
SPLIT_TOKENS = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
    "testing": "test",
}
ROLE_EXTENSIONS = {
    "image": IMAGE_EXTENSIONS,
    "mask": IMAGE_EXTENSIONS,
    "rgb_mask": IMAGE_EXTENSIONS,
    "instances": {".png"},
    "cbc": {".txt"},
    "morphology": {".txt"},
    "cells": {".csv"},
    "meta": {".json"},
}
FULL_NAME = re.compile(r"^(\d{1,4})_([ah])$", re.IGNORECASE)
TILE_NAME = re.compile(r"^(\d{1,4})_(\d{1,2})_([ah])$", re.IGNORECASE)


def normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


@dataclass(frozen=True)
class FileEntry:
    """One recognised file."""

    path: Path  # absolute
    rel: str  # relative to the ingest root, POSIX separators
    role: str  # image, mask, rgb_mask, cbc, morphology, instances, cells, meta
    kind: str  # "I" or "II"
    cls: str  # "anemic" or "healthy"
    number: int
    tile: int | None
    split: str | None


@dataclass
class ScanResult:
    """Every file under the root: recognised entries, unrecognised files with a reason, and issues."""

    entries: list[FileEntry] = field(default_factory=list)
    unrecognised: list[tuple[str, str]] = field(default_factory=list)
    sidecar_files: list[str] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)


def list_files(root: Path) -> list[Path]:
    """All files under root in a stable order (sorted by relative path)."""
    return sorted((p for p in root.rglob("*") if p.is_file()), key=lambda p: p.relative_to(root).as_posix())


def printable(path: str | Path) -> str:
    """A path as storable text: bytes of a name that is not UTF-8 are shown as ``\\xNN`` instead of failing later."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def is_utf8(path: str | Path) -> bool:
    """Whether a path's name can be stored as text (Parquet and JSON need UTF-8; Linux names are only bytes)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def drop_non_utf8(root: Path, files: list[Path], *, result: ScanResult) -> list[Path]:
    """Files whose names are UTF-8; the others are listed as unrecognised, each with a warning naming its bytes."""
    kept = []
    for path in files:
        if is_utf8(path):
            kept.append(path)
            continue
        rel = printable(path.relative_to(root))
        result.unrecognised.append((rel, "the file name is not valid UTF-8"))
        result.issues.append(
            Issue(
                "file_name_not_utf8",
                "warning",
                path=rel,
                expected="a file name in UTF-8",
                found=f"the bytes {os.fsencode(path.relative_to(root))!r}; the file is left out",
                fix="rename the file to a UTF-8 name (for example with `mv` in a UTF-8 terminal) and ingest again",
            )
        )
    return kept


def _tokens(parts: tuple[str, ...], table: dict[str, str]) -> list[str]:
    return [table[normalise(p)] for p in parts if normalise(p) in table]


def _parse_name(stem: str) -> tuple[int, int | None, str] | None:
    if match := TILE_NAME.match(stem):
        return int(match[1]), int(match[2]), SUFFIX_CLASS[match[3].lower()]
    if match := FULL_NAME.match(stem):
        return int(match[1]), None, SUFFIX_CLASS[match[2].lower()]
    return None


def classify(path: Path, root: Path, *, result: ScanResult) -> FileEntry | None:
    """Recognise one file, or record why it is not part of the layout."""
    rel = path.relative_to(root).as_posix()
    folders = path.relative_to(root).parts[:-1]
    in_truth = any(normalise(p) == normalise(TRUTH_FOLDER) for p in folders)
    roles = _tokens(folders, TRUTH_TOKENS if in_truth else ROLE_TOKENS)
    parsed = _parse_name(path.stem)
    if in_truth and (not roles or parsed is None):
        result.sidecar_files.append(rel)
        return None
    if not roles:
        result.unrecognised.append((rel, "not inside a known role folder (Original_images, Binary_segmented, ...)"))
        return None
    role = roles[-1]
    if path.suffix.lower() not in ROLE_EXTENSIONS[role]:
        result.unrecognised.append((rel, f"extension {path.suffix or '(none)'} is not expected in a {role} folder"))
        return None
    if parsed is None:
        result.unrecognised.append((rel, "name is not NNN_a/NNN_h (AneRBC-I) or NNNN_SS_a/NNNN_SS_h (AneRBC-II)"))
        return None
    number, tile, cls = parsed
    kinds = _tokens(folders, KIND_TOKENS)
    kind = kinds[-1] if kinds else ("II" if tile is not None else "I")
    if tile is not None and kind == "I":
        result.issues.append(
            Issue(
                "kind_conflict",
                "warning",
                path=rel,
                expected="AneRBC-I names (NNN_a) in an AneRBC-I folder",
                found="an AneRBC-II tile name",
                fix="move the tile into the AneRBC-II folder",
                sample_id=None,
            )
        )
        kind = "II"
    _check_class(rel, folders, cls, result)
    splits = _tokens(folders, SPLIT_TOKENS)
    return FileEntry(
        path, rel, role=role, kind=kind, cls=cls, number=number, tile=tile, split=splits[-1] if splits else None
    )


def _check_class(rel: str, folders: tuple[str, ...], cls: str, result: ScanResult) -> None:
    folder_classes = _tokens(folders, CLASS_TOKENS)
    if folder_classes and folder_classes[-1] != cls:
        result.issues.append(
            Issue(
                "class_conflict",
                "error",
                path=rel,
                expected=f"a file of class {folder_classes[-1]} in a {folder_classes[-1]} folder",
                found=f"the name suffix of class {cls}",
                fix="put the file in the folder of its class or rename it; the name suffix (_a/_h) is used as the "
                "class",
                sample_id=None,
            )
        )


def scan_anerbc(root: Path, files: list[Path] | None = None) -> ScanResult:
    """Classify every file under ``root``."""
    result = ScanResult()
    for path in files if files is not None else list_files(root):
        entry = classify(path, root, result=result)
        if entry is not None:
            result.entries.append(entry)
    return result


def looks_like_anerbc(root: Path, files: list[Path]) -> bool:
    """Whether any file has an AneRBC name inside an AneRBC role folder."""
    for path in files:
        parts = path.relative_to(root).parts[:-1]
        if _parse_name(path.stem) and _tokens(parts, ROLE_TOKENS):
            return True
    return False
