"""The release fingerprint of ingest: names and counts per release folder, known checksums, and a verdict that is
a fact about the input (partial, modified, not the release), never an error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from cli import dataset_app
from rbc_dataset.ingestion import ingest
from rbc_dataset.ingestion.release import KNOWN_SHA256, expected_names
from tests.helpers import REALDATA, tree_hashes

runner = CliRunner()


def _layout(root: Path, names: dict[tuple[str, str], list[str]]) -> Path:
    """Tiny PNGs at ``AneRBC_dataset/AneRBC-I/<class folder>/<role folder>/<name>``."""
    rng = np.random.default_rng(0)
    for (class_folder, role_folder), files in names.items():
        folder = root / "AneRBC_dataset" / "AneRBC-I" / class_folder / role_folder
        folder.mkdir(parents=True, exist_ok=True)
        for name in files:
            cv2.imwrite(str(folder / name), rng.integers(0, 256, (12, 16, 3), np.uint8))
    return root


def _release(result) -> dict:
    return json.loads(result.report_path.read_text())["release"]


def test_release_names_with_files_missing_are_a_partial_release(tmp_path: Path) -> None:
    names = [f"{n:03d}_a.png" for n in (10, 11, 12)]  # numbers without a known checksum
    root = _layout(tmp_path / "in", {(c, r): names for c in ["Anemic_individuals"] for r in ["Original_images"]})
    before = tree_hashes(root)
    result = ingest(root, out=tmp_path / "m.parquet", show_progress=False)
    release = _release(result)
    assert release == result.release and release["verdict"] == "partial"
    assert release["summary"].startswith("partial release (3 of 43,000 release files present, 0 extra")
    folder = next(f for f in release["folders"] if f["folder"].endswith("AneRBC-I/Anemic_individuals/Original_images"))
    assert (folder["expected"], folder["found"], folder["missing"]["count"]) == (500, 3, 497)
    assert folder["missing"]["names"][:2] == ["001_a.png", "002_a.png"] and folder["extra"]["count"] == 0
    assert len(release["folders"]) == 20 and release["checksums"]["compared"] == 0
    assert tree_hashes(root) == before


def test_a_name_the_release_lacks_is_an_extra_file(tmp_path: Path) -> None:
    root = _layout(tmp_path / "in", {("Healthy_individuals", "Binary_segmented"): ["020_h.png", "501_h.png"]})
    (root / "AneRBC_dataset" / "AneRBC-I" / "Healthy_individuals" / "Original_images").mkdir()
    for name in ("020_h.png", "501_h.png"):  # images for the masks, so both are samples
        shutil.copy(root / "AneRBC_dataset/AneRBC-I/Healthy_individuals/Binary_segmented" / name,
                    root / "AneRBC_dataset/AneRBC-I/Healthy_individuals/Original_images" / name)  # fmt: skip
    release = _release(ingest(root, out=tmp_path / "m.parquet", show_progress=False))
    assert release["verdict"] == "modified" and "2 extra" in release["summary"]
    masks = next(f for f in release["folders"] if f["folder"].endswith("Healthy_individuals/Binary_segmented"))
    assert masks["extra"] == {"count": 1, "names": ["501_h.png"]} and masks["found"] == 2


def test_synthetic_and_own_folders_are_not_the_release(synthetic_root: Path, tmp_path: Path) -> None:
    release = _release(ingest(synthetic_root, out=tmp_path / "s.parquet", show_progress=False))
    assert release["verdict"] == "not_release" and "synthetic" in release["summary"]
    own = tmp_path / "own" / "healthy"
    own.mkdir(parents=True)
    cv2.imwrite(str(own / "x.png"), np.zeros((8, 8, 3), np.uint8))
    release = _release(ingest(tmp_path / "own", out=tmp_path / "f.parquet", show_progress=False))
    assert release["verdict"] == "not_release" and set(release) == {"reference", "verdict", "summary"}
    assert release["summary"] == "not the official release: a folder layout, not the AneRBC release layout"


def test_expected_names_follow_the_release() -> None:
    assert expected_names("I", "anemic", role="image")[:2] == ["001_a.png", "002_a.png"]
    assert len(expected_names("II", "healthy", role="mask")) == 6000
    assert expected_names("II", "healthy", role="mask")[-1] == "0500_12_h.png"
    assert (
        expected_names("II", "anemic", role="cbc")[0] == "0001_a.txt"
        and len(expected_names("I", "anemic", role="cbc")) == 500
    )


def test_cli_prints_one_release_line(tmp_path: Path) -> None:
    root = _layout(tmp_path / "in", {("Anemic_individuals", "Original_images"): ["010_a.png"]})
    result = runner.invoke(dataset_app, ["ingest", str(root), "--out", str(tmp_path / "m.parquet")])
    assert result.exit_code == 0 and "Traceback" not in result.output
    assert "release check: partial release (1 of 43,000" in " ".join(result.output.split())


# ------------------------------------------------------------------------------------------------- real data


@pytest.mark.realdata
def test_the_real_sample_matches_the_known_release_checksums(tmp_path: Path) -> None:
    result = ingest(REALDATA / "AneRBC-I", out=tmp_path / "m.parquet", show_progress=False)
    release = _release(result)
    assert release["checksums"] == {"known": 16, "compared": 16, "matched": 16, "mismatched": []}
    assert release["verdict"] == "partial" and release["summary"].startswith("partial release (16 of 43,000")


@pytest.mark.realdata
def test_a_tampered_copy_of_a_real_file_is_named(tmp_path: Path) -> None:
    copy = tmp_path / "AneRBC-I"
    shutil.copytree(REALDATA / "AneRBC-I", copy)
    tampered = copy / "Healthy_individuals" / "Binary_segmented" / "003_h.png"
    tampered.write_bytes(tampered.read_bytes() + b"\0")  # one byte more after IEND: decoders still read it
    release = _release(ingest(copy, out=tmp_path / "m.parquet", show_progress=False))
    assert (
        release["verdict"] == "modified" and "15 of 16 files with a known release checksum match" in release["summary"]
    )
    [mismatch] = release["checksums"]["mismatched"]
    assert mismatch["file"] == "Healthy_individuals/Binary_segmented/003_h.png"
    assert mismatch["release_sha256"] == KNOWN_SHA256[("I", "healthy", "mask", "003_h.png")] != mismatch["found_sha256"]
