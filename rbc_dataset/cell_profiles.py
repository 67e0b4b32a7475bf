"""Per-cell appearance of a smear, measured the same way on real and synthetic cells: radial profile, size, shape.

``measure_cells(image, mask)`` returns one row per isolated single cell; ``rbc-bench realism`` summarises the
rows per side and class (``benchmarks.toolkit.realism_cells_report``) and ``rbc-dataset calibrate``
(``rbc_dataset.synth.calibrate``) turns them into the generator's cell shape and pallor settings. The local
background and optical density helpers are also ``annotation.morphometry``'s.

- Cells: the mask read with the project's own rules (``rbc_dataset.masks.low_side`` and ``detect_polarity``:
  the side of the mask that is darker in the image's green channel). A boolean array is taken as the cell map.
- Isolated single cells only: 8-connected components of at least ``MIN_AREA_PX`` that do not touch the image
  border, whose area lies within ``SINGLE_LOW``..``SINGLE_HIGH`` times the image's median component area and
  whose solidity is at least ``MIN_SOLIDITY``. Touching cells are left out rather than split, because a
  watershed's cut line would change their shape and their outer rings would run into the neighbour (two equal
  discs touching have solidity 0.88). This keeps ellipses and most teardrops, and drops most clumps.
- Optical density (OD): log10(local background green / green), with the local background from
  ``background_level`` (block medians of background pixels), so vignetting and white
  balance cancel. Green is the channel haemoglobin absorbs most.
- Radial profile: the mean OD in rings of width 0.1 at normalised radius rho = 0..1.2, where rho is the radius
  along the cell's own ellipse (from its second moments; rho = 1 on the ellipse of the cell's area, so for a
  round cell rho = distance / equivalent radius). Rings beyond the cell hold background and the blurred edge;
  pixels of other cells are left out.
- From the profile: ``centre_od`` (rho < 0.3), ``rim_od`` (the densest ring with 0.4 <= rho < 1.0),
  ``rim_centre_ratio`` = rim / centre (centre floored at 5 % of the rim, so the ratio stops at 20),
  ``pallor_depth`` = 1 - centre / rim (0 flat, 1 centre as bright as the background, negative for a dense
  centre), ``pallor_width`` = the rho where the profile first climbs half-way from centre to rim (0 when the
  depth is below ``MIN_PALLOR_DEPTH``).
- Classes of appearance: ``ring_cell`` = a pale centre (depth >= ``RING_DEPTH``) wider than half the radius
  (``pallor_width`` > 0.5), as hypochromic cells look; ``ghost`` = mean OD below ``GHOST_SHARE`` of the
  image's median cell OD (a pale outline among normally stained cells).
- Size and shape: equivalent diameter sqrt(4 A / pi), aspect ratio (major / minor axis of the moment ellipse),
  solidity (area / convex hull area, both from the pixel outline) and roundness 4 A / (pi Feret^2) with the
  largest Feret diameter of the hull (1 for a disc; a teardrop's tail lowers it more than its aspect ratio).
"""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pandas as pd

from rbc_dataset import masks
from rbc_dataset.errors import DataError

BACKGROUND_BLOCK_PX = 32  # side of the blocks whose median background gives the local light level
HALO_PX = 2  # background pixels this close to a cell are left out of the light level (blurred cell edges)
MIN_AREA_PX = 40  # smaller components are specks or platelets, not red cells
SINGLE_LOW, SINGLE_HIGH = 0.35, 1.6  # single-cell band around the image's median component area
MIN_SOLIDITY = 0.9  # two equal touching discs have 0.88
RING_EDGES = np.round(np.arange(0.0, 1.21, 0.1), 2)  # 12 rings of width 0.1 out to rho = 1.2
RING_CENTRES = (RING_EDGES[:-1] + RING_EDGES[1:]) / 2
PROFILE_COLUMNS = tuple(f"od_rho_{centre:.2f}" for centre in RING_CENTRES)
CENTRE_RHO, RIM_RHO = 0.3, (0.4, 1.0)
CENTRE_FLOOR = 0.05  # share of the rim OD below which the centre counts as empty (caps rim / centre at 20)
MIN_PALLOR_DEPTH = 0.15  # shallower dips are noise or blur, not a pale centre
RING_DEPTH, RING_WIDTH = 0.35, 0.5  # ring cell: the centre at most 65 % of the rim, pale beyond half the radius
GHOST_SHARE = 0.4  # ghost: mean OD below this share of the image's median cell OD
WINDOW_RHO = 1.3  # half-side of the window around a cell, in major semi-axes

