"""Instance splitting, its metrics, the folder writer and the CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage.segmentation import watershed
from typer.testing import CliRunner

from annotation.commands import app as annotate_app
from annotation.external import CHULA_DEFAULT_POINT, read_chula_points, read_voc_boxes
from annotation.images import load_rgb
from annotation.instances import InstanceConfig, instances_folder, merge_split_cells, segment_instances, split_cells
from annotation.metrics import (
    aggregated_jaccard,
    average_precision,
    box_recall,
    instance_boxes,
    instance_scores,
    point_scores,
)
from annotation.propose import propose_mask
from rbc_dataset.errors import DataError, UsageError
from rbc_dataset.fileio import encode_png, read_image
from tests.helpers import REALDATA, squeezed
from tests.helpers.smears import drawn_smear, synthetic_pair


def discs(centres: list[tuple[int, int]], radius: int, size: int) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    for c in centres:
        cv2.circle(mask, c, radius, 1, -1)
    return mask.astype(bool)


@pytest.mark.parametrize("scale", [1, 4])
def test_touching_and_overlapping_discs_are_split_at_any_scale(scale: int) -> None:
    r = 10 * scale
    centres = [(3 * r, 3 * r), (3 * r + int(1.9 * r), 3 * r)]  # touching pair
    centres += [(3 * r, 8 * r), (3 * r + int(1.5 * r), 8 * r), (3 * r + 3 * r, 8 * r)]  # overlapping chain of 3
    centres += [(10 * r, 3 * r), (10 * r, 10 * r)]  # isolated
    labels = split_cells(discs(centres, r, 13 * r))
    assert labels.dtype == np.uint16 and labels.max() == 7
    assert set(np.unique(labels)) == set(range(8))  # consecutive labels


def test_an_elongated_cell_stays_one_instance() -> None:
    mask = np.zeros((200, 200), np.uint8)
    cv2.line(mask, (78, 88), (122, 112), 1, 26)  # an elongated cell: a flat distance ridge with several peaks
    for c in [(30, 30), (170, 30), (30, 170), (170, 170)]:
        cv2.circle(mask, c, 22, 1, -1)  # round cells set the typical size
    assert split_cells(mask.astype(bool), InstanceConfig(merge_solidity=0)).max() > 5  # the watershed alone splits it
    assert split_cells(mask.astype(bool)).max() == 5


def _chained_pieces(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Six overlapping ellipses cut by 25 random watershed seeds: merges that chain through several pieces."""
    rng = np.random.default_rng(seed)
    image = np.zeros((120, 120), np.uint8)
    for _ in range(6):
        centre = tuple(int(v) for v in rng.integers(15, 105, 2))
        axes = (int(rng.integers(8, 20)), int(rng.integers(5, 10)))
        cv2.ellipse(image, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    cells = image.astype(bool)
    dist = cv2.distanceTransform(image, cv2.DIST_L2, 5)
    markers = np.zeros(image.shape, np.int32)
    for k, (y, x) in enumerate(np.argwhere(cells)[rng.choice(int(cells.sum()), 25, replace=False)], 1):
        markers[y, x] = k
    return watershed(-dist, markers, mask=cells), dist


# Digests of merge_split_cells' labels from its hand-written union-find, before scipy's DisjointSet replaced it
# (numbering by each merged instance's smallest piece would change seeds 0, 2 and 3).
@pytest.mark.parametrize(
    ("seed", "n", "digest"),
    [(0, 5, "b6a34301e500f9f8"), (1, 6, "5ae70ffdbc188504"), (2, 4, "ba0397db645949c7"), (3, 6, "1c6c952e438ba47d")],
)
def test_merged_pieces_are_numbered_as_before(seed: int, n: int, digest: str) -> None:
    labels, dist = _chained_pieces(seed)
    merged = merge_split_cells(labels, dist, max_area=900, min_solidity=0.8)
    assert merged.max() == n and hashlib.sha256(merged.tobytes()).hexdigest()[:16] == digest


def test_empty_mask_and_shape_mismatch() -> None:
    assert split_cells(np.zeros((20, 20), bool)).max() == 0
    with pytest.raises(ValueError, match="differs"):
        segment_instances(np.zeros((20, 20, 3), np.uint8), cells=np.zeros((10, 10), bool))
    with pytest.raises(UsageError, match="min_distance_radii"):
        InstanceConfig(min_distance_radii=-1)


@pytest.mark.parametrize(("cls", "stem"), [("Anemic", "001_a"), ("Healthy", "001_h")])
def test_instances_match_synthetic_truth(synthetic_root: Path, cls: str, stem: str) -> None:
    image, truth, _ = synthetic_pair(synthetic_root, cls, stem)
    labels = segment_instances(image)
    scores = instance_scores(truth.astype(np.int64), labels.astype(np.int64))
    assert scores["ap@0.5"] >= 0.85
    assert abs(scores["count_error"]) <= 0.1


def test_metrics_on_known_cases() -> None:
    truth = np.zeros((20, 20), np.int64)
    truth[2:8, 2:8], truth[10:18, 10:18] = 1, 2
    perfect = instance_scores(truth, truth)
    assert perfect["ap@0.5"] == perfect["ap@0.75"] == perfect["aji"] == 1.0 and perfect["count_error"] == 0
    split = truth.copy()
    split[10:18, 14:18] = 3  # the second cell cut in half
    ap = average_precision(truth, split)
    assert ap["tp@0.5"] == 1 and ap["fp@0.5"] == 2 and ap["fn@0.5"] == 1 and ap["ap@0.5"] == pytest.approx(0.25)
    assert aggregated_jaccard(truth, split) == pytest.approx((36 + 32) / (36 + 64 + 32))  # unused half adds
    assert instance_scores(truth, split)["count_error"] == pytest.approx(0.5)
    points = [(4, 4), (12, 12), (16, 16), (0, 19), (99, 99)]  # x, y; the last one is off the image
    s = point_scores(truth, points)
    assert s["points"] == 4 and s["one_point_share"] == 0.25 and s["background_share"] == 0.25
    assert s["merged_instances"] == 1 and s["merged_share"] == 0.5
    assert instance_boxes(truth).tolist() == [[2, 2, 7, 7], [10, 10, 17, 17]]
    voc = np.array([[3, 3, 8, 8], [11, 11, 13, 18], [40, 40, 50, 50]])  # 1-based VOC boxes; IoU 1, 0.375, 0
    assert box_recall(truth, voc) == {"boxes": 3, "matched": 1, "recall": pytest.approx(1 / 3)}


def _folders(tmp_path: Path, n: int = 2) -> tuple[Path, Path]:
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    for i in range(n):
        image, truth = drawn_smear(8, seed=i)
        (images / f"s{i}.png").write_bytes(encode_png(image))
        (masks / f"s{i}.png").write_bytes(encode_png(np.where(truth, 255, 0).astype(np.uint8)))
    return images, masks


def test_instances_folder_with_given_masks(tmp_path: Path) -> None:
    images, masks = _folders(tmp_path)
    result = instances_folder(images, tmp_path / "out", masks=masks, workers=2, show_progress=False)
    labels = read_image(tmp_path / "out" / "s0.png")
    assert labels.dtype == np.uint16 and labels.max() == 19  # 16 + the touching pair + the platelet
    assert result.mean_cells == 19 and (tmp_path / "out" / "overlays" / "s1.png").is_file()
    saved = json.loads((tmp_path / "out" / "instances_config.json").read_text())
    assert saved["masks"] == str(masks) and saved["config"]["min_distance_radii"] == 0.4


def test_instances_folder_refuses_bad_masks(tmp_path: Path) -> None:
    images, masks = _folders(tmp_path)
    (masks / "s1.png").unlink()
    with pytest.raises(DataError, match=r"1 of 2 missing: s1\.png"):
        instances_folder(images, tmp_path / "out", masks=masks, show_progress=False)
    (masks / "s1.png").write_bytes(encode_png(np.zeros((10, 12), np.uint8)))
    with pytest.raises(DataError, match="12x10"):
        instances_folder(images, tmp_path / "out", masks=masks, workers=2, show_progress=False)
    assert not (tmp_path / "out").exists()


def test_cli_instances(tmp_path: Path) -> None:
    images, masks = _folders(tmp_path, 1)
    runner = CliRunner()
    args = ["instances", str(images), "--out", str(tmp_path / "out"), "--quiet"]
    result = runner.invoke(annotate_app, args)
    assert result.exit_code == 0, result.output
    assert "mean 19 cells per image" in result.output
    assert runner.invoke(annotate_app, args).exit_code == 2
    with_masks = runner.invoke(annotate_app, [*args, "--masks", str(masks), "--overwrite"])
    assert with_masks.exit_code == 0, with_masks.output
    missing = runner.invoke(annotate_app, [*args, "--masks", str(tmp_path / "nope"), "--overwrite"])
    assert missing.exit_code == 2 and squeezed("no such file or folder") in squeezed(missing.output)


@pytest.mark.realdata
def test_real_point_and_box_scores_are_computed() -> None:
    chula = REALDATA / "Chula-RBC-12-Dataset"
    points = [(x, y) for x, y, _ in read_chula_points(chula / "Label" / "100.txt") if (x, y) != CHULA_DEFAULT_POINT]
    image = load_rgb(chula / "Dataset" / "100.jpg")
    scores = point_scores(split_cells(propose_mask(image)), points)
    assert scores["points"] == len(points) and scores["one_point_share"] > 0.8
    bccd = REALDATA / "BCCD_Dataset" / "BCCD"
    boxes = [b for b in read_voc_boxes(bccd / "Annotations" / "BloodImage_00010.xml") if b["name"] == "RBC"]
    labels = segment_instances(load_rgb(bccd / "JPEGImages" / "BloodImage_00010.jpg"))
    recall = box_recall(labels, np.array([[b["xmin"], b["ymin"], b["xmax"], b["ymax"]] for b in boxes]))
    assert recall["boxes"] == len(boxes) and 0.0 <= recall["recall"] <= 1.0
