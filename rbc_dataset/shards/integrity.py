"""What makes a build folder checkable: the card's own checksums, and a reader of README.md's header that never crashes.

Trust runs from ``dataset.json`` outwards (docs/SHARDS.md, "What verify checks"): it lists the SHA-256 of
every shard and of every other file of the build (README.md, splits, reports, manifest), and protects its own
content with ``integrity.sections``: the SHA-256 of each top-level value as canonical JSON. README.md cannot
hold its own checksum, and the two cards cannot hold each other's, so ``dataset.json`` is the root; its file
checksum, published beside the dataset, pins everything. ``rbc_dataset/dataset_card.py`` reads and writes it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from rbc_dataset.errors import DataError
from rbc_dataset.fileio import sha256_bytes, sha256_file

INTEGRITY = "integrity"
SHARD_FOLDERS = ("data", "hdf5")  # every file under these must be a shard that dataset.json lists
METHOD = "sha256 of each top-level value as JSON with sorted keys, separators (',', ':'), UTF-8"
REBUILD = "rebuild with rbc-dataset build --overwrite, or restore the file from the original build"
# The header block as Hugging Face reads it (huggingface_hub's card parser): --- lines, either line ending.
YAML_BLOCK = re.compile(r"^\s*---[\r\n]+([\S\s]*?)[\r\n]+---(?:\r\n|\n|$)")


def canonical_sha256(value) -> str:
    """SHA-256 of ``value`` as canonical JSON: equal for equal content however the file is indented."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return sha256_bytes(text.encode("utf-8"))


def section_checksums(document: dict) -> dict[str, str]:
    """``{top-level key: canonical_sha256(value)}`` of every field of ``dataset.json`` but the checksums."""
    return {key: canonical_sha256(value) for key, value in sorted(document.items()) if key != INTEGRITY}


def seal(document: dict) -> dict:
    """``document`` as it reads back from JSON, with its ``integrity`` section added."""
    plain = json.loads(json.dumps(document, default=str))  # checksums over what a reader will see
    plain[INTEGRITY] = {"method": METHOD, "sections": section_checksums(plain)}
    return plain


def edited_sections(document: dict) -> tuple[list[str], str | None]:
    """The top-level fields of a card that differ from their build-time checksums, and a problem reading them."""
    integrity = document.get(INTEGRITY)
    sections = integrity.get("sections") if isinstance(integrity, dict) else None
    if not isinstance(sections, dict):
        return [], "no integrity.sections (the card's own checksums)"
    actual = section_checksums(document)
    changed = sorted(k for k in set(actual) | set(sections) if actual.get(k) != sections.get(k))
    return changed, None


def file_checksums(folder: Path) -> dict[str, str]:
    """SHA-256 of every file of a build folder but ``dataset.json`` and the shards (listed with their configs).

    Hidden top-level entries (the build's scratch folder) are not part of the build.
    """
    folder = Path(folder)
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder)
        top = relative.parts[0]
        if top in SHARD_FOLDERS or top.startswith(".") or top == "dataset.json":
            continue
        files[relative.as_posix()] = sha256_file(path)
    return files


def read_readme_header(folder: Path) -> dict:
    """The YAML header of a build's ``README.md`` as a mapping; a DataError naming what is wrong otherwise."""
    path = Path(folder) / "README.md"
    if not path.is_file():
        raise DataError(path, "the dataset card written by rbc-dataset build", "no README.md", REBUILD)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        found = f"bytes that are not UTF-8 (byte {exc.start} is 0x{data[exc.start]:02x})"
        raise DataError(path, "a UTF-8 dataset card", found, REBUILD) from exc
    block = YAML_BLOCK.match(text)
    if block is None:
        raise DataError(path, "a card starting with a YAML header between --- lines", "no YAML header", REBUILD)
    try:
        header = yaml.safe_load(block.group(1))
    except yaml.YAMLError as exc:
        found = "invalid YAML (" + " ".join(str(exc).split()) + ")"
        raise DataError(path, "a YAML header between --- lines", found, REBUILD) from exc
    if not isinstance(header, dict):
        raise DataError(path, "a YAML header holding a mapping", f"a {type(header).__name__}", REBUILD)
    return header
