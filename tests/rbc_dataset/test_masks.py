"""rbc_dataset.masks: the one small-component remover that validate-masks --fix and annotate propose share."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from rbc_dataset.masks import fill_small_holes, remove_small_components
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
