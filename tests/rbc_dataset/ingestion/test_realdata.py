"""Ingest of the real AneRBC-I sample in ../shared/realdata (skipped when absent)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from rbc_dataset.ingestion import ingest
from rbc_dataset.manifest import read_manifest

pytestmark = pytest.mark.realdata


def test_real_anerbc_pairs_are_indexed_with_their_classes(realdata: Path, tmp_path: Path) -> None:
    root = realdata / "AneRBC-I"
    result = ingest(root, out=tmp_path / "manifest.parquet", show_progress=False)
    df = read_manifest(result.manifest_path).set_index("sample_id")
    assert result.layout == "anerbc" and len(df) == 8
    assert df["image_path"].notna().all() and df["mask_path"].notna().all()  # 16 files
    assert (df["width"] == 1224).all() and (df["height"] == 960).all()
    assert (df["mask_mode"] == "RGB").all() and not df["synthetic"].any()
    labels = pd.read_csv(root / "labels.csv").set_index("filename")["label"]
    for sample_id, row in df.iterrows():
        assert row["label"] == labels[Path(row["image_path"]).name], sample_id
    assert sorted(df.index) == [f"anerbc1_{c}_00{n}" for c in "ah" for n in range(1, 5)]
    report = json.loads(result.report_path.read_text())
    assert report["issue_counts"]["error"] == 0
    assert {"path": "labels.csv", "reason": report["unrecognised_files"][0]["reason"]} in report["unrecognised_files"]


def test_chula_as_a_folder_layout_reports_png_named_jpg(realdata: Path, tmp_path: Path) -> None:
    result = ingest(realdata / "Chula-RBC-12-Dataset", out=tmp_path / "m.parquet", show_progress=False)
    df = read_manifest(result.manifest_path).set_index("sample_id")
    assert result.layout == "folder" and len(df) >= 27
    mismatched = {i.path for i in result.issues if i.code == "extension_mismatch"}
    assert {"Dataset/707.jpg", "Dataset/709.jpg"} <= mismatched
    assert df.loc["folder_dataset_707", "image_format"] == "png"
    report = json.loads(result.report_path.read_text())
    assert any(u["path"].startswith("Label/") for u in report["unrecognised_files"])  # point labels are listed


def test_bccd_as_a_folder_layout(realdata: Path, tmp_path: Path) -> None:
    result = ingest(realdata / "BCCD_Dataset", out=tmp_path / "m.parquet", show_progress=False)
    df = read_manifest(result.manifest_path)
    assert len(df) == 15 and (df["image_format"] == "jpeg").all() and (df["width"] == 640).all()
