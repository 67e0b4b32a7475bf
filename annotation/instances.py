"""Split a cell mask into cell instances: distance transform, one marker per cell, watershed.

Touching and overlapping red cells form blobs whose distance transform has one peak per cell (a cell's
centre lies about one radius from the blob's edge) and a saddle where two cells meet. Markers are the local
peaks at least ``min_distance_radii`` cell radii apart; the watershed of the inverted distance transform grows
one instance per marker inside the mask. An elongated cell has several peaks along its axis, so touching
pieces whose union is about one typical cell in area and convex are merged back. Every size is a multiple of the cell
radius estimated from each image's own mask (granulometry, ``annotation.propose.estimate_cell_radius``), so
AneRBC's ~20 px cells and BCCD's ~90 px cells are split alike, where a fixed pixel distance over-splits large
cells or merges small ones.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage as ndi
from scipy.cluster.hierarchy import DisjointSet

from annotation.images import read_cell_mask
from annotation.propose import ProposeConfig, estimate_cell_radius, overlay_contours, propose_mask
from rbc_dataset.errors import DataError, UsageError


@dataclass(frozen=True)
class InstanceConfig:
    """How a cell mask is split into instances (sizes are in cell radii estimated from each image)."""

    min_distance_radii: float = 0.4  # distance peaks closer than this seed one cell, not two
    merge_area_cells: float = 1.4  # neighbours whose union is at most this many typical cell areas ...
    merge_solidity: float = 0.9  # ... and this convex (area / hull area) are one cell split in two (0 = never)
    smooth_radii: float = 0.0  # Gaussian smoothing of the distance transform before finding peaks (0 = none)
    radius_px: float = 0.0  # cell radius to use instead of the per-image estimate (0 = estimate)
    propose: ProposeConfig = ProposeConfig()  # how cell masks are proposed when none are given

    def __post_init__(self):
        for name in ("min_distance_radii", "merge_area_cells", "merge_solidity", "smooth_radii", "radius_px"):
            if getattr(self, name) < 0:
                raise UsageError(f"{name} must be >= 0, got {getattr(self, name)}")


def watershed_from_peaks(cells: np.ndarray, dist: np.ndarray, *, min_distance: int) -> np.ndarray:
    """Watershed of ``-dist`` inside ``cells`` from the distance peaks at least ``min_distance`` px apart.

    Blobs the watershed does not reach (no peak in them) become one instance each; labels are consecutive.
    """
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    components, _ = ndi.label(cells)
    coords = peak_local_max(dist, min_distance=max(1, min_distance), labels=components, exclude_border=False)
    markers = np.zeros(cells.shape, np.int32)
    markers[tuple(coords.T)] = np.arange(1, len(coords) + 1)
    labels = watershed(-dist, markers, mask=cells)
    orphans, n_orphans = ndi.label(cells & (labels == 0))
    if n_orphans:
        labels = np.where(orphans > 0, orphans + labels.max(), labels)
    return _relabel(labels)


def split_cells(cells: np.ndarray, config: InstanceConfig | None = None) -> np.ndarray:
    """Instance labels (uint16, 0 = background) of a boolean cell mask (see the module docstring)."""
    config = config or InstanceConfig()
    cells = np.asarray(cells, bool)
    if not cells.any():
        return np.zeros(cells.shape, np.uint16)
    radius = config.radius_px or estimate_cell_radius(
        cells, min_radius=config.propose.min_radius_px, default=config.propose.default_radius_px
    )
    dist = cv2.distanceTransform(cells.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    if config.smooth_radii > 0:
        dist = cv2.GaussianBlur(dist, (0, 0), max(0.5, config.smooth_radii * radius))
    labels = watershed_from_peaks(cells, dist, min_distance=round(config.min_distance_radii * radius))
    if config.merge_solidity > 0 and config.merge_area_cells > 0:
        area = typical_cell_area(cells, radius)
        labels = merge_split_cells(
            labels, dist, max_area=config.merge_area_cells * area, min_solidity=config.merge_solidity
        )
    return labels


def typical_cell_area(cells: np.ndarray, radius: float, *, min_solidity: float = 0.9) -> float:
    """Median area (px) of the convex blobs at least half a radius across: mostly single, free cells.

    The granulometric radius measures a cell's width; elongated cells (elliptocytes) are wider than that
    suggests, so the merge rule compares areas with this instead. Falls back to pi r^2 under five such blobs.
    """
    mask = cells.astype(np.uint8)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    areas = []
    for contour in contours:
        hull = cv2.contourArea(cv2.convexHull(contour))
        x, y = contour[0, 0]
        pixels = stats[labels[y, x], cv2.CC_STAT_AREA]
        if hull > 0 and cv2.contourArea(contour) / hull >= min_solidity and pixels >= np.pi * (radius / 2) ** 2:
            areas.append(pixels)
    return float(np.median(areas)) if len(areas) >= 5 else float(np.pi * radius**2)


def adjacent_pairs(labels: np.ndarray, dist: np.ndarray) -> list[tuple[float, int, int]]:
    """``(saddle, a, b)`` for each pair of touching instances, highest saddle first.

    The saddle is the largest distance-transform value on the shared boundary: how wide the neck is.
    """
    n = int(labels.max())
    lows, highs, values = [], [], []
    for a, b, da, db in (
        (labels[:, :-1], labels[:, 1:], dist[:, :-1], dist[:, 1:]),
        (labels[:-1, :], labels[1:, :], dist[:-1, :], dist[1:, :]),
    ):
        touching = (a != b) & (a > 0) & (b > 0)
        lows.append(np.minimum(a[touching], b[touching]).astype(np.int64))
        highs.append(np.maximum(a[touching], b[touching]).astype(np.int64))
        values.append(np.minimum(da[touching], db[touching]))
    key = np.concatenate(lows) * (n + 1) + np.concatenate(highs)
    if not len(key):
        return []
    order = np.argsort(key, kind="stable")
    key, value = key[order], np.concatenate(values)[order]
    unique, start = np.unique(key, return_index=True)
    saddles = np.maximum.reduceat(value, start)
    firsts, seconds = (unique // (n + 1)).tolist(), (unique % (n + 1)).tolist()
    return sorted(zip(saddles.tolist(), firsts, seconds, strict=True), reverse=True)


def merge_split_cells(labels: np.ndarray, dist: np.ndarray, *, max_area: float, min_solidity: float) -> np.ndarray:
    """Merge touching instances whose union is small (<= ``max_area`` px) and convex (>= ``min_solidity``).

    An elongated cell (elliptocyte, teardrop) has several distance peaks along its axis and is split by the
    watershed; its pieces together are about one cell in area and convex. Two real cells together are about
    two cell areas, or waisted where they meet, and stay apart. Pairs are visited widest neck first.
    """
    labels = labels.astype(np.int32)
    pairs = adjacent_pairs(labels, dist)
    if not pairs:
        return _relabel(labels)
    areas = np.bincount(labels.ravel()).astype(float)
    slices = ndi.find_objects(labels)
    points: dict[int, np.ndarray] = {}

    def pixels(i: int) -> np.ndarray:
        if i not in points:
            sl = slices[i - 1]
            ys, xs = np.nonzero(labels[sl] == i)
            points[i] = np.stack([xs + sl[1].start, ys + sl[0].start], axis=1).astype(np.int32)
        return points[i]

    merged = DisjointSet(range(len(areas)))
    keeps = np.arange(len(areas))  # per group root: the label the merged instance keeps (its first pair's lower)
    for _, a, b in pairs:
        ra, rb = merged[a], merged[b]
        area = areas[ra] + areas[rb]
        if ra == rb or area > max_area:
            continue
        union = np.concatenate([pixels(ra), pixels(rb)])
        hull = cv2.convexHull(union)
        # Pixel centres lie half a pixel inside the outline: add half the perimeter to the hull's area.
        hull_area = cv2.contourArea(hull) + 0.5 * cv2.arcLength(hull, True) + 1.0
        if area / hull_area >= min_solidity:
            merged.merge(ra, rb)
            root = merged[ra]
            areas[root], points[root], keeps[root] = area, union, keeps[ra]
    return _relabel(np.array([keeps[merged[i]] for i in range(len(areas))])[labels])


def _relabel(labels: np.ndarray) -> np.ndarray:
    ids = np.unique(labels)
    ids = ids[ids > 0]
    if len(ids) > np.iinfo(np.uint16).max:
        raise ValueError(f"{len(ids)} instances do not fit 16-bit labels")
    lookup = np.zeros(int(labels.max()) + 1, np.uint16)
    lookup[ids] = np.arange(1, len(ids) + 1, dtype=np.uint16)
    return lookup[labels]


def segment_instances(
    image_rgb: np.ndarray, *, cells: np.ndarray | None = None, config: InstanceConfig | None = None
) -> np.ndarray:
    """Cell instances of one RGB image (uint16, 0 = background), from ``cells`` or from a proposed mask."""
    config = config or InstanceConfig()
    if cells is None:
        cells = propose_mask(image_rgb, config.propose)
    elif cells.shape != image_rgb.shape[:2]:
        raise ValueError(f"mask shape {cells.shape} differs from image shape {image_rgb.shape[:2]}")
    return split_cells(cells, config)


def plain_watershed(cells: np.ndarray, min_distance: int = 5) -> np.ndarray:
    """Baseline: the same watershed with a fixed peak distance in pixels (no per-image cell size)."""
    cells = np.asarray(cells, bool)
    dist = cv2.distanceTransform(cells.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return watershed_from_peaks(cells, dist, min_distance=min_distance)


def _instances_one(task: tuple) -> dict:
    """Worker: split one image into instances and write the 16-bit labels and an overlay."""
    from annotation.folder_runner import write_image_outputs
    from annotation.images import load_rgb

    tmp, item, config, mask_path = task
    image = load_rgb(item)
    cells = read_cell_mask(mask_path, image.shape[:2]) if mask_path is not None else None
    labels = segment_instances(image, cells=cells, config=config)
    write_image_outputs(tmp, item.stem, result=labels, overlay=overlay_contours(image, labels))
    return {
        "stem": item.stem,
        "image": str(item.path),
        "mask": None if mask_path is None else str(mask_path),
        "cells": int(labels.max()),
    }


def check_masks_exist(
    masks: Path, items: list, *, fix: str = "run `annotate propose` on the same IMAGES, or drop --masks"
) -> None:
    """Every image needs ``masks/<stem>.png``; report all missing ones at once."""
    if not masks.is_dir():
        raise DataError(masks, "a folder of cell masks named <stem>.png", "no such folder", "check the masks folder")
    missing = [item.stem for item in items if not (masks / f"{item.stem}.png").is_file()]
    if missing:
        shown = ", ".join(f"{stem}.png" for stem in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise DataError(
            masks,
            "one mask <stem>.png per image (as `annotate propose` names them)",
            f"{len(missing)} of {len(items)} missing: {shown}",
            fix,
        )


@dataclass(frozen=True)
class InstancesResult:
    """What ``instances_folder`` wrote."""

    out: Path  # output folder
    n_images: int
    mean_cells: float  # instances per image
    seconds: float
    per_image: tuple  # one summary dict per image


def instances_folder(
    source: Path,
    out: Path,
    *,
    masks: Path | None = None,
    config: InstanceConfig | None = None,
    overwrite: bool = False,
    workers: int | None = None,
    show_progress: bool = True,
) -> InstancesResult:
    """Write ``out/<stem>.png`` (16-bit instance labels, 0 = background) for every image of ``source``.

    Args:
        source: image folder or manifest.
        out: output folder (written atomically; also gets ``overlays/`` and ``instances_config.json``).
        masks: folder of cell masks named ``<stem>.png`` (as ``annotate propose`` writes) to split instead of
            proposing masks; every image needs one.

    Raises:
        DataError: no images, an unreadable image, or a missing/mis-sized mask (nothing is written then).
        UsageError: ``out`` exists without ``overwrite``, or overlaps the input.
    """
    from annotation.folder_runner import run_per_image
    from annotation.images import list_images

    config = config or InstanceConfig()
    start = time.perf_counter()
    items = list_images(source)
    if masks is not None:
        check_masks_exist(Path(masks), items)
    tasks = [(item, config, None if masks is None else Path(masks) / f"{item.stem}.png") for item in items]
    sidecar = {"config": asdict(config), "masks": None if masks is None else str(masks)}
    per_image = run_per_image(
        _instances_one,
        tasks,
        source=Path(source),
        out=out,
        overwrite=overwrite,
        workers=workers,
        show_progress=show_progress,
        description="instances",
        sidecar=("instances_config.json", sidecar),
    )
    cells = [p["cells"] for p in per_image]
    return InstancesResult(
        Path(out),
        len(items),
        mean_cells=float(np.mean(cells)),
        seconds=time.perf_counter() - start,
        per_image=tuple(per_image),
    )
