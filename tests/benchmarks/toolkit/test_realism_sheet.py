"""``rbc-bench realism --sheet``: side-by-side real and synthetic crops, per class, written only where asked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from benchmarks.commands import app as bench_app
from benchmarks.toolkit.realism import find_pairs
from benchmarks.toolkit.realism_sheet import CROP_HEIGHT, CROP_WIDTH, GAP, LABEL_HEIGHT, write_crop_sheet
from rbc_dataset.errors import UsageError
from tests.helpers import tree_hashes

FOLDERS = {"a": "Anemic_individuals", "h": "Healthy_individuals"}
# One flat colour per (side, class), so each row of the sheet can be told by its pixels.
COLOURS = {("real", "a"): (200, 40, 40), ("synthetic", "a"): (40, 200, 40)}
COLOURS |= {("real", "h"): (40, 40, 200), ("synthetic", "h"): (200, 200, 40)}


def _folder(root: Path, side: str, n: int) -> Path:
    for klass, folder in FOLDERS.items():
        for sub in ("Original_images", "Binary_segmented"):
            (root / folder / sub).mkdir(parents=True, exist_ok=True)
        for number in range(1, n + 1):
            name = f"{number:03d}_{klass}.png"
            image = np.full((420, 520, 3), COLOURS[(side, klass)], np.uint8)
            Image.fromarray(image).save(root / folder / "Original_images" / name)
            Image.fromarray(np.zeros((420, 520), np.uint8)).save(root / folder / "Binary_segmented" / name)
    return root


@pytest.fixture(scope="module")
def sides(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("sheet")
    return _folder(base / "real", "real", 2), _folder(base / "synthetic", "synthetic", 3)


def _centre(sheet: np.ndarray, row: int, column: int) -> np.ndarray:
    top = row * (LABEL_HEIGHT + CROP_HEIGHT + GAP) + LABEL_HEIGHT + CROP_HEIGHT // 2
    left = column * (CROP_WIDTH + GAP) + CROP_WIDTH // 2
    return sheet[top, left].astype(int)


def test_rows_hold_real_and_synthetic_crops_of_each_class(sides, tmp_path: Path) -> None:
    real, synthetic = sides
    out = write_crop_sheet(find_pairs(real), find_pairs(synthetic), out=tmp_path / "deep" / "sheet.jpg", per_row=3)
    sheet = np.asarray(Image.open(out).convert("RGB"))
    assert sheet.shape[1] == 3 * CROP_WIDTH + 2 * GAP
    for row, key in enumerate([("real", "a"), ("synthetic", "a"), ("real", "h"), ("synthetic", "h")]):
        assert np.abs(_centre(sheet, row, 0) - COLOURS[key]).max() < 12, key
    assert np.abs(_centre(sheet, 0, 2) - 255).max() < 12  # 2 real images per class: the third slot stays empty
    assert np.abs(_centre(sheet, 1, 2) - COLOURS[("synthetic", "a")]).max() < 12
    assert not list(out.parent.glob(".*partial*"))


def test_cli_writes_the_sheet_and_refuses_one_inside_an_input(sides, tmp_path: Path) -> None:
    real, synthetic = sides
    before = tree_hashes(real)
    args = ["realism", "--real", str(real), "--synthetic", str(synthetic), "--json", str(tmp_path / "r.json")]
    args += ["--no-c2st", "--no-cells"]
    result = CliRunner().invoke(bench_app, [*args, "--sheet", str(tmp_path / "sheet.jpg")], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "sheet.jpg").is_file() and "sheet.jpg" in result.output
    inside = real / "sheet.jpg"
    result = CliRunner().invoke(bench_app, [*args, "--sheet", str(inside)], terminal_width=200)
    assert result.exit_code == 2 and "inside the input" in result.output and "Traceback" not in result.output
    assert not inside.exists() and tree_hashes(real) == before


def test_per_row_below_one_is_a_usage_error(sides, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="per_row must be at least 1"):
        write_crop_sheet(find_pairs(sides[0]), find_pairs(sides[1]), out=tmp_path / "s.jpg", per_row=0)
