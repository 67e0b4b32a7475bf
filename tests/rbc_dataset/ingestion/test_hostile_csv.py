"""A hostile metadata CSV (issue 11 §2, §5): files outside ROOT, ids that are paths or HTML, one mask for two
rows, empty tables. Inputs stay byte-identical and nothing is written outside the chosen output."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from rbc_dataset.errors import DataError
from rbc_dataset.ingestion import ingest, metadata_csv
from rbc_dataset.manifest import read_manifest
from tests.helpers import tree_hashes
from tests.helpers.small_data import files_under, run_cli, write_pair


def _own(synthetic_root: Path, tmp_path: Path) -> Path:
    """ROOT with a.png + a_mask.png (anaemic) and h.png + h_mask.png (healthy); the user's mask_a.png outside."""
    root = tmp_path / "root"
    write_pair(synthetic_root, 0, root / "a.png", root / "a_mask.png")
    write_pair(synthetic_root, 2, root / "h.png", root / "h_mask.png")
    write_pair(synthetic_root, 1, root / "a2.png", tmp_path / "outside" / "mask_a.png")
    return root


def _ingest(root: Path, csv: Path, out: Path, **kwargs):
    return ingest(root, out=out / "m.parquet", metadata=csv, workers=1, show_progress=False, **kwargs)


@pytest.mark.parametrize("how", ["absolute", "relative", "link"])
def test_a_path_outside_the_root_is_refused(synthetic_root: Path, tmp_path: Path, how: str) -> None:
    root = _own(synthetic_root, tmp_path)
    outside = tmp_path / "outside" / "mask_a.png"
    value = {"absolute": str(outside), "relative": "../outside/mask_a.png", "link": "link.png"}[how]
    if how == "link":
        (root / "link.png").symlink_to(outside)
    (root / "meta.csv").write_text(f"image,mask,class\na2.png,{value},anaemic\nh.png,h_mask.png,healthy\n")
    with pytest.raises(DataError, match="1 paths outside it: row 2 mask") as caught:
        _ingest(root, root / "meta.csv", tmp_path / "out")
    assert "--allow-outside-root" in str(caught.value) and not (tmp_path / "out").exists()


def test_cli_refuses_then_fix_and_build_never_write_the_users_mask(synthetic_root: Path, tmp_path: Path) -> None:
    """The data-loss case: --fix and build once overwrote mask_a.png (an absolute path joined under the output)."""
    root = _own(synthetic_root, tmp_path)
    csv = root / "meta.csv"
    csv.write_text(f"image,mask,class\na2.png,{tmp_path / 'outside/mask_a.png'},anaemic\nh.png,h_mask.png,healthy\n")
    before, outside_before = tree_hashes(root), tree_hashes(tmp_path / "outside")
    out = tmp_path / "out"
    code, output = run_cli("ingest", str(root), "--metadata", str(csv), "--out", str(out / "m.parquet"))
    assert code == 1 and "paths outside it" in output and "--allow-outside-root" in output
    code, output = run_cli(
        "ingest", str(root), "--metadata", str(csv), "--allow-outside-root", "--out", str(out / "m.parquet")
    )
    assert code == 0, output
    code, output = run_cli("validate-masks", str(out / "m.parquet"), "--out", str(out / "v"), "--fix", str(out / "f"))
    assert code == 0, output
    provenance = pd.read_csv(out / "f/provenance.csv").set_index("sample_id")
    assert set(provenance["canonical_mask"]) == {"masks/folder_anaemic_a2.png", "masks/folder_healthy_h.png"}
    assert provenance.loc["folder_anaemic_a2", "source_mask"] == str(tmp_path / "outside/mask_a.png")
    args = ("--folds", "0", "--no-audit", "--workers", "1", "--split-ratios", "0.5,0,0.5")
    code, output = run_cli("build", str(out / "m.parquet"), "--out", str(out / "b"), *args)
    assert code == 0, output
    assert tree_hashes(root) == before and tree_hashes(tmp_path / "outside") == outside_before
    assert files_under(tmp_path) - files_under(out) == files_under(root) | files_under(tmp_path / "outside")


def test_unsafe_sample_ids_are_errors_naming_the_row(synthetic_root: Path, tmp_path: Path) -> None:
    root = _own(synthetic_root, tmp_path)
    csv = root / "meta.csv"
    csv.write_text(
        "image,mask,class,sample_id\na.png,a_mask.png,anaemic,../../../../X\n"
        "h.png,h_mask.png,healthy,<script>alert(1)</script>\na2.png,,anaemic,P-0002.v1\n"
    )
    result = _ingest(root, csv, tmp_path / "out")
    unsafe = [i for i in result.issues if i.code == "unsafe_sample_id"]
    assert [(i.severity, i.path) for i in unsafe] == [("error", "meta.csv row 2"), ("error", "meta.csv row 3")]
    assert "'../../../../X'" in unsafe[0].found and "left out" in unsafe[0].fix
    assert list(read_manifest(result.manifest_path)["sample_id"]) == ["P-0002.v1"]  # a safe id is kept as given


