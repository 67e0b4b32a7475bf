"""A build is published: no file in it names the folders of the machine that built it.

Reports that validate-masks, the audit and ingest write for a local user name files as that user wants them,
some by absolute path. Inside a build every such path is rewritten once, here, before the cards are sealed:
a path under the source root becomes ``<root folder name>/<path below it>`` (the root itself by its folder
name only), a path inside the build becomes relative to the build. ``leftover_paths`` then looks for any of
those folders in every file of the build, in the spellings a report can give them (plain, JSON-escaped, HTML-
or Markdown-escaped, inside Parquet columns and metadata, HDF5 attributes and ids), and a build that still names
one fails: a new report that quotes a path cannot reach a published card unnoticed.
"""

from __future__ import annotations

import html
import io
import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from rbc_dataset.errors import DataError
from rbc_dataset.fileio import atomic_write_bytes
from rbc_dataset.markup import md_text
from rbc_dataset.shards.integrity import SHARD_FOLDERS

TEXT_SUFFIXES = {".md", ".html", ".csv", ".yaml", ".yml", ".txt"}
# A folder name starts a path only where no path character precedes it ("/data" inside "x/data" is not one).
_BEFORE = r"(?<![\w.~/\\-])"
_AFTER = r"(?:(/)|(?![\w.-]))"  # followed by "/" (a path below it) or by no further name character
ESCAPES = (lambda s: s, lambda s: html.escape(s, quote=False), html.escape, md_text)  # spellings in reports


@dataclass(frozen=True)
class _Spelling:
    needle: str  # the folder as one report spelling writes it
    pattern: re.Pattern
    below: str  # what "<folder>/" becomes
    alone: str  # what "<folder>" alone becomes


@dataclass(frozen=True)
class PathNames:
    """Absolute folders of the builder's machine and what each becomes in the build ("" = the build itself)."""

    names: tuple[tuple[str, str], ...]  # (folder, replacement), longest folder first

    @cached_property
    def _spellings(self) -> list[tuple[str, _Spelling]]:
        spellings = []
        for folder, name in self.names:
            for escape in ESCAPES:
                needle = escape(folder)
                pattern = re.compile(_BEFORE + re.escape(needle) + _AFTER)
                spellings.append(
                    (folder, _Spelling(needle, pattern, escape(name) + "/" if name else "", escape(name) or "."))
                )
        return spellings

    def rewrite(self, text: str) -> str:
        """``text`` with every one of the folders replaced (a path below it stays below its replacement)."""
        for _, spelling in self._spellings:
            if spelling.needle in text:  # a substring test first: most strings name no folder
                text = spelling.pattern.sub(lambda m, s=spelling: s.below if m.group(1) else s.alone, text)
        return text

    def rewrite_json(self, value):
        """A JSON-like value (dicts, lists, strings ...) with ``rewrite`` applied to every string in it."""
        return _strings(value, self.rewrite)

    def find(self, text: str) -> str | None:
        """The first folder that ``text`` still names, in any of the spellings, or None."""
        for folder, spelling in self._spellings:
            if spelling.needle in text and spelling.pattern.search(text):
                return folder
        return None


def path_names(roots, build: Path, *, out: Path, files=(), scratch: Path | None = None) -> PathNames:
    """The folders to hide: source roots (-> their folder name), the build's own folders (-> relative), and
    single input files such as a ``--splits`` table (-> their file name).

    Args:
        roots: the source roots the manifest's paths are relative to.
        build: the folder being written (the build's temporary folder).
        out: the build's final folder.
        files: other input files whose paths reports may quote.
        scratch: the build's working folder (removed at the end): its files stand for the build's own copies.
    """
    names: dict[str, str] = {}
    for path, name in [*((Path(r), Path(r).name) for r in roots), *((Path(f), Path(f).name) for f in files)]:
        if not name:  # "/" has no name to stand for it; replacing it would cut every absolute path
            continue
        for form in filter(_names_a_place, {str(path), str(path.resolve()), path.as_posix()}):
            names.setdefault(form, name)
    for folder in (Path(build), Path(out), *([Path(scratch)] if scratch is not None else [])):
        for form in filter(_names_a_place, {str(folder), str(folder.resolve())}):
            names[form] = ""
    return PathNames(tuple(sorted(names.items(), key=lambda item: -len(item[0]))))


def _names_a_place(form: str) -> bool:
    """Whether a spelling says where a folder lies: absolute, or with a parent. A bare relative name (``--out ds``)
    says nothing about the builder's machine, and searching for it would find ordinary words ("ds" in "builds")."""
    return Path(form).is_absolute() or len(Path(form).parts) > 1


