"""Every layout variant seen in the wild, the generic folder and CSV layouts, and the issues they raise."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from rbc_dataset.errors import DataError
from rbc_dataset.ingestion import ingest
from rbc_dataset.manifest import read_manifest

CLASS_DIRS = {"a": "Anemic_individuals", "h": "Healthy_individuals"}
RELEASE_ROLES = ("Original_images", "Binary_segmented", "RGB_segmented", "CBC_reports", "Morphology_reports")


def _copy_release(src: Path, dest_for) -> None:
    """Copy AneRBC-I files of the synthetic release to ``dest_for(class_suffix, role_folder, name)``."""
    for suffix, class_dir in CLASS_DIRS.items():
        for role in RELEASE_ROLES:
            for file in sorted((src / "AneRBC_dataset/AneRBC-I" / class_dir / role).iterdir()):
                target = dest_for(suffix, role, file.name)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(file, target)


def _ingest(root: Path, tmp_path: Path, **kwargs):
    result = ingest(root, out=tmp_path / "out" / "manifest.parquet", show_progress=False, **kwargs)
    return read_manifest(result.manifest_path).set_index("sample_id"), result


def _assert_complete(df: pd.DataFrame, roles=("image", "mask", "rgb_mask", "cbc", "morphology")) -> None:
    assert sorted(df.index) == ["anerbc1_a_001", "anerbc1_a_002", "anerbc1_h_001", "anerbc1_h_002"]
    assert list(df.loc[["anerbc1_a_001", "anerbc1_h_001"], "label"]) == [1, 0]
    for role in roles:
        assert df[f"{role}_path"].notna().all(), role


def test_kaggle_root_with_spaces_and_periods(synthetic_root: Path, tmp_path: Path) -> None:
    top = tmp_path / "data" / "AneRBC dataset v1.2 (Kaggle upload)" / "AneRBC_dataset" / "AneRBC-I"
    _copy_release(synthetic_root, lambda s, role, name: top / CLASS_DIRS[s] / role / name)
    df, result = _ingest(tmp_path / "data", tmp_path)
    _assert_complete(df)
    assert not [i for i in result.issues if i.severity != "info"]


def test_capitalised_folder_names(synthetic_root: Path, tmp_path: Path) -> None:
    names = {
        "Original_images": "Original_Images",
        "Binary_segmented": "Binary_Segmented",
        "RGB_segmented": "RGB_Segmented",
        "CBC_reports": "CBC_Reports",
        "Morphology_reports": "Morphology_Reports",
    }
    top = tmp_path / "data" / "AneRBC-I"
    _copy_release(synthetic_root, lambda s, role, name: top / CLASS_DIRS[s] / names[role] / name)
    df, _ = _ingest(tmp_path / "data", tmp_path)
    _assert_complete(df)


def test_class_folders_under_the_kind_folder(synthetic_root: Path, tmp_path: Path) -> None:
    top = tmp_path / "data" / "AneRBC-I"
    classes = {"a": "anemic", "h": "healthy"}
    _copy_release(synthetic_root, lambda s, role, name: top / role / classes[s] / name)
    df, _ = _ingest(tmp_path / "data", tmp_path)
    _assert_complete(df)


def test_older_reports_tree(synthetic_root: Path, tmp_path: Path) -> None:
    top = tmp_path / "data"
    report_dirs = {"CBC_reports": "CBC", "Morphology_reports": "Morphology"}
    classes = {"a": "Anemic", "h": "Healthy"}

    def dest(s, role, name):
        if role in report_dirs:
            return top / "Reports" / classes[s] / report_dirs[role] / name
        return top / "AneRBC-I" / CLASS_DIRS[s] / role / name

    _copy_release(synthetic_root, dest)
    df, _ = _ingest(top, tmp_path)
    _assert_complete(df)
    assert df.loc["anerbc1_a_001", "cbc_path"].startswith("Reports/Anemic/CBC/")


def test_pre_split_folders(synthetic_root: Path, tmp_path: Path) -> None:
    top = tmp_path / "data"
    split_of = {"001": "train", "002": "test"}
    _copy_release(
        synthetic_root, lambda s, role, name: top / split_of[name[:3]] / "AneRBC-I" / CLASS_DIRS[s] / role / name
    )
    df, _ = _ingest(top, tmp_path)
    _assert_complete(df)
    assert df.loc["anerbc1_a_001", "split"] == "train" and df.loc["anerbc1_h_002", "split"] == "test"


def test_masks_of_anaemic_and_healthy_with_the_same_number_stay_apart(synthetic_root: Path, tmp_path: Path) -> None:
    top = tmp_path / "data" / "AneRBC-I"
    _copy_release(synthetic_root, lambda s, role, name: top / CLASS_DIRS[s] / role / name)
    df, _ = _ingest(tmp_path / "data", tmp_path)
    assert df.loc["anerbc1_a_001", "image_sha256"] != df.loc["anerbc1_h_001", "image_sha256"]


def test_class_conflict_duplicate_orphan_report_and_unrecognised(synthetic_root: Path, tmp_path: Path) -> None:
    top = tmp_path / "data" / "AneRBC-I"
    _copy_release(synthetic_root, lambda s, role, name: top / CLASS_DIRS[s] / role / name)
    shutil.copyfile(
        top / "Healthy_individuals/Original_images/001_h.png", top / "Anemic_individuals/Original_images/003_h.png"
    )
    (top / "Anemic_individuals/Original_Images").mkdir()
    shutil.copyfile(
        top / "Anemic_individuals/Original_images/001_a.png", top / "Anemic_individuals/Original_Images/001_a.png"
    )
    (top / "Anemic_individuals/CBC_reports/099_a.txt").write_text("Test,Result/Units,Norm. Range\n")
    (top / "README.txt").write_text("notes")
    _, result = _ingest(tmp_path / "data", tmp_path)
    codes = {(i.code, i.severity) for i in result.issues}
    assert {("class_conflict", "error"), ("duplicate_file", "error"), ("orphan_report", "warning")} <= codes
    import json

    report = json.loads(result.report_path.read_text())
    assert any(u["path"] == "AneRBC-I/README.txt" for u in report["unrecognised_files"])


def test_generic_folder_layout_with_mask_folders(synthetic_root: Path, tmp_path: Path) -> None:
    top = tmp_path / "own"
    for s, cls in (("a", "anemic"), ("h", "healthy")):
        for name in ("001", "002"):
            src = synthetic_root / "AneRBC_dataset/AneRBC-I" / CLASS_DIRS[s]
            (top / cls / "images").mkdir(parents=True, exist_ok=True)
            (top / cls / "masks").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src / "Original_images" / f"{name}_{s}.png", top / cls / "images" / f"smear {name}.png")
            shutil.copyfile(src / "Binary_segmented" / f"{name}_{s}.png", top / cls / "masks" / f"smear {name}.png")
    df, result = _ingest(top, tmp_path)
    assert result.layout == "folder" and len(df) == 4
    row = df.loc["folder_anemic_smear_001"]
    assert row["label"] == 1 and row["mask_path"] == "anemic/masks/smear 001.png" and row["group_id"] == row.name
    assert df.loc["folder_healthy_smear_002", "label"] == 0


def test_generic_folder_layout_with_mask_suffix_and_splits(tmp_path: Path, synthetic_root: Path) -> None:
    src = synthetic_root / "AneRBC_dataset/AneRBC-I/Anemic_individuals"
    top = tmp_path / "own"
    (top / "train" / "normal").mkdir(parents=True)
    shutil.copyfile(src / "Original_images/001_a.png", top / "train/normal/x1.png")
    shutil.copyfile(src / "Binary_segmented/001_a.png", top / "train/normal/x1_mask.png")
    shutil.copyfile(src / "Original_images/002_a.png", top / "train/normal/x2.png")
    df, result = _ingest(top, tmp_path)
    assert len(df) == 2 and df.loc["folder_train_normal_x1", "mask_path"] == "train/normal/x1_mask.png"
    assert df.loc["folder_train_normal_x1", "split"] == "train"
    assert any(i.code == "missing_mask" and i.sample_id == "folder_train_normal_x2" for i in result.issues)


def test_metadata_csv_layout_with_groups(synthetic_root: Path, tmp_path: Path) -> None:
    src = synthetic_root / "AneRBC_dataset/AneRBC-I"
    csv = tmp_path / "own" / "meta.csv"
    csv.parent.mkdir()
    rows = [
        (
            "Anemic_individuals/Original_images/001_a.png",
            "Anemic_individuals/Binary_segmented/001_a.png",
            "anaemic",
            "p1",
        ),
        ("Healthy_individuals/Original_images/001_h.png", "", "healthy", "p2"),
    ]
    lines = ["image,mask,class,group"] + [f"{src / i},{src / m if m else ''},{c},{g}" for i, m, c, g in rows]
    csv.write_text("\n".join(lines) + "\n")
    # The files lie outside ROOT (own/): that needs saying so (test_hostile_csv.py checks the refusal).
    df, result = _ingest(tmp_path / "own", tmp_path, metadata=csv, allow_outside_root=True)
    assert result.layout == "csv" and len(df) == 2
    assert set(df["group_id"]) == {"p1", "p2"}
    assert df.loc["folder_anaemic_001_a", "label"] == 1 and pd.isna(df.loc["folder_healthy_001_h", "mask_path"])


def test_metadata_csv_with_wrong_columns(tmp_path: Path) -> None:
    csv = tmp_path / "meta.csv"
    csv.write_text("file,diagnosis\nx.png,healthy\n")
    with pytest.raises(DataError, match="columns image and class"):
        ingest(tmp_path, out=tmp_path.parent / "m.parquet", metadata=csv, show_progress=False)


def test_metadata_csv_with_missing_files(tmp_path: Path) -> None:
    csv = tmp_path / "data" / "meta.csv"
    csv.parent.mkdir()
    csv.write_text("image,class\nnot_there.png,healthy\n")
    _, result = _ingest(tmp_path / "data", tmp_path, metadata=csv)
    issue = next(i for i in result.issues if i.code == "missing_image")
    assert issue.severity == "error" and "row 2" in issue.path
