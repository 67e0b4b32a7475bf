"""rbc_dataset.masks: the one small-component remover that validate-masks --fix and annotate propose share."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from rbc_dataset.masks import fill_small_holes, low_side, remove_small_components, to_gray
from rbc_dataset.validate.fix import FixOptions, canonicalise


def _fixture_cells() -> np.ndarray:
    """A 64x80 cell map with specks, holes, a cut cell and an open gap, inside and on the border."""
    disc = np.zeros((64, 80), np.uint8)
    cv2.circle(disc, (30, 30), 14, 1, -1)
    cells = disc.astype(bool)
    cells[28:31, 28:31] = False  # 9-px hole
    cells[22, 24] = False  # 1-px hole
    cells[5:7, 60:62] = True  # 4-px speck
    cells[50, 10] = True  # 1-px speck
    cells[0:2, 40:43] = True  # 6-px piece on the top border: a cut cell
    cells[40:64, 66:80] = True  # a cell cut by the corner
    cells[63, 70:72] = False  # 2-px gap open to the bottom border
    cells[55:57, 72:74] = False  # 4-px hole inside the corner cell
    cells[50:52, 30:33] = True  # 7-px speck, one pixel joined only diagonally
    cells[52, 33] = True
    return cells


def _digest(cells: np.ndarray) -> str:
    return hashlib.sha256(np.packbits(cells).tobytes()).hexdigest()[:16]


# Recorded with validate/fix.py's and annotation/propose.py's own copies before they became one function.
FIX_BEFORE = [
    ((None, None), "4c56475ff3e26d5d", 0, 0),
    ((5, None), "9ecfeafa6523e1d8", 2, 0),
    ((7, None), "9ecfeafa6523e1d8", 2, 0),
    ((None, 5), "a1b78e962bd1f8dd", 0, 2),
    ((None, 10), "4c11073b60d6b131", 0, 3),
    ((7, 10), "f9b9b781d31ab9d2", 2, 3),
    ((100, 100), "0b3d97a67fd8ef78", 3, 3),
]
PROPOSE_BEFORE = [  # max_px, remove_small(8), fill_small_holes, remove_small(connectivity=4)
    (2, "42c3797ec2720d53", "965dcedb426f4acf", "5291aeb65de15e2b"),
    (5, "9ecfeafa6523e1d8", "8f9eef5a3d7a2802", "cb147a034803a092"),
    (7, "c6b95709a8826ddd", "8f9eef5a3d7a2802", "99d29b50209e021e"),
    (10, "99d29b50209e021e", "b82e50ea88a233da", "99d29b50209e021e"),
]


@pytest.mark.parametrize(("sizes", "digest", "specks", "holes"), FIX_BEFORE)
def test_fix_canonical_masks_are_byte_identical_to_before(sizes, digest, specks, holes):
    cells, done = canonicalise(_fixture_cells(), FixOptions(Path("unused"), *sizes))
    assert _digest(cells) == digest
    assert done == {"specks_removed": specks, "holes_filled": holes}


@pytest.mark.parametrize(("max_px", "specks", "holes", "specks_4"), PROPOSE_BEFORE)
def test_propose_clean_up_is_identical_to_before(max_px, specks, holes, specks_4):
    cells = _fixture_cells()
    assert _digest(remove_small_components(cells, max_px)[0]) == specks
    assert _digest(fill_small_holes(cells, max_px)[0]) == holes
    assert _digest(remove_small_components(cells, max_px, connectivity=4)[0]) == specks_4


def test_border_components_are_kept_only_when_asked():
    cells = _fixture_cells()
    kept, n_kept = remove_small_components(cells, 100, keep_border=True)
    cleared, n_cleared = remove_small_components(cells, 100)
    assert kept[0:2, 40:43].all() and not cleared[0:2, 40:43].any()  # the cut cell on the top border
    assert not kept[5:7, 60:62].any() and n_cleared == n_kept + 1
    filled, _ = fill_small_holes(cells, 100, keep_border=True)
    assert not filled[63, 70:72].any() and filled[55:57, 72:74].all()  # open gap stays open, the hole is filled
    assert fill_small_holes(cells, 100)[0][63, 70:72].all()


def test_a_size_of_one_pixel_or_less_changes_nothing():
    cells = _fixture_cells()
    for max_px in (0, 1, 0.5):
        out, n = remove_small_components(cells, max_px)
        assert n == 0 and np.array_equal(out, cells)


# --- the cut: halfway between each mask's own levels, shaded by the image (issue 16) ---


def _old_low_side(mask: np.ndarray) -> np.ndarray:
    """The rule before issue 16: grey < 128 (< 1 for 0/1 masks)."""
    gray = to_gray(mask)
    return gray < (1 if gray.max() <= 1 else 128)


def _coverage(side: int = 96, radius: float = 30.3) -> np.ndarray:
    """Share of each pixel inside a disc, from 7 x 7 subpixels (no pixel exactly half covered): an anti-aliased edge."""
    fine = np.zeros((side * 7, side * 7), np.uint8)
    cv2.circle(fine, (side * 7 // 2, side * 7 // 2), round(radius * 7), 1, -1)
    return fine.reshape(side, 7, side, 7).mean(axis=(1, 3))


def _release_style(coverage: np.ndarray, cells: np.ndarray | float) -> np.ndarray:
    """Cells of grey ``cells`` (a level or a dimmed image) over exact white, blended by coverage, as released."""
    return np.clip(np.rint(coverage * cells + (1 - coverage) * 255), 0, 255).astype(np.uint8)


BINARY_MASKS = {
    "0/255": np.array([[0, 255, 255], [255, 0, 0]], np.uint8),
    "0/1": np.array([[0, 1, 1], [1, 0, 0]], np.uint8),
    "bool": np.array([[False, True, True], [True, False, False]]),
    "60/200": np.array([[60, 200, 200], [200, 60, 60]], np.uint8),
    "RGB 0/255": np.repeat(np.array([[0, 255, 255], [255, 0, 0]], np.uint8)[..., None], 3, axis=2),
    "16-bit": np.array([[0, 65535, 65535], [65535, 0, 0]], np.uint16),
    "one-sided": np.full((2, 3), 40, np.uint8),
}


@pytest.mark.parametrize("name", list(BINARY_MASKS))
def test_two_valued_masks_are_cut_exactly_as_before(name):
    mask = BINARY_MASKS[name]
    image = np.random.default_rng(0).integers(0, 256, (2, 3, 3), dtype=np.uint8)
    assert np.array_equal(low_side(mask), _old_low_side(mask))
    assert np.array_equal(low_side(mask, image), _old_low_side(mask))


def test_a_dark_and_a_light_mask_put_the_edge_at_half_coverage():
    coverage = _coverage()
    half = coverage > 0.5
    dark, light = low_side(_release_style(coverage, 15.0)), low_side(_release_style(coverage, 45.0))
    assert np.array_equal(dark, light) and np.array_equal(dark, half)
    # The old cut drew the dark mask's cell wider: the leak this rule closes.
    old_dark, old_light = _old_low_side(_release_style(coverage, 15.0)), _old_low_side(_release_style(coverage, 45.0))
    assert old_dark.sum() > old_light.sum()


def test_the_image_shades_the_cut_of_cells_paler_at_their_rim():
    """Cells drawn as a dimmed copy of an image whose cell is paler at the rim, dark (x0.1) and light (x0.3)."""
    coverage = _coverage()
    yy, xx = np.mgrid[:96, :96]
    image_grey = np.clip(120 + 12.0 * np.maximum(np.hypot(yy - 48, xx - 48) - 26, 0), 0, 230)
    image = np.repeat(image_grey.astype(np.uint8)[..., None], 3, axis=2)
    dark, light = (_release_style(coverage, scale * image_grey) for scale in (0.1, 0.3))
    shaded_dark, shaded_light = low_side(dark, image), low_side(light, image)
    assert np.array_equal(shaded_dark, shaded_light) and np.array_equal(shaded_dark, coverage > 0.5)
    assert low_side(dark).sum() > low_side(light).sum()  # one level per mask: the light mask's rim cut tighter
