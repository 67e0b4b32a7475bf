"""Agreement between two annotations: known Dice/IoU/F1 on hand-made masks, unpaired images, errors, CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from annotation.agree import agree, compare, match_instances, read_annotation
from annotation.commands import app as annotate_app
from rbc_dataset.errors import DataError, UsageError
from rbc_dataset.fileio import write_png
from tests.helpers import squeezed


def _binary(rows: slice, cols: slice, shape=(20, 20)) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    mask[rows, cols] = 255
    return mask


def _folders(tmp_path: Path, a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> tuple[Path, Path]:
    for side, masks in (("a", a), ("b", b)):
        (tmp_path / side).mkdir()
        for stem, mask in masks.items():
            write_png(tmp_path / side / f"{stem}.png", mask)
    return tmp_path / "a", tmp_path / "b"


def test_known_dice_and_iou_of_binary_masks(tmp_path: Path) -> None:
    # A: 10x10 = 100 px, B: 10x5 inside A = 50 px -> Dice 2*50/150, IoU 50/100
    a_dir, b_dir = _folders(
        tmp_path,
        {"x": _binary(slice(0, 10), slice(0, 10)), "y": _binary(slice(0, 4), slice(0, 4))},
        {"x": _binary(slice(0, 10), slice(0, 5)), "y": _binary(slice(0, 4), slice(0, 4))},
    )
    result = agree(a_dir, b_dir)
    assert [r.stem for r in result.rows] == ["x", "y"]  # worst first
    x = result.rows[0]
    assert x.dice == pytest.approx(2 / 3) and x.iou == pytest.approx(0.5)
    assert x.instance_f1 is None and x.cells_a == x.cells_b == 1 and x.foreground_a == 100
    assert result.rows[1].dice == 1.0
    assert result.summary["dice"]["mean"] == pytest.approx((2 / 3 + 1) / 2)
    assert result.summary["dice"]["worst"] == {"stem": "x", "value": pytest.approx(2 / 3)}
    assert result.summary["instance_f1"]["n"] == 0


def test_background_does_not_count_and_empty_masks_agree(tmp_path: Path) -> None:
    empty = np.zeros((20, 20), np.uint8)
    a_dir, b_dir = _folders(tmp_path, {"e": empty, "f": _binary(slice(0, 2), slice(0, 2))}, {"e": empty, "f": empty})
    rows = {r.stem: r for r in agree(a_dir, b_dir).rows}
    assert rows["e"].dice == 1.0 and rows["f"].dice == 0.0  # 99 % of pixels agree, but no cell pixel does


def test_instance_f1_at_iou_half() -> None:
    a = np.zeros((20, 20), np.uint16)
    b = np.zeros((20, 20), np.uint16)
    a[0:4, 0:4], b[0:4, 0:4] = 1, 7  # identical: IoU 1
    a[10:14, 0:4], b[10:14, 0:2] = 2, 8  # IoU exactly 0.5: no match (strictly above, as annotation.metrics)
    a[0:4, 10:14], b[0:4, 10:13] = 3, 9  # IoU 0.75: matches
    a[15:19, 15:19] = 4  # missed by B
    b[10:12, 10:12] = 5  # extra in B
    b[12:14, 10:12] = 6  # extra in B
    n_a, n_b, matched, ious = match_instances(a, b)
    assert (n_a, n_b, matched) == (4, 5, 2) and sorted(ious) == pytest.approx([0.75, 1.0])
    result = compare(read_annotation_array(a), read_annotation_array(b))
    assert result.instance_f1 == pytest.approx(2 * 2 / (4 + 5)) and result.matched == 2
    assert match_instances(a, b, threshold=0.4)[2] == 3


def read_annotation_array(labels: np.ndarray):
    from annotation.agree import Annotation

    return Annotation(Path("mem.png"), labels > 0, labels)


def test_instance_maps_read_as_instances_and_merges_lower_f1(tmp_path: Path) -> None:
    a = np.zeros((20, 20), np.uint16)
    a[0:10, 0:4], a[0:10, 4:8], a[0:10, 8:12] = 1, 2, 3  # three touching cells
    b = np.where(a > 0, 1, 0).astype(np.uint16)  # merged into one: IoU 1/3 with each, no match
    a_dir, b_dir = _folders(tmp_path, {"m": a}, {"m": b})
    row = agree(a_dir, b_dir).rows[0]
    assert row.dice == 1.0 and row.instance_f1 == 0.0 and row.disagreement == 1.0
    assert (row.cells_a, row.cells_b) == (3, 1)


def test_release_style_graded_mask_has_dark_cells(tmp_path: Path) -> None:
    mask = np.full((20, 20), 255, np.uint8)
    mask[0:10, 0:10] = 30
    mask[0:5, 0:5] = 60  # texture inside the cells
    mask[12, 12] = 200  # an ambiguous edge pixel
    write_png(tmp_path / "r.png", mask)
    cells = read_annotation(tmp_path / "r.png").cells
    assert cells.sum() == 100 and cells[0, 0] and not cells[15, 15]


def test_unpaired_images_are_reported_and_tables_written(tmp_path: Path) -> None:
    mask = _binary(slice(0, 5), slice(0, 5))
    a_dir, b_dir = _folders(tmp_path, {"x": mask, "only_a": mask}, {"x": mask, "only_b": mask})
    result = agree(a_dir, b_dir, out_dir=tmp_path / "out")
    assert result.only_a == ("only_a",) and result.only_b == ("only_b",)
    rows = list(csv.DictReader((tmp_path / "out" / "agreement.csv").open()))
    assert [(r["stem"], r["status"]) for r in rows] == [("x", "both"), ("only_a", "only_a"), ("only_b", "only_b")]
    record = json.loads((tmp_path / "out" / "agreement.json").read_text())
    assert record["schema_version"] == 1 and record["only_b"] == ["only_b"] and record["images"][0]["dice"] == 1.0
    with pytest.raises(UsageError, match="--overwrite"):
        agree(a_dir, b_dir, out_dir=tmp_path / "out")


def test_masks_of_different_sizes_name_both_files(tmp_path: Path) -> None:
    a_dir, b_dir = _folders(tmp_path, {"x": np.zeros((20, 20), np.uint8)}, {"x": np.zeros((10, 20), np.uint8)})
    with pytest.raises(DataError) as caught:
        agree(a_dir, b_dir)
    assert str(a_dir / "x.png") in str(caught.value) and str(b_dir / "x.png") in str(caught.value)


def test_no_common_stem_and_empty_folder_are_data_errors(tmp_path: Path) -> None:
    a_dir, b_dir = _folders(tmp_path, {"x": np.zeros((4, 4), np.uint8)}, {"y": np.zeros((4, 4), np.uint8)})
    with pytest.raises(DataError, match="no stem in common"):
        agree(a_dir, b_dir)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="none"):
        agree(a_dir, tmp_path / "empty")


def test_cli_agree(tmp_path: Path) -> None:
    a_dir, b_dir = _folders(
        tmp_path, {"x": _binary(slice(0, 10), slice(0, 10))}, {"x": _binary(slice(0, 10), slice(0, 5))}
    )
    runner = CliRunner()
    result = runner.invoke(annotate_app, ["agree", str(a_dir), str(b_dir), "--out", str(tmp_path / "o"), "-q"])
    assert result.exit_code == 0, result.output
    assert "0.667" in result.output and (tmp_path / "o" / "agreement.csv").is_file()
    result = runner.invoke(annotate_app, ["agree", str(a_dir), str(tmp_path / "missing"), "-q"])
    assert result.exit_code == 2 and squeezed("no such file or folder") in squeezed(result.output)