CELL_COLUMNS = (
    "cell_id",
    "cx",
    "cy",
    "area_px",
    "eq_diameter_px",
    "major_axis_px",
    "minor_axis_px",
    "aspect_ratio",
    "solidity",
    "roundness",
    "od_mean",
    "centre_od",
    "rim_od",
    "rim_centre_ratio",
    "pallor_depth",
    "pallor_width",
    "ring_cell",
    "ghost",
    *PROFILE_COLUMNS,
)


def background_level(channel: np.ndarray, cells: np.ndarray, *, block: int = BACKGROUND_BLOCK_PX) -> np.ndarray:
    """Local light level: median of the background pixels of each block, smoothly interpolated.

    Args:
        channel: one image channel (H, W).
        cells: boolean map of cell pixels (excluded, with a small halo).
        block: block side in pixels.
    """
    height, width = channel.shape
    halo = cv2.dilate(cells.astype(np.uint8), np.ones((2 * HALO_PX + 1,) * 2, np.uint8)).astype(bool)
    values = np.where(halo, np.nan, channel.astype(np.float32))
    if np.isnan(values).all():  # no background at all: the brightest pixels are the nearest thing to it
        return np.full(channel.shape, float(np.percentile(channel, 99)), np.float32)
    rows, cols = -(-height // block), -(-width // block)
    padded = np.full((rows * block, cols * block), np.nan, np.float32)
    padded[:height, :width] = values
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks (covered by cells) are filled below
        grid = np.nanmedian(padded.reshape(rows, block, cols, block), axis=(1, 3))
    grid = np.where(np.isnan(grid), np.nanmedian(values), grid).astype(np.float32)
    return cv2.resize(grid, (width, height), interpolation=cv2.INTER_LINEAR)


def optical_density(image: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Green-channel optical density log10(background / pixel): 0 on background, higher where more haemoglobin.

    Green is the channel the stained haemoglobin absorbs most (and the one Otsu masks are made from).
    """
    green = image[..., 1]
    light = background_level(green, labels > 0)
    return np.log10(np.maximum(light, 1.0) / np.maximum(green, 1.0)).astype(np.float32)


def cell_pixels(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Boolean cell map: ``mask`` itself when boolean, else its side that is darker in the image (none if one-sided).

    Args:
        image: (H, W, 3) RGB or (H, W) gray image.
        mask: boolean cell map, or a mask in any encoding ``rbc_dataset.masks`` reads (same height and width).

    Returns:
        The boolean cell map (all False when the mask has a single side: no polarity to decide).

    Raises:
        DataError: the mask's height and width differ from the image's.
    """
    if mask.shape[:2] != image.shape[:2]:
        raise DataError(
            None,
            f"a mask of the image's size {image.shape[1]}x{image.shape[0]}",
            f"{mask.shape[1] if mask.ndim > 1 else '?'}x{mask.shape[0]}",
            "pass the mask made for this image",
        )
    if mask.dtype == bool and mask.ndim == 2:
        return mask
    cells = masks.mask_cells(mask, image)
    return np.zeros(image.shape[:2], bool) if cells is None else cells


def _solidity_and_feret(component: np.ndarray) -> tuple[float, float]:
    """Solidity (outline area / hull area) and largest Feret diameter (hull span + 1 px) of one component crop."""
    contours, _ = cv2.findContours(component.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    outline = max(contours, key=len)
    hull = cv2.convexHull(outline)[:, 0, :].astype(np.float64)
    hull_area = cv2.contourArea(hull.astype(np.float32))
    solidity = float(cv2.contourArea(outline)) / hull_area if hull_area > 0 else 0.0
    spans = np.hypot(*(hull[:, None, :] - hull[None, :, :]).transpose(2, 0, 1))
    # The outline runs through pixel centres, so the hull is one pixel short of the cell's extent.
    return min(solidity, 1.0), float(spans.max()) + 1.0


def _single_cells(cells: np.ndarray) -> tuple[np.ndarray, list[tuple]]:
    """Component labels and the isolated single cells as (label, (top, left), crop, solidity, Feret diameter)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(cells.astype(np.uint8), connectivity=8)
    areas = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
    big = areas >= MIN_AREA_PX
    big[0] = False
    if not big.any():
        return labels, []
    median = float(np.median(areas[big]))
    left, top = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    right, bottom = left + stats[:, cv2.CC_STAT_WIDTH], top + stats[:, cv2.CC_STAT_HEIGHT]
    inside = (left > 0) & (top > 0) & (right < cells.shape[1]) & (bottom < cells.shape[0])
    chosen = big & inside & (areas >= SINGLE_LOW * median) & (areas <= SINGLE_HIGH * median)
    singles = []
    for label in np.flatnonzero(chosen):
        crop = labels[top[label] : bottom[label], left[label] : right[label]] == label
        solidity, feret = _solidity_and_feret(crop)
        if solidity >= MIN_SOLIDITY:
            singles.append((int(label), (int(top[label]), int(left[label])), crop, solidity, feret))
    return labels, singles


def _moment_ellipse(ys: np.ndarray, xs: np.ndarray) -> tuple[float, float, np.ndarray, float, float]:
    """Centroid, inverse covariance and the major/minor axis lengths of the ellipse with the same moments."""
    cy, cx = float(ys.mean()), float(xs.mean())
    # A uniform ellipse with semi-axes a, b has variances a^2 / 4 and b^2 / 4 along its axes.
    cov = np.cov(np.stack([ys - cy, xs - cx])) + np.eye(2) / 12.0  # + pixel width, so a 1 px line is not flat
    eigen = np.sort(np.linalg.eigvalsh(cov))[::-1]
    return cy, cx, np.linalg.inv(cov), 4.0 * float(np.sqrt(eigen[0])), 4.0 * float(np.sqrt(eigen[1]))


def radial_profile(od: np.ndarray, own: np.ndarray, *, rho: np.ndarray) -> np.ndarray:
    """Mean OD per ring of ``RING_EDGES`` over the pixels ``own`` (NaN for an empty ring).

    Args:
        od: optical density of a window around the cell.
        own: pixels that belong to the cell or to the background (not to another cell).
        rho: normalised radius of every window pixel.
    """
    ring = np.digitize(rho, RING_EDGES) - 1
    use = own & (ring >= 0) & (ring < len(RING_CENTRES))
    sums = np.bincount(ring[use], weights=od[use], minlength=len(RING_CENTRES))
    counts = np.bincount(ring[use], minlength=len(RING_CENTRES))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def pallor_measures(profile: np.ndarray) -> dict[str, float]:
    """Centre and rim OD, rim / centre ratio, pallor depth and width of one radial profile (see module docstring)."""
    centre = float(np.nanmean(profile[RING_CENTRES < CENTRE_RHO]))
    rim_zone = profile[(RING_CENTRES >= RIM_RHO[0]) & (RING_CENTRES < RIM_RHO[1])]
    rim = float(np.nanmax(rim_zone)) if np.isfinite(rim_zone).any() else np.nan
    if not (np.isfinite(rim) and rim > 0 and np.isfinite(centre)):
        nan = float("nan")
        return {"centre_od": centre, "rim_od": rim, "rim_centre_ratio": nan, "pallor_depth": nan, "pallor_width": nan}
    depth = 1.0 - centre / rim
    width = 0.0
    if depth >= MIN_PALLOR_DEPTH:
        half = (centre + rim) / 2.0
        inner = profile[RING_CENTRES < RIM_RHO[1]]
        above = np.flatnonzero(inner >= half)
        if above.size:
            k = int(above[0])
            width = float(RING_CENTRES[k])
            if k > 0 and np.isfinite(inner[k - 1]) and inner[k] > inner[k - 1]:
                # Linear interpolation between the ring centres on either side of the half level.
                step = (half - inner[k - 1]) / (inner[k] - inner[k - 1])
                width = float(RING_CENTRES[k - 1] + step * (RING_CENTRES[k] - RING_CENTRES[k - 1]))
    return {
        "centre_od": centre,
        "rim_od": rim,
        "rim_centre_ratio": rim / max(centre, CENTRE_FLOOR * rim),
        "pallor_depth": depth,
        "pallor_width": width,
    }


def _measure_one(single: tuple, *, labels: np.ndarray, od: np.ndarray) -> dict:
    """One isolated cell's row (without the image-relative ``ghost`` flag).

    Args:
        single: (label, (top, left), crop of ``labels == label``, solidity, Feret diameter) from ``_single_cells``.
        labels: component labels of the whole image.
        od: optical density of the whole image.
    """
    label, (top0, left0), box, solidity, feret = single
    ys, xs = np.nonzero(box)
    cy, cx, inverse, major, minor = _moment_ellipse(ys + float(top0), xs + float(left0))
    half = int(np.ceil(WINDOW_RHO * major / 2.0)) + 1
    top, left = max(int(cy) - half, 0), max(int(cx) - half, 0)
    bottom, right = min(int(cy) + half + 1, labels.shape[0]), min(int(cx) + half + 1, labels.shape[1])
    window = (slice(top, bottom), slice(left, right))
    lab = labels[window]
    yy, xx = np.mgrid[window]
    dy, dx = yy - cy, xx - cx
    # rho^2 = d' C^-1 d / 4 puts the moment ellipse (semi-axes 2 sqrt(eigenvalue)) at rho = 1.
    rho = np.sqrt(np.maximum(inverse[0, 0] * dy * dy + 2 * inverse[0, 1] * dy * dx + inverse[1, 1] * dx * dx, 0) / 4)
    profile = radial_profile(od[window], (lab == label) | (lab == 0), rho=rho)
    area = float(ys.size)
    return {
        "cell_id": label,
        "cx": cx,
        "cy": cy,
        "area_px": int(area),
        "eq_diameter_px": 2.0 * float(np.sqrt(area / np.pi)),
        "major_axis_px": major,
        "minor_axis_px": minor,
        "aspect_ratio": major / minor if minor > 0 else np.nan,
        "solidity": solidity,
        "roundness": min(4.0 * area / (np.pi * feret**2), 1.0),
        "od_mean": float(od[window][lab == label].mean()),
        **pallor_measures(profile),
        **dict(zip(PROFILE_COLUMNS, profile.tolist(), strict=True)),
    }


def measure_cells(image: np.ndarray, mask: np.ndarray, *, ghost_share: float = GHOST_SHARE) -> pd.DataFrame:
    """One row per isolated single cell of a smear: size, shape, radial OD profile and pallor (``CELL_COLUMNS``).

    Args:
        image: (H, W, 3) RGB uint8 image (a gray image is taken as R = G = B).
        mask: the cell mask, boolean or in any encoding ``rbc_dataset.masks`` reads (same height and width).
        ghost_share: a cell is a ghost when its mean OD is below this share of the image's median cell OD.

    Returns:
        A DataFrame with ``CELL_COLUMNS``; empty (same columns) when the mask holds no isolated single cell.

    Raises:
        DataError: the mask's height and width differ from the image's.
    """
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    cells = cell_pixels(image, np.asarray(mask))
    labels, singles = _single_cells(cells)
    if not singles:
        return pd.DataFrame(columns=list(CELL_COLUMNS))
    od = optical_density(image[..., :3].astype(np.float32), cells.astype(np.int32))
    table = pd.DataFrame([_measure_one(single, labels=labels, od=od) for single in singles])
    table["ring_cell"] = (table["pallor_depth"] >= RING_DEPTH) & (table["pallor_width"] > RING_WIDTH)
    table["ghost"] = table["od_mean"] < ghost_share * float(table["od_mean"].median())
    return table[list(CELL_COLUMNS)]
