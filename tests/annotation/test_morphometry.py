"""Tests for annotation/morphometry.py and annotation/cell_types.py: drawn shapes of known geometry,
rules relative to the image's own normal cells, the folder runner and its CLI."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from annotation.cell_types import CELL_TYPES, classify_cells, normal_reference
from annotation.commands import app as annotate_app
from annotation.morphometry import cell_features, image_summary, morphometry_folder
from rbc_dataset.errors import DataError, UsageError
from rbc_dataset.fileio import write_png

BACKGROUND = (212, 205, 208)
RIM = (175, 120, 150)  # haemoglobin ring colour
PALE = (196, 165, 182)  # central pallor colour


def _draw_cell(image, labels, label, centre, axes, angle=0.0, rim=RIM, pallor=0.35, pale=PALE, spot=False, tail=0):
    """An elliptical cell with a pale centre (``pallor`` of the axes); ``spot`` adds a target cell's dense dot,
    ``tail`` a teardrop's tail of that length (px) to the right."""
    cv2.ellipse(image, centre, axes, angle, 0, 360, rim, -1)
    if tail:
        x, y, half = centre[0], centre[1], max(2, axes[1] // 2)
        triangle = np.array([[x + axes[0] - 3, y - half], [x + axes[0] + tail, y], [x + axes[0] - 3, y + half]])
        cv2.fillPoly(image, [triangle], rim)
        cv2.fillPoly(labels, [triangle], label)
    if pallor > 0:
        inner = (max(1, round(axes[0] * pallor)), max(1, round(axes[1] * pallor)))
        cv2.ellipse(image, centre, inner, angle, 0, 360, pale, -1)
    if spot:
        cv2.circle(image, centre, max(1, round(min(axes) * 0.18)), rim, -1)
    cv2.ellipse(labels, centre, axes, angle, 0, 360, label, -1)


def _canvas(height=200, width=240):
    return np.full((height, width, 3), BACKGROUND, np.uint8), np.zeros((height, width), np.uint16)


def _smear(scale: float = 1.0, seed: int = 0):
    """A grid of normal cells (radius 10 * scale) plus one of each abnormal kind, with its truth."""
    rng = np.random.default_rng(seed)
    step = int(round(34 * scale))
    image, labels = _canvas(8 * step, 9 * step)
    truth: dict[int, str] = {}
    slots = [(step // 2 + step * i, step // 2 + step * j) for j in range(8) for i in range(9)]
    specials = {
        3: ("microcyte", {"axes": (round(7 * scale),) * 2}),
        9: ("macrocyte", {"axes": (round(13.5 * scale),) * 2}),
        15: ("elliptocyte", {"axes": (round(13 * scale), round(7 * scale)), "angle": 30}),
        22: ("hypochromic", {"axes": (round(10 * scale),) * 2, "rim": (192, 160, 178), "pallor": 0.7}),
        30: ("target", {"axes": (round(10 * scale),) * 2, "pallor": 0.6, "spot": True}),
        40: ("schistocyte", {"axes": (round(6 * scale), round(5 * scale)), "pallor": 0}),
        50: ("teardrop", {"axes": (round(10 * scale),) * 2, "tail": round(11 * scale)}),
    }
    for label, centre in enumerate(slots, start=1):
        kind, kwargs = specials.get(label, ("normocyte", {}))
        if kind == "normocyte":
            radius = round(10 * scale * float(np.exp(rng.normal(0, 0.03))))
            kwargs = {"axes": (radius, radius)}
        _draw_cell(image, labels, label, centre, **kwargs)
        truth[label] = kind
    image = cv2.GaussianBlur(image, (0, 0), 0.7)
    noise = rng.normal(0, 1.0, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8), labels, truth


def test_disc_is_round_and_its_pale_centre_is_measured() -> None:
    image, labels = _canvas()
    _draw_cell(image, labels, 1, (60, 60), (14, 14))
    _draw_cell(image, labels, 2, (160, 60), (14, 14), pallor=0)
    features = cell_features(image, labels).set_index("cell_id")
    disc = features.loc[1]
    assert disc["circularity"] == pytest.approx(1.0, abs=0.03)
    assert disc["elongation"] == pytest.approx(1.0, abs=0.03)
    assert disc["solidity"] > 0.97 and disc["convexity"] > 0.97
    assert disc["eq_diameter_px"] == pytest.approx(29, abs=1.0)
    assert disc["skewness"] < 0.05
    assert not disc["touches_border"]
    # The pale centre is ~0.35 of the radius: ~12 % of the area; the plain disc has none.
    assert 0.05 < disc["pallor_ratio"] < 0.25
    assert features.loc[2, "pallor_ratio"] < 0.02
    assert disc["mean_r"] > disc["mean_g"]  # stained cells absorb green most
    assert features.loc[2, "rim_od"] > 0.1


def test_ellipse_two_to_one() -> None:
    image, labels = _canvas()
    _draw_cell(image, labels, 1, (120, 100), (40, 20), angle=35)
    cell = cell_features(image, labels).iloc[0]
    assert cell["elongation"] == pytest.approx(2.0, abs=0.1)
    assert cell["circularity"] == pytest.approx(0.84, abs=0.04)  # 4 pi A / P^2 of a 2:1 ellipse is 0.841
    assert cell["major_axis_px"] == pytest.approx(81, abs=3)
    assert cell["skewness"] < 0.05  # symmetric, however elongated


def test_teardrop_is_lopsided_and_target_has_a_dense_centre() -> None:
    image, labels = _canvas()
    _draw_cell(image, labels, 1, (60, 100), (14, 14), tail=20)
    _draw_cell(image, labels, 2, (170, 100), (14, 14), pallor=0.6, spot=True)
    _draw_cell(image, labels, 3, (170, 40), (14, 14))
    features = cell_features(cv2.GaussianBlur(image, (0, 0), 0.7), labels).set_index("cell_id")
    assert features.loc[1, "skewness"] > 0.3
    assert features.loc[2, "centre_contrast"] > 0.1 > features.loc[3, "centre_contrast"]


def test_border_cells_are_flagged_and_left_out_of_the_summary() -> None:
    image, labels = _canvas()
    _draw_cell(image, labels, 1, (60, 60), (10, 10))
    _draw_cell(image, labels, 2, (120, 60), (12, 12))
    _draw_cell(image, labels, 3, (5, 150), (10, 10))  # cut by the left edge
    features = cell_features(image, labels, um_per_px=0.35)
    assert features.set_index("cell_id")["touches_border"].to_dict() == {1: False, 2: False, 3: True}
    summary = image_summary(features)
    assert summary["n_cells"] == 2 and summary["n_border_cells"] == 1
    inner = features[~features["touches_border"]]
    assert summary["mean_diameter_px"] == pytest.approx(inner["eq_diameter_px"].mean())
    expected_cv = 100 * inner["eq_diameter_px"].std(ddof=1) / inner["eq_diameter_px"].mean()
    assert summary["rdw_cv_pct"] == pytest.approx(expected_cv)
    assert summary["mean_diameter_um"] == pytest.approx(summary["mean_diameter_px"] * 0.35)
    assert features["area_um2"].iloc[0] == pytest.approx(features["area_px"].iloc[0] * 0.35**2)


def test_empty_instance_map() -> None:
    image, labels = _canvas()
    features = cell_features(image, labels)
    assert features.empty and "circularity" in features
    typed = classify_cells(features)
    assert "type" in typed and typed.empty
    summary = image_summary(typed)
    assert summary["n_cells"] == 0 and np.isnan(summary["mean_diameter_px"]) and np.isnan(summary["share_normocyte"])


def test_bad_inputs_are_refused() -> None:
    image, labels = _canvas()
    with pytest.raises(DataError, match="size"):
        cell_features(image, labels[:-1])
    with pytest.raises(DataError, match="integer instance map"):
        cell_features(image, labels.astype(np.float32))
    with pytest.raises(DataError, match="RGB image"):
        cell_features(image[..., :2], labels)
    with pytest.raises(UsageError, match="um-per-px"):
        cell_features(image, labels, um_per_px=0)


@pytest.mark.parametrize("scale", [1.0, 1.6])
def test_rules_are_relative_to_the_image_s_normal_cells(scale: float) -> None:
    image, labels, truth = _smear(scale)
    typed = classify_cells(cell_features(image, labels)).set_index("cell_id")
    reference = normal_reference(cell_features(image, labels))
    assert reference["diameter_px"] == pytest.approx(21 * scale, rel=0.06)
    predicted = typed["type"].to_dict()
    wrong = {k: (truth[k], predicted[k]) for k in truth if truth[k] != predicted[k]}
    assert not wrong
    assert set(typed["type"]) == set(CELL_TYPES)


def test_the_same_cell_is_a_microcyte_only_among_larger_neighbours() -> None:
    """A 14 px cell is normal in an image of 14 px cells and a microcyte in an image of 20 px cells."""
    results = []
    for normal_radius in (7, 10):
        image, labels = _canvas(240, 280)
        centres = [(30 + 45 * i, 30 + 45 * j) for j in range(5) for i in range(6)]
        for label, centre in enumerate(centres, start=1):
            radius = 7 if label == 1 else normal_radius
            _draw_cell(image, labels, label, centre, (radius, radius))
        typed = classify_cells(cell_features(image, labels)).set_index("cell_id")
        results.append(typed.loc[1, "type"])
    assert results == ["normocyte", "microcyte"]


def test_types_on_a_synthetic_image_with_true_instances(synthetic_root: Path) -> None:
    from annotation.images import load_rgb
    from rbc_dataset.fileio import read_image

    truth_dir = synthetic_root / "synthetic_truth" / "AneRBC-I" / "Anemic_individuals"
    image = load_rgb(synthetic_root / "AneRBC_dataset/AneRBC-I/Anemic_individuals/Original_images/001_a.png")
    typed = classify_cells(cell_features(image, read_image(truth_dir / "instances" / "001_a.png")))
    truth = pd.read_csv(truth_dir / "cells" / "001_a.csv").set_index("cell_id")["type"]
    inner = typed[~typed["touches_border"]]
    agree = (inner["type"].to_numpy() == truth.loc[inner["cell_id"]].to_numpy()).mean()
    assert agree > 0.85


def _write_folder(root: Path) -> tuple[Path, Path]:
    images, instances = root / "images" / "set", root / "instances"
    images.mkdir(parents=True)
    instances.mkdir()
    for seed in (0, 1):
        image, labels, _ = _smear(seed=seed)
        write_png(images / f"smear_{seed}.png", image)
        write_png(instances / f"smear_{seed}.png", labels)
    return root / "images", instances


def test_morphometry_folder_writes_tables_atomically(tmp_path: Path) -> None:
    images, instances = _write_folder(tmp_path)
    out = tmp_path / "morph"
    result = morphometry_folder(images, out, instances_dir=instances, um_per_px=0.3, workers=1, show_progress=False)
    assert result.n_images == 2 and result.n_cells == 2 * 72
    cells = pd.read_csv(out / "cells" / "smear_0.csv")
    assert {"cell_id", "type", "circularity", "pallor_ratio", "eq_diameter_um", "touches_border"} <= set(cells)
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["stem"]) == ["smear_0", "smear_1"]
    assert summary["share_microcyte"].iloc[0] == pytest.approx(1 / 72)
    assert json.loads((out / "morphometry.json").read_text())["um_per_px"] == 0.3
    with pytest.raises(UsageError, match="overwrite"):
        morphometry_folder(images, out, instances_dir=instances, workers=1, show_progress=False)
    morphometry_folder(images, out, instances_dir=instances, overwrite=True, workers=2, show_progress=False)
    assert not (out / "morphometry.json").read_text().count('"um_per_px": 0.3')


def test_morphometry_folder_names_a_bad_instance_map(tmp_path: Path) -> None:
    images, instances = _write_folder(tmp_path)
    (instances / "smear_1.png").unlink()
    with pytest.raises(DataError, match="smear_1.png"):
        morphometry_folder(images, tmp_path / "a", instances_dir=instances, workers=2, show_progress=False)
    write_png(instances / "smear_1.png", np.zeros((10, 10), np.uint16))
    with pytest.raises(DataError, match="image's size"):
        morphometry_folder(images, tmp_path / "b", instances_dir=instances, workers=1, show_progress=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    with pytest.raises(UsageError, match="inside the input"):
        morphometry_folder(images, images / "out", instances_dir=instances, workers=1, show_progress=False)


def test_morphometry_folder_segments_without_instances(tmp_path: Path) -> None:
    pytest.importorskip("annotation.instances")
    images, _ = _write_folder(tmp_path)
    result = morphometry_folder(images, tmp_path / "morph", workers=1, show_progress=False)
    assert result.n_cells > 100


def test_cli_morphometry(tmp_path: Path) -> None:
    images, instances = _write_folder(tmp_path)
    runner = CliRunner()
    args = ["morphometry", str(images), "--out", str(tmp_path / "m"), "--instances", str(instances), "--quiet"]
    result = runner.invoke(annotate_app, [*args, "--um-per-px", "0.3", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "2 images" in result.output and (tmp_path / "m" / "summary.csv").is_file()
    again = runner.invoke(annotate_app, args)
    assert again.exit_code == 2 and "overwrite" in again.output
    (tmp_path / "empty").mkdir()
    empty = runner.invoke(annotate_app, ["morphometry", str(tmp_path / "empty"), "--out", str(tmp_path / "x"), "-q"])
    assert empty.exit_code == 1 and "no images" in empty.output
