"""Labels are never silently wrong (issue 11 §3): healthy = 0 and anaemic = 1 whatever else lies under the root;
unknown class names are errors until mapped; folders that only hold images are unlabelled, and build leaves
unlabelled samples out instead of writing them as class 0."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from rbc_dataset.errors import DataError, UsageError
from rbc_dataset.ingestion import ingest
from rbc_dataset.ingestion.classes import parse_class_map
from rbc_dataset.manifest import read_manifest
from tests.helpers import tree_hashes
from tests.helpers.small_data import class_folders, run_cli, write_pair

BUILD = ("--folds", "0", "--no-audit", "--workers", "1", "--formats", "parquet", "--split-ratios", "1,0,0")


def _labels(root: Path, tmp_path: Path, **kwargs):
    result = ingest(root, out=tmp_path / "out" / "m.parquet", workers=1, show_progress=False, **kwargs)
    df = read_manifest(result.manifest_path)
    pairs = zip(df["class_name"], df["label"], strict=True)
    return {(name, None if pd.isna(label) else int(label)) for name, label in pairs}, result


def _two_classes(synthetic_root: Path, tmp_path: Path) -> Path:
    return class_folders(synthetic_root, tmp_path / "root", {"anemic": (0, 1), "healthy": (2, 3)})


def test_known_names_keep_0_and_1_next_to_a_stray_file(synthetic_root: Path, tmp_path: Path) -> None:
    root = _two_classes(synthetic_root, tmp_path)
    cv2.imwrite(str(root / "preview.png"), np.zeros((8, 8, 3), np.uint8))
    labels, result = _labels(root, tmp_path)
    assert labels == {("anemic", 1), ("healthy", 0)}
    report = json.loads(result.report_path.read_text())
    stray = [u for u in report["unrecognised_files"] if u["path"] == "preview.png"]
    assert stray and "outside every class folder" in stray[0]["reason"]


def test_an_unknown_class_folder_is_an_error_and_never_renumbers(synthetic_root: Path, tmp_path: Path) -> None:
    root = _two_classes(synthetic_root, tmp_path)
    write_pair(synthetic_root, 1, root / "ida" / "images" / "y.png", root / "ida" / "masks" / "y.png")
    labels, result = _labels(root, tmp_path)
    assert labels == {("anemic", 1), ("healthy", 0), ("ida", None)}
    unknown = [i for i in result.issues if i.code == "unknown_class"]
    assert len(unknown) == 1 and unknown[0].severity == "error" and unknown[0].path == "ida/images/"
    assert "--class-map 'ida=healthy'" in unknown[0].fix


def test_a_class_map_labels_other_names(synthetic_root: Path, tmp_path: Path) -> None:
    root = class_folders(synthetic_root, tmp_path / "root", {"Normal RBC": (2,), "ida": (0,), "anemic": (1,)})
    labels, result = _labels(root, tmp_path, class_map="normal_rbc=healthy,IDA=1,typo=anaemic")
    assert labels == {("Normal RBC", 0), ("ida", 1), ("anemic", 1)}
    assert [i.code for i in result.issues if i.severity != "info"] == ["class_map_unused"]


def test_the_map_can_say_unlabelled(synthetic_root: Path, tmp_path: Path) -> None:
    root = class_folders(synthetic_root, tmp_path / "root", {"healthy": (2,), "misc": (0,)})
    labels, _ = _labels(root, tmp_path, class_map="misc=unlabelled")
    assert labels == {("healthy", 0), ("unlabelled", None)}


@pytest.mark.parametrize(
    ("name", "text"),
    [("map.yaml", "normal_rbc: healthy\nida: 1\n"), ("map.csv", "name,class\nnormal_rbc,healthy\nida,anaemic\n")],
)
def test_class_map_files(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)
    assert parse_class_map(tmp_path / name).labels == {"normalrbc": 0, "ida": 1}


@pytest.mark.parametrize(
    ("value", "error", "phrase"),
    [
        ("ida=sick", UsageError, "valid values: healthy, anaemic"),
        ("ida", UsageError, "is not NAME=VALUE"),
        ("missing.yaml", UsageError, "does not exist"),
    ],
)
def test_bad_class_maps_are_usage_errors(value: str, error: type, phrase: str) -> None:
    with pytest.raises(error, match=phrase):
        parse_class_map(value)


def test_a_class_map_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text("- healthy\n- anaemic\n")
    with pytest.raises(DataError, match="a YAML mapping"):
        parse_class_map(tmp_path / "m.yaml")


def test_image_only_folders_are_unlabelled_not_healthy(synthetic_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    write_pair(synthetic_root, 0, root / "Dataset" / "1.png")
    write_pair(synthetic_root, 2, root / "BCCD" / "JPEGImages" / "2.png")
    labels, result = _labels(root, tmp_path)
    assert labels == {("unlabelled", None)} and not [i for i in result.issues if i.severity == "error"]


def test_a_flat_folder_of_images_is_unlabelled(synthetic_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    write_pair(synthetic_root, 0, root / "a.png")
    write_pair(synthetic_root, 2, root / "b.png")
    labels, _ = _labels(root, tmp_path)
    assert labels == {("unlabelled", None)}


def test_csv_class_column_uses_the_same_rules(synthetic_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    for i, name in enumerate(("a", "b", "c", "d")):
        write_pair(synthetic_root, i, root / f"{name}.png")
    (root / "meta.csv").write_text("image,label\na.png,1\nb.png,0\nc.png,ida\nd.png,\n")
    labels, result = _labels(root, tmp_path, metadata=root / "meta.csv")
    assert labels == {("1", 1), ("0", 0), ("ida", None), ("unlabelled", None)}
    unknown = [i for i in result.issues if i.code == "unknown_class"]
    assert [u.path for u in unknown] == ["meta.csv rows 4"]
    labels, result = _labels(root, tmp_path, metadata=root / "meta.csv", class_map="ida=anaemic")
    assert ("ida", 1) in labels and not [i for i in result.issues if i.code == "unknown_class"]


def test_cli_unknown_class_then_class_map(synthetic_root: Path, tmp_path: Path) -> None:
    root = _two_classes(synthetic_root, tmp_path)
    write_pair(synthetic_root, 1, root / "ida" / "images" / "y.png", root / "ida" / "masks" / "y.png")
    before = tree_hashes(root)
    code, output = run_cli("ingest", str(root), "--out", str(tmp_path / "m.parquet"))
    assert code == 1 and "unknown_class" in output
    code, output = run_cli("ingest", str(root), "--class-map", "ida=anaemic", "--out", str(tmp_path / "m.parquet"))
    assert code == 0, output
    code, output = run_cli("ingest", str(root), "--class-map", "ida=sick", "--out", str(tmp_path / "m.parquet"))
    assert code == 2 and "valid values" in output
    assert tree_hashes(root) == before


def test_build_never_writes_unlabelled_samples_as_class_0(synthetic_root: Path, tmp_path: Path) -> None:
    """A stray preview.png once made anemic 0 and healthy 1 in the shards; an image-only folder became class 0."""
    root = class_folders(synthetic_root, tmp_path / "root", {"anemic": (0,), "healthy": (2, 3), "Dataset": (1,)})
    cv2.imwrite(str(root / "preview.png"), np.zeros((8, 8, 3), np.uint8))
    out = tmp_path / "build"
    code, output = run_cli("build", str(root), "--out", str(out), *BUILD)
    assert code == 0, output
    card = json.loads((out / "dataset.json").read_text())
    assert card["class_names"] == ["healthy", "anemic"]
    excluded = card["validation"]["excluded_samples"]
    assert [e["sample_id"] for e in excluded] == ["folder_dataset_x0"] and "unlabelled" in excluded[0]["reason"]
    shards = sorted((out / "data").rglob("*.parquet"))
    rows = [row for shard in shards for row in pq.read_table(shard, columns=["sample_id", "label"]).to_pylist()]
    labels = {row["sample_id"]: row["label"] for row in rows}
    assert labels == {"folder_anemic_x0": 1, "folder_healthy_x0": 0, "folder_healthy_x1": 0}


def test_build_of_only_unlabelled_samples_is_refused(synthetic_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    write_pair(synthetic_root, 0, root / "Dataset" / "images" / "1.png", root / "Dataset" / "masks" / "1.png")
    code, output = run_cli("build", str(root), "--out", str(tmp_path / "build"), *BUILD)
    assert code == 1 and "no sample with a class" in output and "--class-map" in output


@pytest.mark.realdata
def test_real_layouts_are_unlabelled_or_unknown_never_healthy(realdata: Path, tmp_path: Path) -> None:
    labels, result = _labels(realdata / "Chula-RBC-12-Dataset", tmp_path / "chula")
    assert ("unlabelled", None) in labels and all(label is None for _, label in labels)
    unknown = sorted(i.path for i in result.issues if i.code == "unknown_class")
    assert len(unknown) == 5 and all(p.startswith("RBC Diseases/") for p in unknown)
    labels, _ = _labels(realdata / "BCCD_Dataset", tmp_path / "bccd")
    assert labels == {("unlabelled", None)}
