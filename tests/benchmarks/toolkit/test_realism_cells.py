"""Tests for the per-cell appearance of rbc-bench realism (benchmarks/toolkit/realism_cells*.py) on drawn cells."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

import benchmarks.toolkit.realism_cells as rc
from benchmarks.commands import app as bench_app
from benchmarks.toolkit.realism_cells_report import measure_cell_pairs
from rbc_dataset.errors import DataError
from tests.helpers import REALDATA, tree_hashes

BACKGROUND = 220  # grey level of the drawn background (every channel)
RIM, CENTRE = 130, 190  # grey of a drawn cell's rim and of its pale centre


def _od(level: int) -> float:
    return math.log10(BACKGROUND / level)


def _canvas(size: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """(RGB image, boolean cell map) of an empty smear."""
    return np.full((size, size, 3), BACKGROUND, np.uint8), np.zeros((size, size), np.uint8)


def _disc(image, cells, centre, radius, *, level=RIM, pale=None) -> None:
    """Draw a cell of grey ``level``; ``pale`` = (radius, level) of a pale centre."""
    cv2.circle(image, centre, radius, (level,) * 3, -1)
    cv2.circle(cells, centre, radius, 1, -1)
    if pale is not None:
        cv2.circle(image, centre, pale[0], (pale[1],) * 3, -1)


def _grid(levels: list[int], *, pale=None, size: int = 120, radius: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Cells on a 3-column grid 36 px apart, one per grey level."""
    image, cells = _canvas(size)
    for index, level in enumerate(levels):
        centre = (24 + 36 * (index % 3), 24 + 36 * (index // 3))
        _disc(image, cells, centre, radius, level=level, pale=pale)
    return image, cells.astype(bool)


def test_a_pale_centre_shows_as_a_dip_with_the_drawn_rim_to_centre_ratio() -> None:
    image, cells = _canvas()
    _disc(image, cells, (60, 60), 15, pale=(9, CENTRE))
    table = rc.measure_cells(image, cells.astype(bool))
    assert len(table) == 1
    cell = table.iloc[0]
    profile = cell[list(rc.PROFILE_COLUMNS)].to_numpy(float)
    assert profile[0] == pytest.approx(_od(CENTRE), abs=0.005)  # the pale centre
    assert profile[7] == pytest.approx(_od(RIM), abs=0.005)  # rho 0.75: the dark rim
    assert profile[-1] < 0.01  # rho 1.15: background
    assert cell["rim_centre_ratio"] == pytest.approx(_od(RIM) / _od(CENTRE), rel=0.05)
    assert cell["pallor_depth"] == pytest.approx(1 - _od(CENTRE) / _od(RIM), abs=0.03)
    assert cell["pallor_width"] == pytest.approx(9 / 15, abs=0.08)  # the pale disc ends at 9 / 15 of the radius
    assert bool(cell["ring_cell"]) and not bool(cell["ghost"])


def test_flat_cells_have_no_pallor_and_a_faint_one_is_a_ghost() -> None:
    image, cells = _grid([RIM] * 5 + [208])  # the last cell absorbs about a tenth as much as the others
    table = rc.measure_cells(image, cells).sort_values("cy", kind="stable")
    assert len(table) == 6
    assert table["ghost"].tolist() == [False] * 5 + [True]
    assert not table["ring_cell"].any()
    assert (table["pallor_width"] == 0).all() and (table["pallor_depth"].abs() < 0.05).all()


def test_ellipse_size_and_aspect_come_back_within_a_pixel() -> None:
    image, cells = _canvas(160)
    drawn = {(40, 40): (14, 8, 0), (110, 45): (10, 10, 0), (60, 110): (12, 7, 30)}  # centre: semi-axes, angle
    for centre, (a, b, angle) in drawn.items():
        cv2.ellipse(image, centre, (a, b), angle, 0, 360, (RIM,) * 3, -1)
        cv2.ellipse(cells, centre, (a, b), angle, 0, 360, 1, -1)
    table = rc.measure_cells(image, cells.astype(bool))
    assert len(table) == 3
    for centre, (a, b, _) in drawn.items():
        cell = table.loc[(table["cx"] - centre[0]).abs().lt(2) & (table["cy"] - centre[1]).abs().lt(2)].iloc[0]
        # cv2 draws semi-axis a as 2a + 1 pixels end to end.
        assert cell["major_axis_px"] == pytest.approx(2 * a + 1, abs=1.0)
        assert cell["minor_axis_px"] == pytest.approx(2 * b + 1, abs=1.0)
        assert cell["eq_diameter_px"] == pytest.approx(2 * math.sqrt((a + 0.5) * (b + 0.5)), abs=1.0)
        assert cell["aspect_ratio"] == pytest.approx((2 * a + 1) / (2 * b + 1), abs=0.08)
        assert cell["solidity"] > 0.9
        assert cell["roundness"] == pytest.approx(((2 * b + 1) / (2 * a + 1)), abs=0.12)


def test_touching_cells_border_cells_and_specks_are_left_out() -> None:
    image, cells = _canvas()
    _disc(image, cells, (30, 30), 10)
    _disc(image, cells, (80, 30), 10)
    _disc(image, cells, (99, 30), 10)  # touches the one before: a clump of two
    _disc(image, cells, (5, 90), 10)  # cut by the border
    _disc(image, cells, (70, 90), 2)  # a speck
    table = rc.measure_cells(image, cells.astype(bool))
    assert [(round(x), round(y)) for x, y in zip(table["cx"], table["cy"], strict=True)] == [(30, 30)]


def test_masks_are_read_with_the_projects_polarity_rule() -> None:
    image, cells = _grid([RIM] * 4, pale=(4, CENTRE))
    expected = rc.measure_cells(image, cells)
    anerbc_style = np.where(cells[..., None], 40, 255).astype(np.uint8).repeat(3, axis=2)  # white background
    canonical = np.where(cells, 255, 0).astype(np.uint8)
    for mask in (anerbc_style, canonical):
        assert rc.measure_cells(image, mask).equals(expected)
    assert rc.measure_cells(image, np.zeros_like(canonical)).empty  # one-sided mask: no cells, no error


def test_a_mask_of_another_size_is_a_data_error() -> None:
    image, cells = _grid([RIM])
    with pytest.raises(DataError, match="a mask of the image's size 120x120"):
        rc.measure_cells(image, cells[:100])


# ---------------------------------------------------------------------------------------------------------------
# Through rbc-bench realism
# ---------------------------------------------------------------------------------------------------------------

CLASS_DIRS = {"a": "Anemic_individuals", "h": "Healthy_individuals"}


def _write_side(root: Path, *, pale_level: int) -> Path:
    """Two AneRBC-I pairs per class of pale-centred cells; real-style masks (white background, dark cells)."""
    for klass, folder in CLASS_DIRS.items():
        for sub in ("Original_images", "Binary_segmented"):
            (root / folder / sub).mkdir(parents=True)
        for number in (1, 2):
            image, cells = _grid([RIM - 10 * number] * 6, pale=(4, pale_level))
            name = f"{number:03d}_{klass}.png"
            cv2.imwrite(str(root / folder / "Original_images" / name), image)
            cv2.imwrite(str(root / folder / "Binary_segmented" / name), np.where(cells, 30, 255).astype(np.uint8))
    return root


@pytest.fixture(scope="module")
def sides(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("cells")
    return _write_side(base / "real", pale_level=CENTRE), _write_side(base / "synthetic", pale_level=RIM + 20)


def test_cli_prints_the_cells_section_and_writes_it_into_the_json(sides, tmp_path: Path) -> None:
    real, synthetic = sides
    before = tree_hashes(real.parent)
    out = tmp_path / "r.json"
    args = ["realism", "--real", str(real), "--synthetic", str(synthetic), "--json", str(out), "--no-c2st"]
    result = CliRunner().invoke(bench_app, args, terminal_width=200)
    assert result.exit_code == 0 and "Traceback" not in result.output
    assert "Per-cell appearance" in result.output and "Radial OD profile" in result.output
    cells = json.loads(out.read_text())["cells"]
    assert set(cells["classes"]) == {"anaemic", "healthy"}
    anaemic = cells["classes"]["anaemic"]
    assert anaemic["real"]["n_cells"] == anaemic["synthetic"]["n_cells"] == 12
    assert len(anaemic["real"]["profile"]["relative_median"]) == len(rc.RING_CENTRES)
    # Same cells, shallower pallor on the synthetic side: sizes agree, pallor depth is told apart.
    assert anaemic["comparison"]["eq_diameter_px"]["ks"] == 0.0
    assert anaemic["comparison"]["pallor_depth"]["ks"] == 1.0
    assert anaemic["comparison"]["pallor_depth"]["verdict"] == "no"
    assert anaemic["comparison"]["eq_diameter_px"]["verdict"] == "yes"
    assert cells["errors"] == {"real": [], "synthetic": []}
    assert tree_hashes(real.parent) == before


def test_cli_no_cells_leaves_the_section_out(sides, tmp_path: Path) -> None:
    real, synthetic = sides
    out = tmp_path / "r.json"
    args = ["realism", "--real", str(real), "--synthetic", str(synthetic), "--json", str(out), "--no-c2st"]
    result = CliRunner().invoke(bench_app, [*args, "--no-cells"], terminal_width=200)
    assert result.exit_code == 0 and "Per-cell appearance" not in result.output
    report = json.loads(out.read_text())
    assert report["cells"] is None and "--no-cells" in report["command"]


def test_a_pair_of_mismatched_sizes_is_an_error_row(tmp_path: Path) -> None:
    root = _write_side(tmp_path / "side", pale_level=CENTRE)
    mask = root / "Anemic_individuals" / "Binary_segmented" / "002_a.png"
    cv2.imwrite(str(mask), np.full((50, 50), 255, np.uint8))
    pairs = [
        (root / folder / "Original_images" / f"{n:03d}_{k}.png", None)
        for k, folder in CLASS_DIRS.items()
        for n in (1, 2)
    ]
    pairs = [(image, image.parent.parent / "Binary_segmented" / image.name) for image, _ in pairs]
    cells, errors = measure_cell_pairs(pairs)
    assert [Path(row["image"]).name for row in errors] == ["002_a.png"] and "size 120x120" in errors[0]["error"]
    assert sorted(cells["image"].unique()) == [
        "Anemic_individuals/001_a",
        "Healthy_individuals/001_h",
        "Healthy_individuals/002_h",
    ]


@pytest.mark.realdata
@pytest.mark.skipif(not (REALDATA / "AneRBC-I").is_dir(), reason="../shared/realdata/AneRBC-I not present")
def test_real_cells_have_a_pale_centre_and_a_normal_size() -> None:
    from benchmarks.toolkit.realism import find_pairs

    cells, errors = measure_cell_pairs(find_pairs(REALDATA / "AneRBC-I")[:2])
    assert errors == [] and len(cells) > 500
    assert 17 < cells["eq_diameter_px"].median() < 25
    assert cells["centre_od"].median() < cells["rim_od"].median()
