"""validate-masks' Markdown and HTML summaries: every column of the findings, zoomed crops at the findings."""

from __future__ import annotations

import html
import re
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from rbc_dataset.fileio import read_image, write_png
from rbc_dataset.validate.config import ValidateConfig
from rbc_dataset.validate.figures import CROP_PX, ZOOM, draw_pair
from rbc_dataset.validate.run import validate_masks


def _pair(tmp_path: Path, speck: tuple[int, int] | None, hole: tuple[int, int] | None) -> pd.Series:
    """A 240x200 image of dark disks on a light background and its 0/255 mask, with a planted speck and hole."""
    image = np.full((200, 240, 3), 215, np.uint8)
    mask = np.zeros((200, 240), np.uint8)
    for centre in ((50, 50), (120, 60), (190, 140), (60, 150)):
        cv2.circle(image, centre, 22, (120, 80, 140), -1)
        cv2.circle(mask, centre, 22, 255, -1)
    if speck:
        mask[speck[1] : speck[1] + 3, speck[0] : speck[0] + 3] = 255
    if hole:
        mask[hole[1] : hole[1] + 4, hole[0] : hole[0] + 4] = 0
    write_png(tmp_path / "image.png", image)
    write_png(tmp_path / "mask.png", mask)
    return pd.Series({"root": str(tmp_path), "image_path": "image.png", "mask_path": "mask.png"})


def _crop_centre(crop) -> tuple[float, float]:
    side_x, side_y = crop.picture.shape[1] / ZOOM, crop.picture.shape[0] / ZOOM
    return crop.x + side_x / 2, crop.y + side_y / 2


def test_crops_are_centred_on_the_largest_speck_and_hole(tmp_path):
    row = _pair(tmp_path, speck=(200, 40), hole=(58, 148))
    figures = draw_pair(row, "cells_high", codes={"specks", "holes"}, config=ValidateConfig().to_dict())
    speck, hole = figures.crops
    assert speck.what.startswith("the largest speck (9 px)") and hole.what.startswith("the largest hole (16 px)")
    assert speck.picture.shape == (CROP_PX * ZOOM, CROP_PX * ZOOM, 3)
    # the crop holds the speck (near its centre, shifted only where the image border stops it)
    assert speck.x <= 200 < speck.x + CROP_PX and speck.y <= 40 < speck.y + CROP_PX
    assert abs(_crop_centre(hole)[0] - 60) <= 1 and abs(_crop_centre(hole)[1] - 150) <= 1
    assert figures.thumbnail.shape[1] == 360


def test_a_pair_without_specks_or_holes_gets_a_crop_where_mask_and_image_disagree(tmp_path):
    row = _pair(tmp_path, speck=None, hole=None)
    shifted = np.roll(read_image(tmp_path / "mask.png"), 12, axis=1)
    write_png(tmp_path / "mask.png", shifted)
    (crop,) = draw_pair(row, "cells_high", codes={"shifted_mask"}, config=ValidateConfig().to_dict()).crops
    assert crop.what.startswith("where mask and image disagree most")


def test_html_summary_has_every_column_and_a_bounded_number_of_pictures(defective_root, tmp_path):
    config = ValidateConfig(thumbnails=4, workers=1)
    result = validate_masks(defective_root, out_dir=tmp_path, config=config, show_progress=False)
    page = result.html_path.read_text()
    for column in ("severity", "code", "count", "example", "expected", "found", "fix"):
        assert f"<th>{column}</th>" in page
    document = pd.read_json(result.report_path, typ="series")
    some = document["findings"][0]
    for key in ("expected", "found", "fix"):
        assert html.escape(some[key], quote=True) in page
    pictures = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png"))
    assert 4 <= len(pictures) <= 4 * 3 and any("/crops/" in p for p in pictures)
    sources = [html.unescape(s) for s in re.findall(r"<img src='([^']+)'", page)]
    assert sorted(sources) == pictures  # every picture on the page, and every file a picture of the page
    markdown = result.markdown_path.read_text()
    assert "| severity | code | file | found | fix |" in markdown and "crops/" in markdown
