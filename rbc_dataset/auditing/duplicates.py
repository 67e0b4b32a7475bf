"""Exact and near-duplicate images: perceptual hashes, all-pairs Hamming search, clusters and their findings.

Hash bits: each DCT coefficient above the median of the image's 63 AC coefficients sets a bit (the DC bit is
always set). Smears share a strong common component (vignetting, edge fall-off) that makes a few bits the same
for every image and pulls unrelated images together; with enough images, the dataset's median coefficient
block is subtracted first so that the bits say how an image differs from a typical one (measured on synthetic
and real AneRBC images: unrelated images move from 26 to 29.5 bits apart on average; copies stay within 6).

Two images are near-duplicates when any of these comparisons is within the radius: full vs full, central crop
vs central crop, full vs central crop (both ways: one is a ~10 % crop of the other), and full vs each
corner-anchored 97 % crop (both ways: one lost a few % on one side). Pairs within one parent (AneRBC-II tiles
of one image and the image itself) are not duplicates of each other and are never reported.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rbc_dataset.auditing.features import HASH_VARIANTS
from rbc_dataset.errors import UsageError
from rbc_dataset.issues import Issue
from rbc_dataset.manifest import parent_keys

MIN_IMAGES_TO_CENTRE = 16  # fewer images give an unstable median block (and too few pairs for chance matches)
_FULL, _CENTRE = 0, 1
_CORNERS = tuple(range(2, len(HASH_VARIANTS)))
COMPARISONS = ((_FULL, _FULL), (_CENTRE, _CENTRE), (_FULL, _CENTRE), (_CENTRE, _FULL))
COMPARISONS += tuple((k, _FULL) for k in _CORNERS) + tuple((_FULL, k) for k in _CORNERS)
MAX_PAIRS = 2_000_000  # beyond this a radius matches "similar smears", not copies (and memory would run out)
PAIR_CHUNK = 256  # rows per block of the all-pairs search (256 x 13,000 pairs = 3 MB per comparison)


def hash_bits(coefficients: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes (n, variants) as uint64 and which rows have one, from DCT blocks (n, variants, 64)."""
    valid = ~np.isnan(coefficients).any(axis=(1, 2))
    hashes = np.zeros(coefficients.shape[:2], np.uint64)
    if not valid.any():
        return hashes, valid
    blocks = coefficients[valid].astype(np.float64)
    if valid.sum() >= MIN_IMAGES_TO_CENTRE:
        # One centre (from the full images) for every variant: variants are compared with each other.
        blocks = blocks - np.median(blocks[:, _FULL], axis=0)[None, None, :]
    threshold = np.median(blocks[..., 1:], axis=2, keepdims=True)
    bits = blocks > threshold
    bits[..., 0] = True
    hashes[valid] = np.packbits(bits, axis=2, bitorder="big").reshape(-1, len(HASH_VARIANTS), 8).view(">u8")[..., 0]
    return hashes, valid


