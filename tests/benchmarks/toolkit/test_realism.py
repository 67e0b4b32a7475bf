"""Tests for benchmarks/toolkit/realism.py on a tiny generated dataset and, when present, the real AneRBC-I pairs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

import benchmarks.toolkit.realism as sr
from rbc_dataset.errors import DataError, UsageError
from tests.helpers import REALDATA

REAL_DIR = REALDATA / "AneRBC-I"

RADIUS = 10
CENTRES = [(30 + 40 * i, 30 + 40 * j) for i in range(5) for j in range(4)]  # (x, y), 20 cells, none touching


def _draw_pair(height: int = 200, width: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return (BGR image, single-channel 0/255 mask with cell = 255) with pale-centred disks."""
    rng = np.random.default_rng(seed)
    image = np.full((height, width, 3), (212, 205, 208), np.uint8)
    mask = np.zeros((height, width), np.uint8)
    for x, y in CENTRES:
        cv2.circle(image, (x, y), RADIUS, (185, 150, 160), -1)
        cv2.circle(image, (x, y), 3, (200, 185, 190), -1)
        cv2.circle(mask, (x, y), RADIUS, 255, -1)
    image = cv2.GaussianBlur(image, (0, 0), 0.8)
    noise = rng.normal(0, 1.5, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8), mask


def _write_dataset(root: Path) -> None:
    """Write two nested pairs plus an AneRBC-II tile and a synthetic_truth folder that must be ignored."""
    image, mask = _draw_pair()
    base = root / "AneRBC_dataset" / "AneRBC-I"
    for klass, name in (("Anemic_individuals", "001_a.png"), ("Healthy_individuals", "001_h.png")):
        (base / klass / "Original_images").mkdir(parents=True)
        (base / klass / "Binary_segmented").mkdir(parents=True)
        cv2.imwrite(str(base / klass / "Original_images" / name), image)
        cv2.imwrite(str(base / klass / "Binary_segmented" / name), mask)
    tile_dir = root / "AneRBC_dataset" / "AneRBC-II" / "Anemic_individuals"
    for sub in ("Original_images", "Binary_segmented"):
        (tile_dir / sub).mkdir(parents=True)
        cv2.imwrite(str(tile_dir / sub / "0001_01_a.png"), image)
    truth = root / "synthetic_truth" / "x" / "Original_images"
    truth.mkdir(parents=True)
    cv2.imwrite(str(truth / "002_a.png"), image)


def test_find_pairs_nested_and_filtered(tmp_path: Path) -> None:
    _write_dataset(tmp_path)
    pairs = sr.find_pairs(tmp_path)
    assert [image.name for image, _ in pairs] == ["001_a.png", "001_h.png"]
    assert all(mask.parent.name == "Binary_segmented" and mask.name == image.name for image, mask in pairs)


def test_measure_pair_clean_bright_mask(tmp_path: Path) -> None:
    image, mask = _draw_pair()
    cv2.imwrite(str(tmp_path / "i.png"), image)
    cv2.imwrite(str(tmp_path / "m.png"), mask)
    row = sr.measure_pair(tmp_path / "i.png", tmp_path / "m.png")
    assert row["mask_style"] == "1-channel 0/255, bright cells"
    assert (row["width"], row["height"]) == (240, 200)
    assert row["n_components"] == len(CENTRES)
    assert row["n_cells_est"] == pytest.approx(len(CENTRES), rel=0.05)
    assert row["cell_diameter_px"] == pytest.approx(2 * RADIUS + 1, abs=1.0)
    assert row["merged_area_share"] == 0.0
    assert row["central_pallor"] > 5
    assert row["contrast_gray"] > 30
    assert row["mask_specks"] == 0 and row["mask_holes"] == 0
    assert 0.8 < row["noise_std"] < 2.5


def test_polarity_follows_the_image() -> None:
    image, mask = _draw_pair()
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    bright_cells, polarity = sr.binarise_mask(mask, gray, single_channel=True)
    assert polarity == "bright"
    # Real style: white background, dark cells; the same cells must come out.
    dark_cells, polarity = sr.binarise_mask(255 - mask, gray, single_channel=False)
    assert polarity == "dark"
    assert np.array_equal(bright_cells, dark_cells)


def test_summarise_and_compare() -> None:
    real = [{"a": 1.0, "mask_style": "s"}, {"a": 3.0, "mask_style": "s"}]
    synth = [{"a": 2.0}, {"a": 5.0}, {"a": math.nan}]
    real_summary, synth_summary = sr.summarise(real), sr.summarise(synth)
    assert real_summary["stats"]["a"] == {"n": 2, "min": 1.0, "max": 3.0, "median": 2.0, "mean": 2.0}
    assert synth_summary["stats"]["a"]["n"] == 2
    verdict = sr.compare(real_summary, synth_summary, synthetic_rows=synth)["a"]
    assert verdict == {"verdict": "no", "share_in_range": 0.5}


def test_run_realism_writes_json(tmp_path: Path) -> None:
    _write_dataset(tmp_path / "synth")
    out = tmp_path / "report.json"
    sr.run_realism(tmp_path / "synth", tmp_path / "synth", json_out=out)
    report = json.loads(out.read_text())
    assert report["n_real"] == report["n_synthetic"] == 2
    assert report["command"].startswith("rbc-bench realism --real")
    assert set(report["comparison"]) >= {"fg_fraction", "central_pallor", "noise_std"}
    assert len(report["rows"]["synthetic"]) == 2


def test_run_realism_refuses_a_side_without_pairs(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no measurable pair"):
        sr.run_realism(tmp_path, tmp_path)


def test_run_realism_refuses_max_images_below_one(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--max-images"):
        sr.run_realism(tmp_path, tmp_path, max_images=0)


@pytest.mark.realdata
@pytest.mark.skipif(not REAL_DIR.is_dir(), reason="../shared/realdata/AneRBC-I not present")
def test_real_pair_matches_known_facts() -> None:
    pairs = sr.find_pairs(REAL_DIR)
    assert len(pairs) >= 2
    row = sr.measure_pair(*pairs[0])
    assert (row["width"], row["height"]) == (1224, 960)
    assert row["mask_style"] == "3-channel graded, dark cells"
    assert 500 < row["n_cells_est"] < 2000
    assert 17 < row["cell_diameter_px"] < 25
    assert row["bg_g"] > row["cell_g"]
