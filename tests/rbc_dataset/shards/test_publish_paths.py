"""publish.py on its own: which spellings of the builder's folders are rewritten or found, and which are not."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rbc_dataset.errors import DataError
from rbc_dataset.shards.publish import check_published, leftover_paths, path_names, publish_folder


def test_a_folder_is_replaced_only_where_a_path_starts() -> None:
    names = path_names([Path("/data")], Path("/out/.b.partial-1"), out=Path("/out/b"))
    assert names.rewrite("/data/AneRBC_dataset/x.png: found none") == "data/AneRBC_dataset/x.png: found none"
    assert names.rewrite("root /data") == "root data"
    assert names.rewrite("AneRBC_dataset/data/x.png and /database/y") == "AneRBC_dataset/data/x.png and /database/y"
    assert names.rewrite("/out/.b.partial-1/reports/audit.json in /out/b") == "reports/audit.json in ."
    assert path_names([Path("/")], Path("/o/.p"), out=Path("/o/p")).rewrite("/etc/x") == "/etc/x"  # "/" has no name


def test_escaped_spellings_are_rewritten_and_found(tmp_path: Path) -> None:
    root = tmp_path / "A & B [v1]" / "données"
    names = path_names([root], tmp_path / ".build.partial", out=tmp_path / "build")
    folder = tmp_path / "build-files"
    (folder / "reports").mkdir(parents=True)
    escaped = str(root).replace("&", "&amp;")
    (folder / "reports" / "r.html").write_text(f"<td>{escaped}/x.png</td>")
    (folder / "reports" / "r.md").write_text(str(root).replace("[", "\\[").replace("]", "\\]").replace("&", "&amp;"))
    (folder / "reports" / "r.json").write_text(json.dumps({"path": f"{root}/x.png"}))  # ASCII-escaped é
    table = pa.table({"root": [str(root)]}).replace_schema_metadata({"rbc_dataset.root": str(root)})
    pq.write_table(table, folder / "manifest.parquet")
    found = leftover_paths(folder, names)
    assert [f.split(":")[0] for f in found] == ["manifest.parquet", "reports/r.html", "reports/r.json", "reports/r.md"]
    with pytest.raises(DataError, match="report this as a bug"):
        check_published(folder, names)
    publish_folder(folder, names)
    assert leftover_paths(folder, names) == []
    assert (folder / "reports" / "r.html").read_text() == "<td>données/x.png</td>"
    assert json.loads((folder / "reports" / "r.json").read_text()) == {"path": "données/x.png"}
    published = pq.read_table(folder / "manifest.parquet")
    assert published.column("root").to_pylist() == ["données"]
    assert published.schema.metadata[b"rbc_dataset.root"] == "données".encode()


def test_a_bare_relative_output_name_is_not_a_path_to_hide(tmp_path: Path, monkeypatch) -> None:
    # `rbc-dataset build m.parquet --out ds`: "ds" alone says nothing about the machine; hiding it flagged any
    # standalone "ds" in the build's files and stopped the build as a bug.
    monkeypatch.chdir(tmp_path)
    names = path_names([tmp_path / "data"], tmp_path / ".ds.partial-1", out=Path("ds"))
    assert "ds" not in dict(names.names)
    assert names.find("column ds: 3 values") is None
    assert names.find(f"{tmp_path}/ds/README.md") == str(tmp_path / "ds")  # its absolute spelling is still hidden
