"""Detect the order of AneRBC-II tiles 01..12 in their parent grid instead of assuming it.

The release does not document whether tiles run row by row or column by column. When parents and
tiles are both present, each candidate order is tried on a few parents: the right one reproduces the
tiles pixel for pixel. The median over tiles is used so that a few defective tiles cannot tip the vote.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rbc_dataset.fileio import ImageRefused, read_image
from rbc_dataset.ingestion.samples import Sample
from rbc_dataset.layout import TILE_ORDERS, tile_box

MAX_PARENTS = 3


@dataclass(frozen=True)
class TileOrder:
    """The decided order and the evidence for it."""

    order: str | None  # None when it could not be decided
    how: str  # "detected", "given" or "unknown"
    parents_checked: int
    median_abs_diff: dict[str, float]  # order -> median over checked tiles of the mean absolute pixel difference
    exact: bool  # the decided order reproduces the tiles exactly


def _difference(parent: np.ndarray, tile: np.ndarray, index: int, order: str) -> float | None:
    box = tile_box(index, order=order, width=tile.shape[1], height=tile.shape[0])
    crop = parent[box.y : box.y + box.height, box.x : box.x + box.width]
    if crop.shape != tile.shape:
        return None
    return float(np.mean(np.abs(crop.astype(np.int16) - tile.astype(np.int16))))


def _parent_differences(parent_path, tiles: list[Sample]) -> dict[str, list[float]] | None:
    try:
        parent = read_image(parent_path)
    except ImageRefused:
        return None
    out: dict[str, list[float]] = {order: [] for order in TILE_ORDERS}
    for tile in tiles:
        try:
            pixels = read_image(tile.files["image"])
        except ImageRefused:
            continue
        for order in TILE_ORDERS:
            diff = _difference(parent, pixels, tile.tile, order)
            if diff is not None:
                out[order].append(diff)
    return out if all(out.values()) else None


def _readable_image(sample: Sample, skip: set[str]) -> bool:
    return "image" in sample.files and str(sample.files["image"]) not in skip


def detect_tile_order(samples: list[Sample], skip: set[str] = frozenset()) -> TileOrder:
    """Compare AneRBC-II tiles with crops of their AneRBC-I parents under each candidate order.

    Args:
        samples: all samples of the dataset.
        skip: image paths known to be unreadable (not decoded again).
    """
    parents = {s.sample_id: s for s in samples if s.source == "AneRBC-I" and _readable_image(s, skip)}
    tiles_by_parent: dict[str, list[Sample]] = {}
    for s in samples:
        if s.source == "AneRBC-II" and _readable_image(s, skip) and s.parent_id in parents:
            tiles_by_parent.setdefault(s.parent_id, []).append(s)
    totals: dict[str, list[float]] = {order: [] for order in TILE_ORDERS}
    checked = 0
    for parent_id in sorted(tiles_by_parent):
        if checked == MAX_PARENTS:
            break
        diffs = _parent_differences(parents[parent_id].files["image"], tiles_by_parent[parent_id])
        if diffs is None:
            continue
        checked += 1
        for order in TILE_ORDERS:
            totals[order].extend(diffs[order])
    if not checked:
        return TileOrder(None, "unknown", parents_checked=0, median_abs_diff={}, exact=False)
    medians = {order: float(np.median(values)) for order, values in totals.items()}
    best = min(medians, key=medians.get)
    return TileOrder(best, "detected", parents_checked=checked, median_abs_diff=medians, exact=medians[best] == 0.0)
