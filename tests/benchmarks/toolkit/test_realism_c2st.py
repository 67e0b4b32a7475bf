"""Tests for the realism classifier two-sample test (benchmarks/toolkit/realism_c2st.py) on tiny drawn images."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

import benchmarks.toolkit.realism_c2st as c2
from benchmarks.commands import app as bench_app
from benchmarks.toolkit.realism import find_pairs, run_realism
from rbc_dataset.errors import UsageError
from tests.helpers import REALDATA, squeezed, tree_hashes

SMALL = c2.C2stSettings(crops_per_image=4, crop_px=32, cell_crop_px=16, cells_per_image=6, cnn=False, n_resamples=300)
CLASS_DIRS = {"a": "Anemic_individuals", "h": "Healthy_individuals"}


def _drawn(seed: int, *, tint: tuple[int, int, int] = (0, 0, 0), size: int = 80) -> tuple[np.ndarray, np.ndarray]:
    """(RGB image, boolean cell mask): noisy background with separate disks of radius 5; ``tint`` shifts colour."""
    rng = np.random.default_rng(seed)
    rgb = np.full((size, size, 3), 205, np.float64) + np.asarray(tint) + rng.normal(0, 6, (size, size, 3))
    cell = np.zeros((size, size), np.uint8)
    for row in range(12, size - 8, 18):
        for col in range(12, size - 8, 18):
            centre = (int(col + rng.integers(-2, 3)), int(row + rng.integers(-2, 3)))
            cv2.circle(cell, centre, 5, 1, -1)
    rgb[cell.astype(bool)] -= (40, 60, 50)
    return np.clip(rgb, 0, 255).astype(np.uint8), cell.astype(bool)


def _side(side: str, n: int, *, tint=(0, 0, 0), first_seed: int = 0) -> list[c2.LoadedImage]:
    images = []
    for index in range(n):
        rgb, cell = _drawn(first_seed + index, tint=tint)
        klass = "a" if index % 2 == 0 else "h"
        images.append(c2.LoadedImage(f"{side}/{index:03d}_{klass}", klass, rgb, cell))
    return images


def _rows(real, synthetic, settings=SMALL) -> dict[tuple[str, str], dict]:
    return {(row["test"], row["method"]): row for row in c2.run_c2st(real, synthetic, settings=settings)}


def test_identical_distributions_are_indistinguishable() -> None:
    row = _rows(_side("real", 10), _side("synthetic", 10, first_seed=100))[("all crops", "features")]
    assert row["skipped"] is None and row["n_folds"] == 5
    assert abs(row["auc"] - 0.5) < 0.2 and row["ci_low"] <= 0.5 <= row["ci_high"]
    assert row["verdict"].startswith("indistinguishable")


def test_a_colour_shift_is_told_apart_in_every_test() -> None:
    rows = _rows(_side("real", 10), _side("synthetic", 10, tint=(18, -10, 12), first_seed=100))
    for name in ("all crops", "anaemic", "healthy", "single cells"):
        row = rows[(name, "features")]
        assert row["auc"] > 0.95 and row["ci_low"] > 0.5, name
        assert row["verdict"] == "easily told apart"
    assert rows[("anaemic", "features")]["n_images_real"] == 5 and rows[("all crops", "features")]["n_crops_real"] == 40


def test_folds_keep_each_image_on_one_side_of_every_fold() -> None:
    crop_set = c2.build_crop_set(_side("real", 7), _side("synthetic", 9), settings=SMALL, per_cell=False)
    folds, reason = c2.grouped_folds(crop_set.labels, crop_set.groups, seed=0)
    assert reason is None and len(folds) == 5
    tested = np.concatenate([test for _, test in folds])
    assert sorted(tested.tolist()) == list(range(len(crop_set.labels)))  # every crop scored exactly once
    for train, test in folds:
        assert not set(crop_set.groups[train]) & set(crop_set.groups[test])


def test_fewer_images_than_folds_gives_fewer_folds() -> None:
    crop_set = c2.build_crop_set(_side("real", 3), _side("synthetic", 9), settings=SMALL, per_cell=False)
    folds, reason = c2.grouped_folds(crop_set.labels, crop_set.groups, seed=0)
    assert reason is None and len(folds) == 3


def test_same_seed_same_result_other_seed_other_crops() -> None:
    real, synthetic = _side("real", 6), _side("synthetic", 6, tint=(4, 0, 0), first_seed=50)
    first, again = c2.run_c2st(real, synthetic, settings=SMALL), c2.run_c2st(real, synthetic, settings=SMALL)
    strip = [{k: v for k, v in row.items() if k != "seconds"} for row in first]
    assert strip == [{k: v for k, v in row.items() if k != "seconds"} for row in again]
    a = c2.build_crop_set(real, synthetic, settings=SMALL, per_cell=False).crops
    b = c2.build_crop_set(real, synthetic, settings=replace(SMALL, seed=1), per_cell=False).crops
    assert a.shape == b.shape and not np.array_equal(a, b)


def test_one_image_per_side_is_a_skip_with_its_reason() -> None:
    rows = _rows(_side("real", 1), _side("synthetic", 4))
    row = rows[("all crops", "features")]
    assert row["auc"] is None and row["verdict"] == "skipped"
    assert row["skipped"] == "too few images for grouped folds: 1 real, 4 synthetic (need 2 per side)"
    assert row["n_images_real"] == 1 and row["n_crops_synthetic"] == 16
    assert "0 real" in rows[("healthy", "features")]["skipped"]  # the one real image is anaemic
    assert "skipped: too few images" in squeezed_table(c2.c2st_table({"tests": list(rows.values())}))


def squeezed_table(table) -> str:
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(table)
    return console.export_text()


def test_images_smaller_than_the_crop_give_no_crops() -> None:
    rng = np.random.default_rng(0)
    assert c2.random_crops(np.zeros((20, 40, 3), np.uint8), 3, size=32, rng=rng).shape == (0, 32, 32, 3)
    assert c2.random_crops(np.zeros((32, 40, 3), np.uint8), 3, size=32, rng=rng).shape == (3, 32, 32, 3)


def test_single_cells_exclude_merged_blobs_specks_and_border_cells() -> None:
    cell = np.zeros((100, 100), np.uint8)
    for centre in ((30, 30), (60, 30), (30, 60)):
        cv2.circle(cell, centre, 6, 1, -1)
    cv2.circle(cell, (70, 70), 6, 1, -1)
    cv2.circle(cell, (78, 70), 6, 1, -1)  # touches the previous one: a merged blob
    cv2.circle(cell, (4, 80), 6, 1, -1)  # too close to the border for a 16 px crop
    cell[90:92, 40:42] = 1  # a speck
    centres = c2.single_cell_centres(cell.astype(bool), 16)
    assert sorted(map(tuple, centres.tolist())) == [(30, 30), (30, 60), (60, 30)]


def test_settings_out_of_range_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="--crops-per-image must be at least 1, got 0"):
        replace(SMALL, crops_per_image=0).check()
    with pytest.raises(UsageError, match="--epochs must be at least 1"):
        replace(SMALL, cnn_epochs=0).check()


# ---------------------------------------------------------------------------------------------------------------
# The CNN (1 epoch on tiny crops)
# ---------------------------------------------------------------------------------------------------------------


def test_cnn_is_deterministic_and_leaves_torch_state_alone() -> None:
    torch = pytest.importorskip("torch")
    from benchmarks.toolkit.realism_cnn import cnn_scores

    crop_set = c2.build_crop_set(
        _side("real", 2), _side("synthetic", 2, tint=(30, 0, 0)), settings=SMALL, per_cell=True
    )
    folds, _ = c2.grouped_folds(crop_set.labels, crop_set.groups, seed=0)
    threads, state = torch.get_num_threads(), torch.random.get_rng_state()
    first = cnn_scores(crop_set.crops, crop_set.labels, folds=folds, seed=0, epochs=1)
    assert np.isfinite(first).all() and len(first) == len(crop_set.labels)
    assert np.array_equal(first, cnn_scores(crop_set.crops, crop_set.labels, folds=folds, seed=0, epochs=1))
    assert not np.array_equal(first, cnn_scores(crop_set.crops, crop_set.labels, folds=folds, seed=1, epochs=1))
    assert torch.get_num_threads() == threads and torch.equal(torch.random.get_rng_state(), state)


def test_cnn_row_in_the_report() -> None:
    pytest.importorskip("torch")
    settings = replace(SMALL, cnn=True, cnn_epochs=1)
    rows = _rows(_side("real", 4), _side("synthetic", 4, tint=(30, 0, 0)), settings=settings)
    row = rows[("all crops", "CNN")]
    assert row["skipped"] is None and row["n_folds"] == 4 and 0.0 <= row["auc"] <= 1.0


# ---------------------------------------------------------------------------------------------------------------
# Through rbc-bench realism
# ---------------------------------------------------------------------------------------------------------------


def _write_folder(root: Path, n: int, *, tint=(0, 0, 0), first_seed: int = 0) -> Path:
    """An AneRBC-I layout with ``n`` images per class, clean 0/255 masks (cell = 255)."""
    for klass, folder in CLASS_DIRS.items():
        for sub in ("Original_images", "Binary_segmented"):
            (root / folder / sub).mkdir(parents=True, exist_ok=True)
        for number in range(1, n + 1):
            rgb, cell = _drawn(first_seed + number * 7 + (klass == "h"), tint=tint, size=140)
            name = f"{number:03d}_{klass}.png"
            cv2.imwrite(str(root / folder / "Original_images" / name), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            cv2.imwrite(str(root / folder / "Binary_segmented" / name), cell.astype(np.uint8) * 255)
    return root


@pytest.fixture(scope="module")
def two_sides(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("c2st")
    return _write_folder(base / "real", 3), _write_folder(base / "synthetic", 3, tint=(20, -10, 10), first_seed=500)


def test_cli_writes_the_c2st_into_the_json(two_sides, tmp_path: Path) -> None:
    real, synthetic = two_sides
    before = tree_hashes(real.parent)
    out = tmp_path / "r.json"
    args = ["realism", "--real", str(real), "--synthetic", str(synthetic), "--json", str(out), "--no-cnn"]
    result = CliRunner().invoke(bench_app, [*args, "--crops-per-image", "3", "--seed", "2"], terminal_width=200)
    assert result.exit_code == 0 and "Traceback" not in result.output
    assert "Classifier two-sample test" in result.output and "easily told apart" in result.output
    report = json.loads(out.read_text())
    assert report["c2st"]["settings"]["crops_per_image"] == 3 and report["c2st"]["settings"]["seed"] == 2
    tests = {(row["test"], row["method"]) for row in report["c2st"]["tests"]}
    assert tests == {
        ("all crops", "features"),
        ("anaemic", "features"),
        ("healthy", "features"),
        ("single cells", "features"),
    }
    assert report["c2st"]["tests"][0]["n_crops_real"] == 18 and "--no-cnn" in report["command"]
    assert tree_hashes(real.parent) == before


def test_cli_no_c2st_and_bad_crop_count(two_sides, tmp_path: Path) -> None:
    real, synthetic = two_sides
    out = tmp_path / "r.json"
    args = ["realism", "--real", str(real), "--synthetic", str(synthetic), "--json", str(out)]
    result = CliRunner().invoke(bench_app, [*args, "--no-c2st"])
    assert result.exit_code == 0 and json.loads(out.read_text())["c2st"] is None
    assert "two-sample" not in result.output
    result = CliRunner().invoke(bench_app, [*args, "--crops-per-image", "0"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert squeezed("--crops-per-image must be at least 1, got 0") in squeezed(result.output)


def test_cli_with_the_cnn_for_one_epoch(two_sides, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    real, synthetic = two_sides
    args = ["realism", "--real", str(real), "--synthetic", str(synthetic), "--json", str(tmp_path / "r.json")]
    result = CliRunner().invoke(bench_app, [*args, "--crops-per-image", "2", "--epochs", "1"], terminal_width=200)
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "r.json").read_text())["c2st"]["tests"]
    assert rows[-1]["method"] == "CNN" and rows[-1]["skipped"] is None


@pytest.mark.realdata
def test_feature_c2st_on_real_anerbc(synthetic_root: Path) -> None:
    """Real AneRBC-I against the 4 synthetic images of the session fixture: every feature test runs."""
    real_dir = REALDATA / "AneRBC-I"
    settings = replace(c2.DEFAULT_SETTINGS, cnn=False, n_resamples=500)
    report = c2.c2st_report(find_pairs(real_dir), find_pairs(synthetic_root), settings=settings)
    for row in report["tests"]:
        assert row["skipped"] is None and 0.0 <= row["auc"] <= 1.0 and row["ci_low"] <= row["auc"] <= row["ci_high"]
    assert report["tests"][0]["n_images_real"] == 8 and report["tests"][0]["n_images_synthetic"] == 4
    assert report["errors"] == {"real": [], "synthetic": []}


def test_run_realism_c2st_none_leaves_it_out(two_sides) -> None:
    real, synthetic = two_sides
    assert run_realism(real, synthetic, c2st=None)["c2st"] is None