def _strings(value, rewrite):
    """A JSON value with ``rewrite`` applied to every string in it (keys included)."""
    if isinstance(value, str):
        return rewrite(value)
    if isinstance(value, list | tuple):
        return [_strings(v, rewrite) for v in value]
    if isinstance(value, dict):
        return {rewrite(k): _strings(v, rewrite) for k, v in value.items()}
    return value


def _parquet(data: bytes, rewrite) -> bytes:
    """A Parquet file with ``rewrite`` applied to its string columns, list-of-string columns and metadata.

    The same bytes when nothing changes (a file whose checksum was taken stays as it is).
    """
    table = pq.read_table(pa.BufferReader(data))
    columns = []
    for column in table.columns:
        kind = column.type
        is_text = pa.types.is_string(kind) or (pa.types.is_list(kind) and pa.types.is_string(kind.value_type))
        columns.append(pa.array(_strings(column.to_pylist(), rewrite), kind) if is_text else column)
    meta = {k: rewrite(v.decode()).encode() for k, v in (table.schema.metadata or {}).items()}
    published = pa.table(columns, schema=table.schema.with_metadata(meta))
    if published.equals(table) and meta == (table.schema.metadata or {}):
        return data
    sink = io.BytesIO()
    pq.write_table(published, sink, compression="zstd")
    return sink.getvalue()


def publish_file(path: Path, names: PathNames) -> None:
    """Rewrite the paths in one JSON, text or Parquet file (other files are left as they are)."""
    suffix = path.suffix.lower()
    data = path.read_bytes()
    if suffix == ".json":
        document = json.loads(data)
        published = _strings(document, names.rewrite)
        new = data if published == document else (json.dumps(published, indent=1) + "\n").encode()
    elif suffix in TEXT_SUFFIXES:
        new = names.rewrite(data.decode("utf-8")).encode("utf-8")
    elif suffix == ".parquet":
        new = _parquet(data, names.rewrite)
    else:
        return
    if new != data:
        atomic_write_bytes(path, new)


def _files(folder: Path):
    """Every file of the build but the shards (which hold sample data, never paths) and hidden scratch."""
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        top = path.relative_to(folder).parts[0]
        if top not in SHARD_FOLDERS and not top.startswith("."):
            yield path


def publish_folder(folder: Path, names: PathNames) -> None:
    """Rewrite the paths in every JSON, text and Parquet file of a build (shards and hidden scratch excepted)."""
    for path in _files(folder):
        publish_file(path, names)


def leftover_paths(folder: Path, names: PathNames) -> list[str]:
    """``"<file>: <folder>"`` for every file of the build that still names one of the folders, in any spelling.

    Shards are searched too: Parquet column values and metadata, HDF5 attributes, every other byte as text.
    """
    found = []
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        texts = [path.read_bytes().decode("utf-8", "replace")] if path.suffix not in (".h5", ".parquet") else []
        if path.suffix == ".json":  # as a reader sees it: "\u00e9" is an é
            texts.append(json.dumps(json.loads(path.read_bytes()), ensure_ascii=False))
        if path.suffix == ".parquet":  # every column but the images (a PNG holds no path)
            schema = pq.read_schema(path)
            columns = [f.name for f in schema if not (pa.types.is_struct(f.type) or pa.types.is_binary(f.type))]
            texts.append(json.dumps(pq.read_table(path, columns=columns).to_pylist(), default=str, ensure_ascii=False))
            texts += [v.decode("utf-8", "replace") for v in (schema.metadata or {}).values()]
        if path.suffix == ".h5":
            texts += _hdf5_text(path)
        where = next((hit for text in texts if (hit := names.find(text))), None)
        if where is not None:
            found.append(f"{path.relative_to(folder).as_posix()}: {where}")
    return found


def _hdf5_text(path: Path) -> list[str]:
    import h5py

    with h5py.File(path, "r") as handle:
        values = [str(v) for v in handle.attrs.values()]
        for name in ("sample_id", "parent_id", "group_id"):
            if name in handle:
                values += handle[name].asstr()[()].tolist()
    return values


def check_published(folder: Path, names: PathNames) -> None:
    """Refuse a build that still names one of the builder's folders (a report that escaped ``publish_folder``)."""
    found = leftover_paths(folder, names)
    if found:
        raise DataError(
            Path(folder) / found[0].split(": ")[0],
            "no path of the machine that built it (paths relative to the source root)",
            f"{len(found)} files naming one, e.g. {found[0]}",
            "report this as a bug of rbc-dataset build",
        )