def _popcount(x: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(x)
    return _BYTE_BITS[x.view(np.uint8).reshape(*x.shape, 8)].sum(axis=-1, dtype=np.uint8)


_BYTE_BITS = np.array([bin(i).count("1") for i in range(256)], np.uint8)


def near_pairs(
    hashes: np.ndarray, valid: np.ndarray, *, radius: int, units: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index pairs (i < j) of hashed rows within ``radius`` bits under any comparison, and their distance.

    Args:
        hashes: (n, variants) uint64 hashes.
        valid: which rows have hashes.
        radius: largest distance kept.
        units: integer unit (parent) code per row; pairs within one unit are dropped as soon as they are found.

    Raises:
        UsageError: the radius matches too many pairs to be duplicates (and to hold in memory).
    """
    index = np.flatnonzero(valid)
    table = hashes[index]
    unit = units[index] if units is not None else np.arange(len(index))
    found_i, found_j, found_d, total = [], [], [], 0
    for start in range(0, len(index), PAIR_CHUNK):
        block = table[start : start + PAIR_CHUNK]
        others = table[start:]  # upper triangle only
        best = np.full((len(block), len(others)), 64, np.uint8)
        for a, b in COMPARISONS:
            np.minimum(best, _popcount(block[:, a, None] ^ others[None, :, b]), out=best)
        rows, cols = np.nonzero(best <= radius)
        # Drop the diagonal, the lower triangle of the first square, and pairs within one unit.
        keep = (cols > rows) & (unit[start + rows] != unit[start + cols])
        rows, cols = rows[keep], cols[keep]
        total += len(rows)
        if total > MAX_PAIRS:
            raise UsageError(
                f"a Hamming radius of {radius} bits matches more than {MAX_PAIRS:,} image pairs, which cannot all "
                "be copies; use a smaller --hamming-radius (default 6)"
            )
        found_i.append(index[start + rows])
        found_j.append(index[start + cols])
        found_d.append(best[rows, cols])
    if not found_i:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    return np.concatenate(found_i), np.concatenate(found_j), np.concatenate(found_d).astype(np.int64)


@dataclass(frozen=True)
class DuplicateFindings:
    """Duplicate clusters (table rows), their findings, and the number of pairs behind them."""

    clusters: list[dict]
    issues: list[Issue]
    n_exact_pairs: int
    n_near_pairs: int
    n_hashed: int


def _exact_pairs(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Rows with the same image file content: each copy paired with the first row of its content."""
    sha = rows["image_sha256"]
    known = (sha.notna() & (sha != "")).to_numpy()
    positions = pd.Series(np.flatnonzero(known))
    first = positions.groupby(sha[known].to_numpy()).transform("min")
    copies = first != positions
    return first[copies].to_numpy(np.int64), positions[copies].to_numpy(np.int64)


def find_duplicates(rows: pd.DataFrame, coefficients: np.ndarray, *, radius: int) -> DuplicateFindings:
    """Cluster exact (same image_sha256) and near (hash distance <= radius) duplicates across parents.

    Args:
        rows: manifest rows, in the order of ``coefficients``.
        coefficients: DCT blocks from the feature pass (NaN rows: image not read, only exact matching).
        radius: largest Hamming distance (of 64 bits) that counts as a near-duplicate.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    rows = rows.reset_index(drop=True)
    parents = parent_keys(rows)
    units = np.unique(parents, return_inverse=True)[1]
    hashes, valid = hash_bits(coefficients)
    near_i, near_j, near_d = near_pairs(hashes, valid, radius=radius, units=units)
    exact_i, exact_j = _exact_pairs(rows)
    cross = units[exact_i] != units[exact_j]
    exact_i, exact_j = exact_i[cross], exact_j[cross]
    edges_i, edges_j, n = np.r_[exact_i, near_i], np.r_[exact_j, near_j], len(rows)
    graph = coo_matrix((np.ones(len(edges_i)), (edges_i, edges_j)), shape=(n, n))
    component = connected_components(graph, directed=False)[1]
    distance = np.full(n, 64, np.int64)
    for ends, dists in ((near_i, near_d), (near_j, near_d), (exact_i, 0), (exact_j, 0)):
        np.minimum.at(distance, ends, dists)
    members: dict[int, list[int]] = defaultdict(list)
    for k in np.unique(np.r_[edges_i, edges_j]).tolist():
        members[int(component[k])].append(k)
    clusters = [_cluster_row(rows, m, parents, distance) for m in members.values()]
    clusters.sort(key=lambda c: (-_SEVERITY_RANK[c["severity"]], c["sample_ids"][0]))
    for number, cluster in enumerate(clusters, start=1):
        cluster["cluster_id"] = f"dup_{number:04d}"
    issues = [_cluster_issue(c, radius) for c in clusters]
    return DuplicateFindings(
        clusters, issues, n_exact_pairs=len(exact_i), n_near_pairs=len(near_i), n_hashed=int(valid.sum())
    )


_SEVERITY_RANK = {"error": 2, "warning": 1, "info": 0}


def _cluster_row(rows: pd.DataFrame, members: list[int], parents: list[str], distance: np.ndarray) -> dict:
    shas = {rows.at[k, "image_sha256"] for k in members}
    classes = sorted({str(rows.at[k, "class_name"]) for k in members})
    groups = sorted(
        {str(rows.at[k, "group_id"]) if isinstance(rows.at[k, "group_id"], str) else parents[k] for k in members}
    )
    parent_set = sorted({parents[k] for k in members})
    if len(classes) > 1:
        severity = "error"
    else:
        severity = "warning" if len(groups) > 1 else "info"
    return {
        "cluster_id": "",
        "kind": "exact" if len(shas) == 1 and None not in shas else "near",
        "severity": severity,
        "n_members": len(members),
        "sample_ids": [str(rows.at[k, "sample_id"]) for k in members],
        "classes": classes,
        "parents": parent_set,
        "groups": groups,
        "image_paths": [str(rows.at[k, "image_path"]) for k in members],
        # 0 for identical files (their hashes are equal too), else the closest near pair.
        "min_distance": int(distance[members].min()),
    }


def _cluster_issue(cluster: dict, radius: int) -> Issue:
    ids = ", ".join(cluster["sample_ids"][:8]) + (" ..." if cluster["n_members"] > 8 else "")
    what = "identical files" if cluster["kind"] == "exact" else f"near-identical images (hash distance <= {radius})"
    if cluster["severity"] == "error":
        code, expected = "duplicate_across_classes", "one class per image content"
        fix = "remove the copies (the same picture cannot be both classes) and check the labels of the rest"
    elif cluster["severity"] == "warning":
        code, expected = "duplicate_across_groups", "each image content in one group (parent)"
        fix = "remove the copies or give them one group_id so that a split keeps them together"
    else:
        code, expected = "duplicate_within_group", "distinct images per sample"
        fix = "nothing leaks (one group); remove the copies if they were not meant to be there"
    found = f"{cluster['n_members']} {what} ({cluster['cluster_id']}): {ids}; classes {', '.join(cluster['classes'])}"
    return Issue(
        code,
        cluster["severity"],
        path=cluster["image_paths"][0],
        expected=expected,
        found=found,
        fix=fix,
        sample_id=cluster["sample_ids"][0],
    )