def test_unsafe_ids_stop_validate_and_nothing_lands_outside_the_output(synthetic_root: Path, tmp_path: Path) -> None:
    root = _own(synthetic_root, tmp_path)
    csv = root / "meta.csv"
    csv.write_text("image,mask,class,sample_id\na.png,a_mask.png,anaemic,../../../../X\nh.png,h_mask.png,healthy,\n")
    out = tmp_path / "out"
    before = tree_hashes(root)
    code, output = run_cli("ingest", str(root), "--metadata", str(csv), "--out", str(out / "m.parquet"))
    assert code == 1 and "unsafe_sample_id" in output
    deep = out / "a" / "b" / "c" / "v"
    code, output = run_cli("validate-masks", str(out / "m.parquet"), "--out", str(deep), "--fix", str(out / "f"))
    assert code == 1, output  # the ingest error is a validation error now
    inputs = files_under(root) | files_under(tmp_path / "outside")
    assert tree_hashes(root) == before and files_under(tmp_path) - files_under(out) == inputs


def test_every_row_refused_says_why(synthetic_root: Path, tmp_path: Path) -> None:
    root = _own(synthetic_root, tmp_path)
    (root / "meta.csv").write_text("image,class,sample_id\na.png,anaemic,<b>x</b>\n")
    with pytest.raises(DataError, match="unsafe_sample_id: meta.csv row 2"):
        _ingest(root, root / "meta.csv", tmp_path / "out")


def test_one_mask_named_by_two_rows(synthetic_root: Path, tmp_path: Path) -> None:
    """Once a FileNotFoundError in --fix and build (the second unlink of one canonical path)."""
    root = _own(synthetic_root, tmp_path)
    csv = root / "meta.csv"
    csv.write_text("image,mask,class\na.png,a_mask.png,anaemic\na2.png,a_mask.png,anaemic\nh.png,h_mask.png,healthy\n")
    out = tmp_path / "out"
    result = _ingest(root, csv, out)
    twice = {(i.path, i.sample_id) for i in result.issues if i.code == "file_named_twice" and i.severity == "error"}
    assert twice == {("meta.csv row 2", "folder_anaemic_a"), ("meta.csv row 3", "folder_anaemic_a2")}
    code, output = run_cli("validate-masks", str(out / "m.parquet"), "--out", str(out / "v"), "--fix", str(out / "f"))
    assert code == 1 and "file_named_twice" in (out / "v/validate-masks.json").read_text()
    skipped = pd.read_csv(out / "f/skipped.csv").set_index("sample_id")["reason"]
    assert {"folder_anaemic_a", "folder_anaemic_a2"} <= set(skipped.index)
    assert "file_named_twice" in skipped["folder_anaemic_a"]
    args = ("--folds", "0", "--no-audit", "--workers", "1", "--allow-invalid", "--split-ratios", "1,0,0")
    code, output = run_cli("build", str(out / "m.parquet"), "--out", str(out / "b"), *args)
    assert code == 0, output
    excluded = json.loads((out / "b/dataset.json").read_text())["validation"]["excluded_samples"]
    assert {e["sample_id"] for e in excluded} == {"folder_anaemic_a", "folder_anaemic_a2"}


def test_an_image_named_by_two_rows_and_one_row_image_equals_mask(synthetic_root: Path, tmp_path: Path) -> None:
    root = _own(synthetic_root, tmp_path)
    csv = root / "meta.csv"
    csv.write_text("image,mask,class,sample_id\na.png,a.png,anaemic,s1\na.png,,anaemic,s2\nh.png,,healthy,s3\n")
    result = _ingest(root, csv, tmp_path / "out")
    twice = sorted(i.sample_id for i in result.issues if i.code == "file_named_twice")
    assert twice == ["s1", "s1", "s2"]  # s1's image and mask are a.png, and so is s2's image


@pytest.mark.parametrize(
    ("text", "phrase"),
    [(b"", "found an empty file"), (b"image,mask,class\n", "found a header only"), (b"\xff\xfe\x00x", "readable CSV")],
)
def test_empty_and_header_only_csv_are_clear_errors(tmp_path: Path, text: bytes, phrase: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "meta.csv").write_bytes(text)
    code, output = run_cli(
        "ingest", str(root), "--metadata", str(root / "meta.csv"), "--out", str(tmp_path / "m.parquet")
    )
    assert code == 1 and phrase in output and "meta.csv" in output


def test_a_csv_over_the_size_cap_is_refused_unread(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(metadata_csv, "METADATA_MAX_BYTES", 100)
    root = tmp_path / "root"
    root.mkdir()
    (root / "meta.csv").write_text("image,class\n" + "x.png,healthy\n" * 20)
    with pytest.raises(DataError, match="at most 100 bytes"):
        ingest(root, out=tmp_path / "m.parquet", metadata=root / "meta.csv", show_progress=False)


def test_paths_no_file_system_can_hold_are_missing_files(synthetic_root: Path, tmp_path: Path) -> None:
    root = _own(synthetic_root, tmp_path)
    long_name = "x" * 5000 + ".png"
    (root / "meta.csv").write_text(f'image,class\n{long_name},healthy\n"a\x00.png",healthy\na.png,anaemic\n')
    result = _ingest(root, root / "meta.csv", tmp_path / "out")
    assert sorted(i.path for i in result.issues if i.code == "missing_image") == ["meta.csv row 2", "meta.csv row 3"]
