"""Exact and near-duplicate images: found across parents and classes, never among tiles of one parent."""

from __future__ import annotations

import numpy as np
import pytest

from rbc_dataset.auditing import audit
from rbc_dataset.auditing.duplicates import _BYTE_BITS, hash_bits, near_pairs
from rbc_dataset.errors import UsageError
from tests.helpers.audit import FAST, issues_with


def test_exact_copy_across_classes_is_an_error(planted_audit):
    (issue,) = issues_with(planted_audit, "duplicate_across_classes")
    assert issue.severity == "error"
    assert "anerbc1_a_001" in issue.found and "anerbc1_h_011" in issue.found
    assert "identical files" in issue.found


def test_jpeg_recoded_cropped_copy_is_a_near_duplicate(planted_audit):
    (issue,) = issues_with(planted_audit, "duplicate_across_groups")
    assert issue.severity == "warning"
    assert "anerbc1_a_002" in issue.found and "anerbc1_a_011" in issue.found
    assert "near-identical" in issue.found


def test_clean_dataset_has_no_duplicates(clean_audit):
    assert clean_audit.summary["duplicates"]["clusters"] == 0
    assert not [i for i in clean_audit.issues if i.code.startswith("duplicate_")]


def test_tiles_of_one_parent_are_not_duplicates(synthetic_root, tmp_path):
    result = audit(synthetic_root, out_dir=tmp_path / "out", config=FAST, show_progress=False)
    assert result.summary["n_samples"] == 52  # 4 images + 48 tiles
    assert result.summary["duplicates"]["clusters"] == 0
    assert result.summary["duplicates"]["near_pairs"] == 0


def test_centred_hashes_keep_copies_close_and_strangers_apart():
    rng = np.random.default_rng(0)
    shared = rng.normal(0, 1, 64)  # a component every image has (vignetting)
    blocks = shared + 0.3 * rng.normal(0, 1, (40, 6, 64))
    blocks[1] = blocks[0] + 0.01 * rng.normal(0, 1, (6, 64))  # a copy of image 0
    hashes, valid = hash_bits(blocks.astype(np.float32))
    i, j, _ = near_pairs(hashes, valid, radius=6)
    assert valid.all()
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == [(0, 1)]


def test_pair_search_matches_brute_force():
    rng = np.random.default_rng(1)
    hashes = rng.integers(0, 2**63, (300, 6), dtype=np.int64).view(np.uint64)
    hashes[50] = hashes[7] ^ np.uint64(0b1011)  # 3 bits apart in every variant
    valid = np.ones(300, bool)
    valid[9] = False
    i, j, d = near_pairs(hashes, valid, radius=20)
    full = hashes[:, 0]
    brute = {
        (a, b)
        for a in range(300)
        for b in range(a + 1, 300)
        if valid[a] and valid[b] and bin(int(full[a] ^ full[b])).count("1") <= 20
    }
    assert brute <= set(zip(i.tolist(), j.tolist(), strict=True))
    assert (7, 50) in brute and 9 not in set(i.tolist()) | set(j.tolist())
    assert d[list(zip(i.tolist(), j.tolist(), strict=True)).index((7, 50))] == 3


@pytest.mark.parametrize("value", [0, 1, 0xFF, 2**63 + 5, 2**64 - 1])
def test_byte_table_popcount(value):
    array = np.array([value], np.uint64)
    assert int(_BYTE_BITS[array.view(np.uint8)].sum()) == bin(value).count("1")


def test_pairs_within_one_unit_are_dropped_and_huge_radius_is_refused():
    hashes = np.zeros((4, 6), np.uint64)  # four identical hashes
    i, j, _ = near_pairs(hashes, np.ones(4, bool), radius=0, units=np.array([0, 0, 1, 1]))
    assert sorted(zip(i.tolist(), j.tolist(), strict=True)) == [(0, 2), (0, 3), (1, 2), (1, 3)]
    many = np.random.default_rng(2).integers(0, 2**63, (2100, 6), dtype=np.int64).view(np.uint64)
    with pytest.raises(UsageError, match="hamming-radius"):
        near_pairs(many, np.ones(2100, bool), radius=64)
