"""File names that hurt (issue 11 §3, §5): names that are not UTF-8, and duplicate ids that once let
validate-masks exit 0 and build use whichever file came first."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from rbc_dataset.errors import DataError
from rbc_dataset.ingestion import ingest
from rbc_dataset.manifest import read_manifest
from tests.helpers import tree_hashes
from tests.helpers.small_data import anerbc_copy, class_folders, files_under, run_cli

BUILD = ("--folds", "0", "--no-audit", "--workers", "1", "--formats", "parquet", "--split-ratios", "1,0,0")


def _bad_name(folder: Path, source: Path) -> bytes:
    """Copy ``source`` into ``folder`` under the name b"bad\\xff.png" (Linux names are bytes; this is no UTF-8)."""
    target = os.path.join(os.fsencode(folder), b"bad\xff.png")
    shutil.copyfile(source, target)
    return target


def test_a_name_that_is_not_utf8_is_named_and_left_out(synthetic_root: Path, tmp_path: Path) -> None:
    root = class_folders(synthetic_root, tmp_path / "root", {"anemic": (0,), "healthy": (2,)})
    _bad_name(root / "healthy" / "images", root / "healthy" / "images" / "x0.png")
    result = ingest(root, out=tmp_path / "m.parquet", workers=1, show_progress=False)
    issue = next(i for i in result.issues if i.code == "file_name_not_utf8")
    assert issue.severity == "warning" and issue.path == "healthy/images/bad\\xff.png"
    assert "b'healthy/images/bad\\xff.png'" in issue.found and "rename" in issue.fix
    report = json.loads(result.report_path.read_text())
    assert {"path": "healthy/images/bad\\xff.png", "reason": "the file name is not valid UTF-8"} in report[
        "unrecognised_files"
    ]
    assert len(read_manifest(result.manifest_path)) == 2


def test_cli_ingest_and_validate_name_the_file(synthetic_root: Path, tmp_path: Path) -> None:
    """Once a UnicodeEncodeError traceback from pyarrow, with the file not named."""
    root = class_folders(synthetic_root, tmp_path / "root", {"anemic": (0,), "healthy": (2,)})
    _bad_name(root / "healthy" / "images", root / "healthy" / "images" / "x0.png")
    before = tree_hashes(root)
    code, output = run_cli("ingest", str(root), "--out", str(tmp_path / "out" / "m.parquet"))
    assert code == 0 and "1 warnings" in output
    code, output = run_cli("validate-masks", str(root), "--out", str(tmp_path / "out" / "v"))
    assert code == 0, output
    document = json.loads((tmp_path / "out/v/validate-masks.json").read_text())
    assert any(i["code"] == "file_name_not_utf8" for i in document["ingest_issues"])
    assert tree_hashes(root) == before and files_under(tmp_path) - files_under(tmp_path / "out") == files_under(root)


def test_a_root_that_is_not_utf8_is_a_clear_error(synthetic_root: Path, tmp_path: Path) -> None:
    root = os.path.join(os.fsencode(tmp_path), b"data\xff")
    os.mkdir(root)
    with pytest.raises(DataError, match=r"data\\xff: expected a folder whose path is UTF-8"):
        ingest(Path(os.fsdecode(root)), out=tmp_path / "m.parquet", show_progress=False)


def _duplicate(top: Path, how: str) -> None:
    images = top / "Anemic_individuals" / "Original_images"
    if how == "unpadded":
        shutil.copyfile(images / "002_a.png", images / "1_a.png")
    elif how == "upper_case":
        shutil.copyfile(images / "002_a.png", images / "001_a.PNG")
    else:  # a second copy of the dataset under the same root
        shutil.copytree(top, top.parent / "copy" / "AneRBC-I")


@pytest.mark.parametrize("how", ["unpadded", "upper_case", "two_copies"])
def test_duplicate_ids_name_their_sample(synthetic_root: Path, tmp_path: Path, how: str) -> None:
    top = anerbc_copy(synthetic_root, tmp_path / "root")
    _duplicate(top, how)
    result = ingest(tmp_path / "root", out=tmp_path / "m.parquet", workers=1, show_progress=False)
    duplicates = [i for i in result.issues if i.code == "duplicate_file"]
    assert duplicates and all(i.severity == "error" and i.sample_id for i in duplicates)
    assert "anerbc1_a_001" in {i.sample_id for i in duplicates}
    problems = read_manifest(result.manifest_path).set_index("sample_id")["problems"]
    assert "duplicate_file" in list(problems["anerbc1_a_001"])


def test_duplicates_stop_validate_and_build(synthetic_root: Path, tmp_path: Path) -> None:
    top = anerbc_copy(synthetic_root, tmp_path / "root")
    _duplicate(top, "unpadded")
    root, out = tmp_path / "root", tmp_path / "out"
    before = tree_hashes(root)
    code, output = run_cli("validate-masks", str(root), "--out", str(out / "v"))
    assert code == 1, output
    findings = json.loads((out / "v/validate-masks.json").read_text())["findings"]
    assert [(f["code"], f["severity"], f["sample_id"]) for f in findings if f["code"] == "duplicate_file"] == [
        ("duplicate_file", "error", "anerbc1_a_001")
    ]
    code, output = run_cli("ingest", str(root), "--out", str(out / "m.parquet"))
    assert code == 1
    code, output = run_cli("validate-masks", str(out / "m.parquet"), "--out", str(out / "v2"))
    assert code == 1 and "duplicate_file" in (out / "v2/validate-masks.json").read_text()  # from m.report.json
    code, output = run_cli("build", str(root), "--out", str(out / "b"), *BUILD)
    assert code == 1 and "duplicate_file (1)" in output and not (out / "b").exists()
    code, output = run_cli("build", str(root), "--out", str(out / "b"), *BUILD, "--allow-invalid")
    assert code == 0, output
    excluded = json.loads((out / "b/dataset.json").read_text())["validation"]["excluded_samples"]
    assert excluded == [{"reason": "duplicate_file", "sample_id": "anerbc1_a_001"}]  # never "the first file"
    assert tree_hashes(root) == before


def test_a_manifest_with_a_broken_report_is_a_clear_error(synthetic_root: Path, tmp_path: Path) -> None:
    root = class_folders(synthetic_root, tmp_path / "root", {"anemic": (0,), "healthy": (2,)})
    ingest(root, out=tmp_path / "m.parquet", workers=1, show_progress=False)
    (tmp_path / "m.report.json").write_text('{"issues": [{"code": 1}]')
    code, output = run_cli("validate-masks", str(tmp_path / "m.parquet"), "--out", str(tmp_path / "v"))
    assert code == 1 and "m.report.json: expected the JSON report written by `rbc-dataset ingest`" in output
    (tmp_path / "m.report.json").unlink()  # a manifest copied without its report: nothing to add
    code, output = run_cli("validate-masks", str(tmp_path / "m.parquet"), "--out", str(tmp_path / "v"))
    assert code == 0, output
