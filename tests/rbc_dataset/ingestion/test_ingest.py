"""rbc-dataset ingest on the synthetic default: rows, ids, tiles, checksums, reports, defects, errors."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pandas as pd
import pytest

from rbc_dataset.errors import DataError, UsageError
from rbc_dataset.ingestion import ingest
from rbc_dataset.manifest import absolute_path, read_manifest
from rbc_dataset.synth.config import SynthConfig
from rbc_dataset.synth.generate import synthesize
from tests.helpers import tree_hashes


@pytest.fixture(scope="module")
def manifest(synthetic_root: Path, tmp_path_factory) -> tuple[pd.DataFrame, object]:
    result = ingest(synthetic_root, out=tmp_path_factory.mktemp("m") / "manifest.parquet", show_progress=False)
    return read_manifest(result.manifest_path), result


def test_one_row_per_sample_with_stable_ids(manifest) -> None:
    df, result = manifest
    assert result.layout == "anerbc" and len(df) == 4 + 48
    assert df["sample_id"].is_unique
    assert {"anerbc1_a_001", "anerbc1_h_002", "anerbc2_a_0001_05", "anerbc2_h_0002_12"} <= set(df["sample_id"])
    assert result.counts == {"AneRBC-I": {"anemic": 2, "healthy": 2}, "AneRBC-II": {"anemic": 24, "healthy": 24}}


def test_classes_parents_and_groups(manifest) -> None:
    df, _ = manifest
    tile = df.set_index("sample_id").loc["anerbc2_h_0002_07"]
    assert tile["class_name"] == "healthy" and tile["label"] == 0 and tile["source"] == "AneRBC-II"
    assert tile["parent_id"] == "anerbc1_h_002" == tile["group_id"]
    full = df.set_index("sample_id").loc["anerbc1_a_001"]
    assert full["label"] == 1 and full["parent_id"] == "anerbc1_a_001" and pd.isna(full["tile_index"])


def test_tile_order_is_detected_and_boxes_filled(manifest) -> None:
    df, result = manifest
    assert result.tile_order.order == "row-major" and result.tile_order.exact
    tile = df.set_index("sample_id").loc["anerbc2_a_0001_06"]
    assert (tile["tile_row"], tile["tile_col"], tile["tile_x"], tile["tile_y"]) == (1, 1, 306, 320)


def test_column_major_tiles_are_detected(tmp_path: Path) -> None:
    data = tmp_path / "cm"
    synthesize(SynthConfig(n_images=1, seed=4, tile_order="column-major"), data, show_progress=False)
    result = ingest(data, out=tmp_path / "m.parquet", show_progress=False)
    assert result.tile_order.order == "column-major" and result.tile_order.how == "detected"
    tile = read_manifest(result.manifest_path).set_index("sample_id").loc["anerbc2_a_0001_02"]
    assert (tile["tile_row"], tile["tile_col"]) == (1, 0)


def test_checksums_sizes_and_formats(manifest) -> None:
    df, _ = manifest
    for row in df.head(6).itertuples():
        row = df.loc[row.Index]
        for role in ("image", "mask", "rgb_mask", "cbc", "morphology"):
            path = absolute_path(row, role)
            assert hashlib.sha256(path.read_bytes()).hexdigest() == row[f"{role}_sha256"]
        assert row["image_format"] == "png" and row["mask_format"] == "png"
    assert set(df.loc[df["source"] == "AneRBC-I", "width"]) == {1224}
    assert set(df.loc[df["source"] == "AneRBC-II", "height"]) == {320}


def test_cbc_morphology_and_truth_are_attached(manifest) -> None:
    df, _ = manifest
    assert df["cbc_HGB"].notna().all() and df["cbc_raw"].str.startswith("Test,").all()
    assert df["morphology_keywords"].map(len).gt(0).all()
    assert df["synthetic"].all()
    anemic = df[df["class_name"] == "anemic"]
    assert anemic["severity"].isin(["mild", "chronic"]).all() and (anemic["severity_source"] == "synthetic_truth").all()
    assert df.loc[df["class_name"] == "healthy", "severity"].isna().all()
    assert df["instances_path"].notna().all()


def test_report_lists_sidecars_and_no_issues_on_clean_data(manifest) -> None:
    _, result = manifest
    import json

    report = json.loads(result.report_path.read_text())
    assert report["schema_version"] == 1 and report["issue_counts"]["error"] == 0
    assert "synthetic_truth/defects.csv" in report["sidecar_files"]
    assert report["unrecognised_files"] == []


def test_planted_defects_are_reported(defective_root: Path, tmp_path: Path) -> None:
    planted = pd.read_csv(defective_root / "synthetic_truth/defects.csv", keep_default_na=False)
    result = ingest(defective_root, out=tmp_path / "m.parquet", show_progress=False)
    found = {(i.code, i.sample_id) for i in result.issues}
    for row in planted.itertuples():
        if row.defect == "missing_mask":
            assert ("missing_mask", row.sample_id) in found
        elif row.defect == "orphan_mask":
            assert ("missing_image", row.sample_id) in found
        elif row.defect == "truncated_file":
            assert ("unreadable_file", row.sample_id) in found
    jpeg = planted[planted["defect"] == "jpeg_mask"]["sample_id"]
    df = read_manifest(result.manifest_path).set_index("sample_id")
    assert (df.loc[jpeg, "mask_format"] == "jpeg").all()  # sniffed from bytes, not the .png name
    sizes = planted[planted["defect"] == "size_mismatch"]["sample_id"]
    assert (df.loc[sizes, "mask_width"] != df.loc[sizes, "width"]).all()


def test_inputs_are_never_modified(synthetic_root: Path, tmp_path: Path) -> None:
    before = tree_hashes(synthetic_root)
    ingest(synthetic_root, out=tmp_path / "m.parquet", show_progress=False)
    assert tree_hashes(synthetic_root) == before


def test_missing_root_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="nothing at this path"):
        ingest(tmp_path / "nope", out=tmp_path / "m.parquet", show_progress=False)


def test_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="an empty folder"):
        ingest(tmp_path / "empty", out=tmp_path / "m.parquet", show_progress=False)


def test_folder_without_images_names_what_it_found(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match=r"no usable samples among 1 files \(1 \.txt\)"):
        ingest(tmp_path / "docs", out=tmp_path / "m.parquet", show_progress=False)


def test_unreadable_file_is_named(synthetic_root: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(synthetic_root / "AneRBC_dataset/AneRBC-I", data / "AneRBC-I")
    broken = data / "AneRBC-I/Healthy_individuals/Original_images/002_h.png"
    broken.write_bytes(b"this is not a png at all")
    result = ingest(data, out=tmp_path / "m.parquet", show_progress=False)
    issue = next(i for i in result.issues if i.code == "unreadable_file")
    assert issue.severity == "error" and issue.path.endswith("Original_images/002_h.png")
    assert "not an image" in issue.found and issue.sample_id == "anerbc1_h_002"
    row = read_manifest(result.manifest_path).set_index("sample_id").loc["anerbc1_h_002"]
    assert list(row["problems"]) == ["unreadable_file"]


def test_output_inside_the_input_is_refused(synthetic_root: Path) -> None:
    with pytest.raises(UsageError, match="inside the input"):
        ingest(synthetic_root, out=synthetic_root / "manifest.parquet", show_progress=False)


def test_read_manifest_refuses_other_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        read_manifest(tmp_path / "missing.parquet")
    other = tmp_path / "other.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(other)
    with pytest.raises(DataError, match="without it"):
        read_manifest(other)
