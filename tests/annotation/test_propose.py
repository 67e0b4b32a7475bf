"""Mask proposals: quality on synthetic smears, scale handling, clean-up, the folder writer and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from annotation.commands import app as annotate_app
from annotation.propose import (
    ProposeConfig,
    estimate_cell_radius,
    propose_folder,
    propose_mask,
    propose_mask_with_radius,
)
from rbc_dataset.errors import DataError, UsageError
from rbc_dataset.fileio import encode_png, read_image
from rbc_dataset.masks import to_gray
from tests.helpers import REALDATA
from tests.helpers.smears import drawn_smear, synthetic_pair


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * float((a & b).sum()) / float(a.sum() + b.sum())


@pytest.mark.parametrize(("cls", "stem"), [("Anemic", "001_a"), ("Healthy", "001_h")])
def test_proposals_match_synthetic_truth(synthetic_root: Path, cls: str, stem: str) -> None:
    image, instances, cells = synthetic_pair(synthetic_root, cls, stem)
    mask, radius = propose_mask_with_radius(image)
    assert mask.dtype == bool and mask.shape == instances.shape
    assert _dice(mask, instances > 0) >= 0.95
    true_radius = float(np.median((cells["major_axis_px"] + cells["minor_axis_px"]) / 4))
    assert 0.75 * true_radius <= radius <= 1.25 * true_radius


@pytest.mark.parametrize("radius", [8, 30])
def test_radius_estimate_follows_the_cells(radius: int) -> None:
    _, truth = drawn_smear(radius)
    assert estimate_cell_radius(truth) == pytest.approx(radius, rel=0.15)
    assert estimate_cell_radius(np.zeros((10, 10), bool), default=7.0) == 7.0


@pytest.mark.parametrize("scale", [1, 3])
def test_pale_centres_filled_specks_removed_platelets_kept_at_any_scale(scale: int) -> None:
    image, truth = drawn_smear(10, scale=scale)
    mask = propose_mask(image)
    assert _dice(mask, truth) >= 0.95
    n_true = cv2.connectedComponents(truth.astype(np.uint8))[0] - 1
    n_found = cv2.connectedComponents(mask.astype(np.uint8))[0] - 1
    assert n_found == n_true  # 16 cells + one touching pair + one platelet; no speck, no centre hole
    holes = cv2.connectedComponents((~mask).astype(np.uint8), connectivity=4)[0] - 1
    assert holes == 1  # only the background


@pytest.mark.parametrize("feature", ["fisher", "colour", "green"])
def test_every_feature_works_and_blank_images_give_no_cells(feature: str) -> None:
    image, truth = drawn_smear(10)
    assert _dice(propose_mask(image, ProposeConfig(feature=feature)), truth) >= 0.9
    assert not propose_mask(np.full((64, 64, 3), 200, np.uint8)).any()


def test_bad_config_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="valid choices"):
        ProposeConfig(feature="hue")
    with pytest.raises(UsageError, match="speck_cells"):
        ProposeConfig(speck_cells=-1)


def _image_folder(tmp_path: Path, n: int = 2) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(n):
        image, _ = drawn_smear(8, seed=i)
        (folder / f"s{i}.png").write_bytes(encode_png(image))
    return folder


def test_propose_folder_writes_masks_overlays_and_config(tmp_path: Path) -> None:
    folder = _image_folder(tmp_path)
    result = propose_folder(folder, tmp_path / "out", workers=1, show_progress=False)
    assert result.n_images == 2 and result.mean_blobs == 18
    mask = read_image(tmp_path / "out" / "s0.png")
    assert mask.dtype == np.uint8 and mask.ndim == 2 and set(np.unique(mask)) == {0, 255}
    assert read_image(tmp_path / "out" / "overlays" / "s0.png").shape == (*mask.shape, 3)
    saved = json.loads((tmp_path / "out" / "propose_config.json").read_text())
    assert saved["config"]["feature"] == "fisher" and [i["stem"] for i in saved["images"]] == ["s0", "s1"]


def test_propose_folder_never_overwrites_or_writes_into_the_input(tmp_path: Path) -> None:
    folder = _image_folder(tmp_path, 1)
    out = tmp_path / "out"
    propose_folder(folder, out, show_progress=False)
    with pytest.raises(UsageError, match="--overwrite"):
        propose_folder(folder, out, show_progress=False)
    propose_folder(folder, out, overwrite=True, show_progress=False)
    with pytest.raises(UsageError, match="inside the input"):
        propose_folder(folder, folder / "masks", show_progress=False)
    with pytest.raises(UsageError, match="holds the input"):
        propose_folder(folder, tmp_path, overwrite=True, show_progress=False)
    assert (folder / "s0.png").is_file()


def test_unreadable_image_fails_cleanly_and_writes_nothing(tmp_path: Path) -> None:
    folder = _image_folder(tmp_path, 1)
    (folder / "bad.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(DataError, match="bad.jpg"):
        propose_folder(folder, tmp_path / "out", show_progress=False)
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_cli_propose(tmp_path: Path) -> None:
    folder = _image_folder(tmp_path, 1)
    runner = CliRunner()
    result = runner.invoke(annotate_app, ["propose", str(folder), "--out", str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "proposed 1 masks" in result.output and (tmp_path / "out" / "s0.png").is_file()
    again = runner.invoke(annotate_app, ["propose", str(folder), "--out", str(tmp_path / "out"), "--quiet"])
    assert again.exit_code == 2 and "--overwrite" in again.output
    (tmp_path / "empty").mkdir()
    empty = runner.invoke(annotate_app, ["propose", str(tmp_path / "empty"), "--out", str(tmp_path / "o2"), "-q"])
    assert empty.exit_code == 1 and "no images" in empty.output


@pytest.mark.realdata
def test_real_anerbc_proposal_dice_is_computed() -> None:
    image_path = REALDATA / "AneRBC-I" / "Healthy_individuals" / "Original_images" / "004_h.png"
    truth = to_gray(read_image(image_path.parent.parent / "Binary_segmented" / "004_h.png")) < 128
    image = read_image(image_path)[..., :3]
    assert _dice(propose_mask(image), truth) > 0.9
