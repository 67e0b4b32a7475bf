"""validate-masks: every planted defect caught, clean data passes, every check has a broken and a clean case."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from rbc_dataset.errors import UsageError
from rbc_dataset.fileio import read_image, write_png
from rbc_dataset.synth.defects import EXPECTED_FINDING
from rbc_dataset.validate import ValidateConfig, validate_masks
from tests.helpers import tree_hashes


def _run(source: Path, tmp_path: Path, **kwargs):
    result = validate_masks(source, out_dir=tmp_path / "report", show_progress=False, **kwargs)
    document = json.loads(result.report_path.read_text())
    return result, document


def _codes(document: dict, sample_id: str | None = None, severity: str | None = None) -> set[str]:
    return {
        f["code"]
        for f in document["findings"]
        if (sample_id is None or f["sample_id"] == sample_id) and (severity is None or f["severity"] == severity)
    }


@pytest.fixture(scope="module")
def defective_report(defective_root: Path, tmp_path_factory):
    return _run(defective_root, tmp_path_factory.mktemp("v"))


def test_every_planted_defect_is_found(defective_root: Path, defective_report) -> None:
    _, document = defective_report
    planted = pd.read_csv(defective_root / "synthetic_truth/defects.csv", keep_default_na=False)
    for row in planted.itertuples():
        assert EXPECTED_FINDING[row.defect] in _codes(document, row.sample_id, "error"), (row.sample_id, row.defect)


def test_no_error_on_pairs_without_a_defect(defective_root: Path, defective_report) -> None:
    _, document = defective_report
    planted = pd.read_csv(defective_root / "synthetic_truth/defects.csv", keep_default_na=False)
    touched = set(planted["sample_id"]) | set(planted["partner_id"])
    wrongly = {f["sample_id"] for f in document["findings"] if f["severity"] == "error"} - touched
    assert not wrongly


def test_clean_synthetic_data_has_no_errors(synthetic_root: Path, tmp_path: Path) -> None:
    result, document = _run(synthetic_root, tmp_path)
    assert result.counts["error"] == 0, _codes(document, severity="error")
    assert "mask_near_binary" in _codes(document)  # the release-style encoding is still named
    assert document["dataset"]["majority_polarity"] == "cells_low"


def test_report_files_and_schema(defective_report) -> None:
    result, document = defective_report
    assert document["schema_version"] == 1 and document["n_samples"] == 52
    assert set(document["findings"][0]) >= {"code", "severity", "path", "expected", "found", "fix", "sample_id"}
    assert result.markdown_path.read_text().startswith("# validate-masks")
    thumbs = list(result.report_path.parent.glob("validate-masks_thumbs/*.png"))
    assert thumbs and "<img" in result.html_path.read_text()


def test_report_is_never_written_into_the_input(synthetic_root: Path) -> None:
    with pytest.raises(UsageError, match="inside the input"):
        validate_masks(synthetic_root, out_dir=synthetic_root / "reports", show_progress=False)


def _pair_folder(tmp_path: Path, synthetic_root: Path, name: str = "x") -> tuple[Path, np.ndarray, np.ndarray]:
    """A folder-layout dataset with one tile-sized pair cut from the synthetic data (clean binary mask)."""
    base = synthetic_root / "AneRBC_dataset/AneRBC-II/Healthy_individuals"
    image = read_image(base / "Original_images/0001_06_h.png")
    instances = read_image(synthetic_root / "synthetic_truth/AneRBC-II/Healthy_individuals/instances/0001_06_h.png")
    mask = np.where(instances > 0, 255, 0).astype(np.uint8)
    root = tmp_path / "own"
    (root / "healthy/images").mkdir(parents=True, exist_ok=True)
    (root / "healthy/masks").mkdir(parents=True, exist_ok=True)
    write_png(root / f"healthy/images/{name}.png", image)
    return root, image, mask


def _validate_mask(tmp_path: Path, synthetic_root: Path, edit, **config) -> dict:
    root, image, mask = _pair_folder(tmp_path, synthetic_root)
    edit(root / "healthy/masks/x.png", image, mask)
    _, document = _run(root, tmp_path, config=ValidateConfig(workers=1, **config))
    return document


def _write(path: Path, array: np.ndarray) -> None:
    write_png(path, array)


@pytest.mark.parametrize(
    "mask_of, kind",
    [
        (lambda m: m, "binary_0_255"),
        (lambda m: (m > 0).astype(np.uint8), "binary_0_1"),
        (lambda m: np.repeat(np.where(m > 0, 20, 255).astype(np.uint8)[..., None], 3, axis=2), "binary_other"),
    ],
)
def test_clean_binary_encodings_pass(tmp_path: Path, synthetic_root: Path, mask_of, kind: str) -> None:
    document = _validate_mask(tmp_path, synthetic_root, lambda p, i, m: _write(p, mask_of(m)))
    assert document["samples"][0]["encoding"] == kind
    assert not _codes(document, severity="error")
    assert "mask_near_binary" not in _codes(document)


def test_near_binary_and_multi_valued_masks_are_named(tmp_path: Path, synthetic_root: Path) -> None:
    def near(p, image, m):
        dimmed = (image.astype(np.float32) * 0.2).astype(np.uint8)
        _write(p, np.where(m[..., None] > 0, dimmed, 255).astype(np.uint8))

    document = _validate_mask(tmp_path, synthetic_root, near)
    assert {"mask_near_binary", "mask_channels_disagree"} <= _codes(document)
    ramp = np.tile(np.linspace(0, 255, 306).astype(np.uint8), (320, 1))
    document = _validate_mask(tmp_path / "b", synthetic_root, lambda p, i, m: _write(p, ramp))
    assert "mask_multi_valued" in _codes(document)


def test_alpha_palette_and_16bit_masks(tmp_path: Path, synthetic_root: Path) -> None:
    def alpha(p, i, m):
        Image.fromarray(np.dstack([m, m, m, np.full_like(m, 255)])).save(p)

    def palette(p, i, m):
        Image.fromarray(m).convert("P").save(p)

    def deep(p, i, m):
        cv2.imwrite(str(p), (m.astype(np.uint16) * 257))

    for edit, code in ((alpha, "mask_alpha"), (palette, "mask_palette"), (deep, "mask_16bit")):
        document = _validate_mask(tmp_path / code, synthetic_root, edit)
        assert code in _codes(document), code
        assert not _codes(document, severity="error"), code


def test_exif_orientation_that_differs(tmp_path: Path, synthetic_root: Path) -> None:
    root, image, mask = _pair_folder(tmp_path, synthetic_root)
    (root / "healthy/images/x.png").unlink()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(image).save(root / "healthy/images/x.jpg", quality=95, exif=exif)
    Image.fromarray(mask).save(root / "healthy/masks/x.png")
    _, document = _run(root, tmp_path)
    assert "exif_orientation_differs" in _codes(document)


def test_decompression_bomb_limit_and_non_images(tmp_path: Path, synthetic_root: Path) -> None:
    document = _validate_mask(tmp_path, synthetic_root, lambda p, i, m: _write(p, m), max_pixels=10_000)
    assert "too_many_pixels" in _codes(document, severity="error")
    document = _validate_mask(tmp_path / "b", synthetic_root, lambda p, i, m: p.write_text("not an image"))
    assert "not_an_image" in _codes(document, severity="error")


def test_specks_and_holes_are_counted(tmp_path: Path, synthetic_root: Path) -> None:
    def messy(p, i, m):
        m = m.copy()
        m[5:300:20, 5:290:20] = 255 - m[5:300:20, 5:290:20]  # single-pixel specks and holes
        _write(p, m)

    document = _validate_mask(tmp_path, synthetic_root, messy)
    stats = document["samples"][0]
    assert stats["specks"] >= 5 and stats["holes"] >= 5 and {"specks", "holes"} <= _codes(document, severity="warning")
    clean = _validate_mask(tmp_path / "b", synthetic_root, lambda p, i, m: _write(p, m))
    assert clean["samples"][0]["specks"] < 5 and "specks" not in _codes(clean)


def test_small_shift_is_tolerated_and_large_shift_caught(tmp_path: Path, synthetic_root: Path) -> None:
    for shift, caught in ((1, False), (6, True)):
        document = _validate_mask(
            tmp_path / str(shift), synthetic_root, lambda p, i, m, s=shift: _write(p, np.roll(m, s, axis=1))
        )
        assert ("shifted_mask" in _codes(document)) is caught, shift


def test_rgb_segmented_and_instances(tmp_path: Path, synthetic_root: Path) -> None:
    root, image, mask = _pair_folder(tmp_path, synthetic_root)
    write_png(root / "healthy/masks/x.png", mask)
    (root / "healthy/rgb_segmented").mkdir()
    wrong = np.full_like(image, 255)
    write_png(root / "healthy/rgb_segmented/x.png", wrong)
    _, document = _run(root, tmp_path)
    assert "rgb_mask_mismatch" in _codes(document, severity="error")
    right = np.where(mask[..., None] > 0, image, 255).astype(np.uint8)
    write_png(root / "healthy/rgb_segmented/x.png", right)
    _, document = _run(root, tmp_path / "b")
    assert "rgb_mask_mismatch" not in _codes(document)


def test_fix_writes_canonical_masks_and_provenance(defective_root: Path, clean_twin_root: Path, tmp_path: Path) -> None:
    before = tree_hashes(defective_root)
    result, _ = _run(defective_root, tmp_path, fix_out=tmp_path / "fixed", remove_specks_px=20, fill_holes_px=60)
    assert tree_hashes(defective_root) == before  # inputs untouched
    provenance = pd.read_csv(tmp_path / "fixed/provenance.csv")
    skipped = pd.read_csv(tmp_path / "fixed/skipped.csv")
    planted = pd.read_csv(defective_root / "synthetic_truth/defects.csv", keep_default_na=False)
    assert result.n_fixed == len(provenance) > 0
    blocked = set(planted.loc[~planted["defect"].isin(["inverted_polarity"]), "sample_id"]) - {""}
    assert blocked <= set(skipped["sample_id"])
    inverted = planted.loc[planted["defect"] == "inverted_polarity", "sample_id"]
    row = provenance.set_index("sample_id").loc[inverted.iloc[0]]
    fixed = read_image(tmp_path / "fixed" / row["canonical_mask"])
    original = read_image(clean_twin_root / row["source_mask"])
    assert fixed.ndim == 2 and set(np.unique(fixed)) <= {0, 255}
    assert np.mean(fixed == original) > 0.99  # polarity normalised back to cell = 255
    assert json.loads((tmp_path / "fixed/fix_config.json").read_text())["options"]["remove_specks_px"] == 20


def test_fix_needs_overwrite_for_an_existing_folder(synthetic_root: Path, tmp_path: Path) -> None:
    (tmp_path / "fixed").mkdir()
    (tmp_path / "fixed/old.txt").write_text("x")
    with pytest.raises(UsageError, match="--overwrite"):
        validate_masks(synthetic_root, out_dir=tmp_path, fix_out=tmp_path / "fixed", show_progress=False)


@pytest.mark.realdata
def test_real_anerbc_sample(realdata: Path, tmp_path: Path) -> None:
    result, document = _run(realdata / "AneRBC-I", tmp_path)
    assert result.counts["error"] == 0
    assert {"mask_near_binary", "specks"} <= _codes(document, severity="warning")
    assert not {"shifted_mask", "flipped_mask", "mask_mismatch"} & _codes(document)
    fractions = [s["ambiguous_fraction"] for s in document["samples"]]
    assert all(0.005 < f < 0.035 for f in fractions)


@pytest.mark.realdata
def test_chula_and_bccd_as_folder_layouts_are_reported_not_crashing(realdata: Path, tmp_path: Path) -> None:
    result, document = _run(realdata / "Chula-RBC-12-Dataset", tmp_path / "chula")
    mismatched = {f["path"] for f in document["findings"] if f["code"] == "extension_mismatch"}
    assert {"Dataset/707.jpg", "Dataset/709.jpg"} <= mismatched
    assert "missing_mask" in _codes(document, severity="error")  # point labels are not masks
    result, document = _run(realdata / "BCCD_Dataset", tmp_path / "bccd")
    assert result.n_samples == 15 and "missing_mask" in _codes(document)
