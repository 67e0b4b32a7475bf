"""Split leakage: parents, groups, duplicate clusters and shared CBC reports across splits."""

from __future__ import annotations

import pandas as pd
import pytest

from rbc_dataset.auditing import audit
from rbc_dataset.auditing.splits import check_splits, manifest_splits, read_splits
from rbc_dataset.errors import DataError
from rbc_dataset.sources import load_source
from tests.helpers.audit import FAST

TEST_PARENTS = {"anerbc1_a_002", "anerbc1_h_002"}


def _grouped_split(rows: pd.DataFrame, path, moved: dict[str, str] | None = None):
    """A split by parent (AneRBC-II tiles follow their parent), then ``moved`` samples put elsewhere."""
    split = rows["parent_id"].map(lambda p: "test" if p in TEST_PARENTS else "train")
    table = pd.DataFrame({"sample_id": rows["sample_id"], "split": split})
    for sample_id, name in (moved or {}).items():
        table.loc[table["sample_id"] == sample_id, "split"] = name
    table.to_csv(path, index=False)
    return path


def _leaks(result, code):
    return [i for i in result.issues if i.code == code]


@pytest.fixture(scope="module")
def tile_rows(synthetic_root):
    return load_source(synthetic_root).rows


def test_tile_in_another_split_than_its_parent_is_a_leak(synthetic_root, tile_rows, tmp_path):
    splits = _grouped_split(tile_rows, tmp_path / "splits.csv", {"anerbc2_a_0001_05": "test"})
    result = audit(synthetic_root, out_dir=tmp_path / "out", splits=splits, config=FAST, show_progress=False)
    (issue,) = _leaks(result, "split_leak_parent")
    assert issue.severity == "error" and issue.sample_id == "anerbc1_a_001"
    assert "test (1): anerbc2_a_0001_05" in issue.found and "train (12)" in issue.found
    assert result.summary["splits"]["leaks"]["parent"] == 1


def test_grouped_split_passes(synthetic_root, tile_rows, tmp_path):
    splits = _grouped_split(tile_rows, tmp_path / "splits.csv")
    result = audit(synthetic_root, out_dir=tmp_path / "out", splits=splits, config=FAST, show_progress=False)
    assert not [i for i in result.issues if i.code.startswith("split")]
    counts = {(r["split"], r["class_name"]): r["samples"] for r in _report_tables(result)["splits"]["class_counts"]}
    assert counts == {
        ("test", "anemic"): 13,
        ("test", "healthy"): 13,
        ("train", "anemic"): 13,
        ("train", "healthy"): 13,
    }


def _report_tables(result):
    import json

    return json.loads(result.report_path.read_text())["tables"]


def test_duplicates_and_shared_reports_across_splits(planted_root, tmp_path):
    rows = load_source(planted_root).rows
    moved = {"anerbc1_a_001": "train", "anerbc1_h_011": "test", "anerbc1_a_003": "train", "anerbc1_h_003": "test"}
    splits = _grouped_split(rows, tmp_path / "splits.csv", moved)
    result = audit(planted_root, out_dir=tmp_path / "out", splits=splits, config=FAST, show_progress=False)
    duplicate_leaks = _leaks(result, "split_leak_duplicate")
    assert len(duplicate_leaks) == 2  # the exact copy (001_a/011_h) and the JPEG copy (002_a in test, 011_a in train)
    assert any("anerbc1_a_001" in i.found and "anerbc1_h_011" in i.found for i in duplicate_leaks)
    assert any("anerbc1_a_002" in i.found and "anerbc1_a_011" in i.found for i in duplicate_leaks)
    (cbc_leak,) = _leaks(result, "split_leak_cbc")
    assert cbc_leak.severity == "warning" and "anerbc1_h_003" in cbc_leak.found
    assert not _leaks(result, "split_leak_parent")


def test_unknown_and_missing_ids_are_reported(tile_rows):
    table = pd.DataFrame({"sample_id": [*tile_rows["sample_id"][:-2], "nope_1"], "split": "train"})
    findings = check_splits(tile_rows, table, source="splits.csv", duplicates=[], shared_cbc=[])
    codes = {i.code: i for i in findings.issues}
    assert findings.unknown_ids == ["nope_1"] and len(findings.missing_ids) == 2
    assert "1 unknown ids: nope_1" in codes["splits_unknown_sample"].found
    assert "2 samples without a split" in codes["splits_missing_sample"].found


def test_sample_in_two_splits_is_a_conflict(tile_rows):
    ids = list(tile_rows["sample_id"])
    table = pd.DataFrame({"sample_id": [*ids, ids[0]], "split": ["train"] * len(ids) + ["test"]})
    findings = check_splits(tile_rows, table, source="splits.csv", duplicates=[], shared_cbc=[])
    (issue,) = [i for i in findings.issues if i.code == "splits_conflict"]
    assert issue.severity == "error" and ids[0] in issue.found


def _never_read_images(*args, **kwargs):
    raise AssertionError("the audit read images before checking its splits file")


def test_splits_file_without_split_column_is_a_clear_error(synthetic_root, tmp_path, monkeypatch):
    path = tmp_path / "splits.csv"
    path.write_text("sample_id,fold\nanerbc1_a_001,0\n")
    monkeypatch.setattr("rbc_dataset.auditing.run.compute_features", _never_read_images)
    with pytest.raises(DataError, match="missing split") as error:
        audit(synthetic_root, out_dir=tmp_path / "out", splits=path, config=FAST, show_progress=False)
    assert "sample_id,split" in str(error.value)  # refused before reading any image
    assert not (tmp_path / "out").exists()


def test_splits_file_formats(tmp_path):
    frame = pd.DataFrame({"Sample_ID": ["a", "b", "c"], "split": ["train", " test ", ""]})
    frame.to_parquet(tmp_path / "s.parquet")
    table = read_splits(tmp_path / "s.parquet")
    assert table.to_dict("list") == {"sample_id": ["a", "b"], "split": ["train", "test"]}
    (tmp_path / "s.json").write_text("{}")
    with pytest.raises(DataError, match="csv"):
        read_splits(tmp_path / "s.json")
    with pytest.raises(DataError, match="no such file"):
        read_splits(tmp_path / "missing.csv")


def test_pre_split_release_is_checked_from_the_manifest(tile_rows):
    rows = tile_rows.copy()
    assert manifest_splits(rows) is None  # no split folders: nothing to check
    rows["split"] = rows["parent_id"].map(lambda p: "test" if p in TEST_PARENTS else "train")
    rows.loc[rows["sample_id"] == "anerbc2_h_0001_03", "split"] = "test"
    findings = check_splits(rows, manifest_splits(rows), source="manifest split column", duplicates=[], shared_cbc=[])
    assert [(leak["kind"], leak["unit"]) for leak in findings.leaks] == [("parent", "anerbc1_h_001")]
