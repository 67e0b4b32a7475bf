"""Planted ground-truth defects: every type is listed, and each one is really in the files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rbc_dataset.fileio import read_image, sniff_format
from rbc_dataset.synth.defects import DEFECT_TYPES


@pytest.fixture(scope="module")
def planted(defective_root: Path) -> pd.DataFrame:
    return pd.read_csv(defective_root / "synthetic_truth/defects.csv", keep_default_na=False)


def _rows(planted: pd.DataFrame, defect: str) -> pd.DataFrame:
    rows = planted[(planted["defect"] == defect) & (planted["detail"] != "partner of a swap")]
    assert len(rows), f"no {defect} planted"
    return rows


def _mask_of(root: Path, file: str) -> Path:
    return root / file.replace("Original_images", "Binary_segmented")


def test_every_defect_type_is_listed(planted: pd.DataFrame) -> None:
    assert set(planted["defect"]) == set(DEFECT_TYPES)
    assert planted["sample_id"].str.match(r"anerbc[12]_[ah]_\d+").all()


def test_each_sample_gets_at_most_one_defect_when_partners_are_free(planted: pd.DataFrame) -> None:
    assert planted["sample_id"].is_unique


def test_missing_and_orphan_masks(defective_root: Path, planted: pd.DataFrame) -> None:
    for file in _rows(planted, "missing_mask")["file"]:
        assert not (defective_root / file).exists()
    for file in _rows(planted, "orphan_mask")["file"]:
        assert not (defective_root / file).exists() and _mask_of(defective_root, file).exists()


def test_truncated_files_are_cut(defective_root: Path, clean_twin_root: Path, planted: pd.DataFrame) -> None:
    for file in _rows(planted, "truncated_file")["file"]:
        assert (defective_root / file).stat().st_size == int((clean_twin_root / file).stat().st_size * 0.6)


def test_jpeg_masks_are_jpeg_bytes_under_a_png_name(defective_root: Path, planted: pd.DataFrame) -> None:
    for file in _rows(planted, "jpeg_mask")["file"]:
        assert file.endswith(".png") and sniff_format((defective_root / file).read_bytes()[:16]) == "jpeg"


@pytest.mark.parametrize("defect", ["size_mismatch", "inverted_polarity", "flipped_mask", "empty_mask", "shifted_mask"])
def test_mask_edits(defective_root: Path, clean_twin_root: Path, planted: pd.DataFrame, defect: str) -> None:
    for row in _rows(planted, defect).itertuples():
        broken, clean = read_image(defective_root / row.file), read_image(clean_twin_root / row.file)
        if defect == "size_mismatch":
            assert broken.shape == (clean.shape[0] - 16, clean.shape[1] - 10)
        elif defect == "inverted_polarity":
            assert np.array_equal(broken, 255 - clean)
        elif defect == "flipped_mask":
            assert np.array_equal(broken, np.flipud(clean)) or np.array_equal(broken, np.fliplr(clean))
        elif defect == "empty_mask":
            assert broken.max() == 0  # binary style: background is 0
        else:
            dy, dx = (int(part.split("=")[1]) for part in row.detail.split(","))
            assert max(abs(dy), abs(dx)) >= 5
            inner = (slice(20, -20), slice(20, -20))
            assert np.array_equal(broken[inner], np.roll(clean, (dy, dx), axis=(0, 1))[inner])


def test_swapped_masks_trade_places(defective_root: Path, clean_twin_root: Path, planted: pd.DataFrame) -> None:
    rows = _rows(planted, "swapped_mask")
    partners = planted[planted["detail"] == "partner of a swap"].set_index("sample_id")
    for row in rows.itertuples():
        other = partners.loc[row.partner_id, "file"]
        assert (defective_root / row.file).read_bytes() == (clean_twin_root / other).read_bytes()
        assert (defective_root / other).read_bytes() == (clean_twin_root / row.file).read_bytes()


def test_duplicate_images_copy_their_partner(
    defective_root: Path, clean_twin_root: Path, planted: pd.DataFrame
) -> None:
    planted_ids = dict(zip(planted["sample_id"], planted["file"], strict=True))
    for row in _rows(planted, "duplicate_image").itertuples():
        source = next(
            p
            for p in (clean_twin_root / "AneRBC_dataset").rglob("*.png")
            if "Original_images" in p.parts and _sample_id_of(p) == row.partner_id
        )
        assert (defective_root / row.file).read_bytes() == source.read_bytes()
        assert row.partner_id not in planted_ids or planted_ids[row.partner_id] != row.file


def _sample_id_of(path: Path) -> str:
    parts = path.stem.split("_")
    if len(parts) == 2:
        return f"anerbc1_{parts[1]}_{int(parts[0]):03d}"
    return f"anerbc2_{parts[2]}_{int(parts[0]):04d}_{int(parts[1]):02d}"


def test_cbc_reuse_copies_whole_reports(tmp_path: Path) -> None:
    from rbc_dataset.synth.config import SynthConfig
    from rbc_dataset.synth.generate import synthesize

    synthesize(SynthConfig(n_images=3, seed=5, cbc_reuse=0.6, with_tiles=False), tmp_path / "d", show_progress=False)
    reused = pd.read_csv(tmp_path / "d/synthetic_truth/cbc_reuse.csv")
    assert len(reused) >= 1
    for row in reused.itertuples():
        assert _cbc_text(tmp_path / "d", row.sample_id) == _cbc_text(tmp_path / "d", row.copied_from)


def _cbc_text(root: Path, sample_id: str) -> str:
    _, suffix, number = sample_id.split("_")
    folder = "Anemic_individuals" if suffix == "a" else "Healthy_individuals"
    return (root / "AneRBC_dataset/AneRBC-I" / folder / "CBC_reports" / f"{number}_{suffix}.txt").read_text()
