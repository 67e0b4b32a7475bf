"""Measure how realistic a synthetic AneRBC-I-style dataset is, side by side with real AneRBC-I images.

The same per-image statistics are computed on real image/mask pairs and on synthetic ones, summarised as
min / max / median per side, printed as a table and (optionally) written to JSON with every per-image row.

Run::

    .venv/bin/python -m benchmarks.synth_realism --real ../shared/realdata/AneRBC-I --synthetic DIR \
        [--max-images 20] [--json OUT.json]

Both folders are searched recursively for ``**/Original_images/NNN_{a,h}.png`` with the mask of the same name in
the sibling ``Binary_segmented`` folder. AneRBC-II tiles (``NNNN_SS_a.png``) and anything under a
``synthetic_truth`` folder are ignored.

Masks are binarised into a cell mask first. Real masks are RGB with a white background and dark (textured)
cells; synthetic masks may instead be clean 0/255 masks with cell = 255. The polarity is therefore decided per
mask: the mask is split at gray 128 and the side whose pixels are darker *in the image* is the cell side,
because cells are darker than background in a bright-field smear.

Statistics (one value per image; all computed the same way on both sides):

- ``width``, ``height``: image size in pixels.
- ``fg_fraction``: cell pixels / all pixels of the binarised mask.
- ``n_components``: 8-connected cell components of at least 20 px (a naive cell count).
- ``n_cells_est``: area of those components / median area of single-cell components (counts merged blobs).
- ``cell_diameter_px``: median equivalent diameter sqrt(4 A / pi) of single-cell components.
- ``merged_area_share``: share of cell area in blobs larger than 1.8x the single-cell median (touching cells).
- ``bg_r/g/b``: median RGB of background pixels, background eroded by 3 px (away from cell edges).
- ``cell_r/g/b``: median RGB of cell pixels, cells eroded by 2 px.
- ``od_r/g/b``: cell optical density per channel, -ln(cell / background) of the medians above.
- ``contrast_gray``: median background gray minus median cell gray (the same eroded regions).
- ``central_pallor``: per single cell, mean gray of the inner disk (distance to edge > 0.6 of the maximum)
  minus mean gray of the ring (0.2 to 0.5 of the maximum); median over cells, positive = pale centre.
- ``central_pallor_rel``: ``central_pallor`` / ``contrast_gray`` (independent of stain intensity).
- ``illum_nonuniformity``: (p95 - p5) / median of the background gray field (32 px block medians of
  background pixels, gaps filled from the nearest block, Gaussian-smoothed by 2 blocks).
- ``edge_sharpness``: mean gradient magnitude (gray levels / px) on the 2 px band at mask edges divided by
  ``contrast_gray``; about 0.5 for a perfect step, lower when blurred.
- ``laplacian_var``: variance of the 3x3 Laplacian of the gray image (classic focus measure).
- ``noise_std``: std of gray - GaussianBlur(gray, sigma 2) in background eroded by 6 px.
- ``noise_mad``: the same residual's robust std (1.4826 x MAD), insensitive to dust and platelets.
- ``image_dark_specks``: 8-connected image components of 4..60 px whose green channel is darker than the cell
  median green by at least half the background-to-cell green contrast (platelets, stain debris).
- ``mask_specks``: cell components under 20 px in the binarised mask.
- ``mask_holes``: 4-connected background components under 60 px not touching the image border.
- ``mask_distinct_values``: distinct gray values in the raw mask (2 for a clean mask, dozens for real ones).
- ``mask_ambiguous_fraction``: share of pixels binarised as background whose raw mask value is not the pure
  background value (255 for dark-cell masks, 0 for bright-cell masks); in real masks the 128..254 band.
- ``mask_cell_median_red``: median raw red (or single-channel) mask value of cell pixels; in real masks this
  value differs by class, a known label leak.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shlex
import sys
import time
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table
from scipy import ndimage

MIN_CELL_AREA = 20  # px; smaller mask components are specks, not cells
SINGLE_LOW, SINGLE_HIGH = 0.5, 1.5  # single-cell band around the median component area
MERGED_FACTOR = 1.8  # blobs above this multiple of the single-cell area hold several cells
HOLE_MAX_AREA = 60  # px; enclosed background smaller than this is a mask hole, not a gap between cells
SPECK_MIN_AREA, SPECK_MAX_AREA = 4, 60  # px; platelet-sized dark image components
DARK_SPECK_MARGIN = 0.5  # x green contrast below the cell median; 0.3 already picks up RBC rim fragments
BG_ERODE_PX, CELL_ERODE_PX, NOISE_ERODE_PX = 3, 2, 6
ILLUM_BLOCK_PX = 32
ILLUM_MIN_SHARE = 0.05  # a block needs this share of background pixels to give a reliable median
ILLUM_SMOOTH_BLOCKS = 2.0

IMAGE_NAME = re.compile(r"^(\d{3})_([ah])$")  # AneRBC-I only; AneRBC-II tiles are NNNN_SS_a
IGNORED_DIR = "synthetic_truth"

# Table order and labels; keys not listed here are still kept in the JSON rows.
STAT_LABELS: dict[str, str] = {
    "width": "width (px)",
    "height": "height (px)",
    "fg_fraction": "foreground fraction",
    "n_components": "cell components >= 20 px",
    "n_cells_est": "cell count (area / single-cell area)",
    "cell_diameter_px": "median cell diameter (px)",
    "merged_area_share": "cell area in merged blobs",
    "bg_r": "background R",
    "bg_g": "background G",
    "bg_b": "background B",
    "cell_r": "cell R",
    "cell_g": "cell G",
    "cell_b": "cell B",
    "od_r": "cell optical density R",
    "od_g": "cell optical density G",
    "od_b": "cell optical density B",
    "contrast_gray": "bg - cell gray contrast",
    "central_pallor": "central pallor (gray)",
    "central_pallor_rel": "central pallor / contrast",
    "illum_nonuniformity": "illumination (p95-p5)/median",
    "edge_sharpness": "edge gradient / contrast (1/px)",
    "laplacian_var": "Laplacian variance",
    "noise_std": "noise std (gray)",
    "noise_mad": "noise robust std (gray)",
    "image_dark_specks": "dark specks in image (4-60 px)",
    "mask_specks": "mask specks (< 20 px)",
    "mask_holes": "mask holes (< 60 px)",
    "mask_distinct_values": "mask distinct gray values",
    "mask_ambiguous_fraction": "mask non-pure background share",
    "mask_cell_median_red": "mask cell median red",
}

NAN = float("nan")


# ---------------------------------------------------------------------------------------------------------------
# Discovery
# ---------------------------------------------------------------------------------------------------------------


def _mask_for(image_path: Path) -> Path | None:
    """Return the mask with the image's name in the sibling ``Binary_segmented`` folder, if any.

    Args:
        image_path: ``.../Original_images/NNN_x.png``.

    Returns:
        The mask path, or None when no such file exists.
    """
    class_dir = image_path.parent.parent
    # Released variants differ in capitalisation (Binary_Segmented), so match case-insensitively.
    for sibling in sorted(class_dir.iterdir()):
        if sibling.is_dir() and sibling.name.lower() == "binary_segmented":
            candidate = sibling / image_path.name
            if candidate.is_file():
                return candidate
    return None


def _pair_sort_key(image_path: Path) -> tuple[int, str, str]:
    """Sort by number first so that a truncated selection alternates anaemic and healthy images."""
    match = IMAGE_NAME.match(image_path.stem)
    assert match is not None
    return int(match.group(1)), match.group(2), str(image_path)


def find_pairs(root: Path) -> list[tuple[Path, Path]]:
    """Find AneRBC-I image/mask pairs anywhere under ``root``.

    Args:
        root: Folder to search recursively.

    Returns:
        (image, mask) pairs sorted by (number, class), images without a mask left out.
    """
    images = []
    for path in root.rglob("*.png"):
        rel_parts = path.relative_to(root).parts
        if IGNORED_DIR in rel_parts or path.parent.name.lower() != "original_images":
            continue
        if IMAGE_NAME.match(path.stem):
            images.append(path)
    pairs = []
    for image in sorted(images, key=_pair_sort_key):
        mask = _mask_for(image)
        if mask is not None:
            pairs.append((image, mask))
    return pairs


# ---------------------------------------------------------------------------------------------------------------
# Loading and binarisation
# ---------------------------------------------------------------------------------------------------------------


def _to_uint8(array: np.ndarray) -> np.ndarray:
    """Bring 16-bit or 0/1 arrays to the 0..255 range so that one threshold fits every mask style."""
    if array.dtype == np.uint16:
        return (array // 257).astype(np.uint8)
    if array.dtype == bool or (array.dtype == np.uint8 and array.max() <= 1):
        return array.astype(np.uint8) * 255
    return array.astype(np.uint8)


def _read_rgb(path: Path) -> np.ndarray:
    """Read an image as uint8 RGB (alpha dropped, gray expanded)."""
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise ValueError(f"cannot read image {path}")
    raw = _to_uint8(raw)
    if raw.ndim == 2:
        return cv2.cvtColor(raw, cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(raw[:, :, :3], cv2.COLOR_BGR2RGB)


def _read_mask(path: Path) -> tuple[np.ndarray, np.ndarray, bool]:
    """Read a mask as (gray uint8, red-or-single channel uint8, whether the file had a single channel)."""
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise ValueError(f"cannot read mask {path}")
    raw = _to_uint8(raw)
    if raw.ndim == 2 or raw.shape[2] == 1:
        raw = raw.reshape(raw.shape[:2])
        return raw, raw, True
    bgr = raw[:, :, :3]
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), bgr[:, :, 2], False


def binarise_mask(mask_gray: np.ndarray, image_gray: np.ndarray, single_channel: bool) -> tuple[np.ndarray, str]:
    """Binarise a raw mask into a boolean cell mask, choosing the polarity from the image.

    Args:
        mask_gray: Raw mask as uint8 gray.
        image_gray: The image's uint8 gray levels (same shape).
        single_channel: Whether the mask file had one channel (used only when the mask is all one side).

    Returns:
        (cell mask, polarity) where polarity is ``"dark"`` when low mask values are cells, else ``"bright"``.
    """
    low = mask_gray < 128
    n_low = int(low.sum())
    if 0 < n_low < low.size:
        # Cells are darker than background in the image, whichever way the mask encodes them.
        dark_cells = float(image_gray[low].mean()) < float(image_gray[~low].mean())
    else:
        # No contrast to decide on: fall back to each style's convention.
        dark_cells = not single_channel
    return (low if dark_cells else ~low), ("dark" if dark_cells else "bright")


def _disk(radius: int) -> np.ndarray:
    """Elliptic structuring element of the given radius."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _erode(region: np.ndarray, radius: int) -> np.ndarray:
    """Erode a boolean region by ``radius`` px."""
    return cv2.erode(region.astype(np.uint8), _disk(radius)).astype(bool)


# ---------------------------------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------------------------------


def _touches_border(stats: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Whether each component's bounding box touches the image border."""
    x, y = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    right = x + stats[:, cv2.CC_STAT_WIDTH]
    bottom = y + stats[:, cv2.CC_STAT_HEIGHT]
    return (x == 0) | (y == 0) | (right == shape[1]) | (bottom == shape[0])


def _shape_stats(stats: np.ndarray, shape: tuple[int, int]) -> tuple[dict[str, float], np.ndarray]:
    """Cell count, size and merging statistics from connected-component stats.

    Args:
        stats: ``cv2.connectedComponentsWithStats`` stats with the background row removed.
        shape: Image (height, width).

    Returns:
        (statistics, label ids of single-cell components).
    """
    areas = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
    big = areas >= MIN_CELL_AREA
    out = {"n_components": int(big.sum()), "n_cells_est": NAN, "cell_diameter_px": NAN, "merged_area_share": NAN}
    if not big.any():
        return out, np.zeros(0, dtype=np.int64)
    reference = float(np.median(areas[big]))
    # Border-cut cells are partial and would drag the single-cell size down.
    single = big & ~_touches_border(stats, shape) & (areas >= SINGLE_LOW * reference)
    single &= areas <= SINGLE_HIGH * reference
    if not single.any():
        return out, np.zeros(0, dtype=np.int64)
    single_area = float(np.median(areas[single]))
    total = float(areas[big].sum())
    out["n_cells_est"] = total / single_area
    out["cell_diameter_px"] = float(np.median(np.sqrt(4.0 * areas[single] / np.pi)))
    out["merged_area_share"] = float(areas[big & (areas > MERGED_FACTOR * single_area)].sum()) / total
    return out, np.flatnonzero(single) + 1


def _colour_stats(rgb: np.ndarray, bg_core: np.ndarray, cell_core: np.ndarray) -> dict[str, float]:
    """Median background and cell colour and the cells' optical density per channel.

    Args:
        rgb: uint8 RGB image.
        bg_core: Background eroded away from cell edges.
        cell_core: Cells eroded away from their edges.

    Returns:
        ``bg_*``, ``cell_*`` and ``od_*`` for r, g, b.
    """
    bg = np.median(rgb[bg_core], axis=0) if bg_core.any() else np.full(3, NAN)
    cell = np.median(rgb[cell_core], axis=0) if cell_core.any() else np.full(3, NAN)
    # Clip at 1 so that a saturated-black channel gives a finite density.
    od = -np.log(np.clip(cell, 1.0, None) / np.clip(bg, 1.0, None))
    out: dict[str, float] = {}
    for i, channel in enumerate("rgb"):
        out[f"bg_{channel}"] = float(bg[i])
        out[f"cell_{channel}"] = float(cell[i])
        out[f"od_{channel}"] = float(od[i])
    return out


def _central_pallor(gray: np.ndarray, cell: np.ndarray, labels: np.ndarray, single_ids: np.ndarray) -> float:
    """Median over single cells of mean gray in the inner disk minus mean gray in the ring.

    Args:
        gray: uint8 gray image.
        cell: Boolean cell mask.
        labels: Component labels of ``cell``.
        single_ids: Labels of single-cell components.

    Returns:
        The median pallor in gray levels (positive = pale centre), NaN without single cells.
    """
    if single_ids.size == 0:
        return NAN
    n_labels = int(labels.max()) + 1
    dist = cv2.distanceTransform(cell.astype(np.uint8), cv2.DIST_L2, 5)
    dmax = np.asarray(ndimage.maximum(dist, labels, index=np.arange(n_labels)), dtype=np.float64)
    is_single = np.zeros(n_labels, dtype=bool)
    is_single[single_ids] = True
    select = is_single[labels]
    lab = labels[select]
    rel = dist[select] / dmax[lab]
    values = gray[select].astype(np.float64)
    inner, ring = rel > 0.6, (rel > 0.2) & (rel <= 0.5)
    inner_sum = np.bincount(lab[inner], weights=values[inner], minlength=n_labels)
    inner_n = np.bincount(lab[inner], minlength=n_labels)
    ring_sum = np.bincount(lab[ring], weights=values[ring], minlength=n_labels)
    ring_n = np.bincount(lab[ring], minlength=n_labels)
    ok = is_single & (inner_n > 0) & (ring_n > 0)
    if not ok.any():
        return NAN
    return float(np.median(inner_sum[ok] / inner_n[ok] - ring_sum[ok] / ring_n[ok]))


def _illumination_nonuniformity(gray: np.ndarray, bg_core: np.ndarray) -> float:
    """(p95 - p5) / median of the smoothed background gray field.

    Args:
        gray: uint8 gray image.
        bg_core: Background eroded away from cell edges.

    Returns:
        The relative spread of the illumination field, NaN without enough background.
    """
    block = ILLUM_BLOCK_PX
    rows, cols = gray.shape[0] // block, gray.shape[1] // block
    crop = (slice(0, rows * block), slice(0, cols * block))
    values = np.where(bg_core[crop], gray[crop].astype(np.float32), np.nan)
    blocks = values.reshape(rows, block, cols, block).transpose(0, 2, 1, 3).reshape(rows, cols, -1)
    counts = bg_core[crop].reshape(rows, block, cols, block).sum(axis=(1, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks are expected under dense cells
        field = np.nanmedian(blocks, axis=-1)
    field[counts < ILLUM_MIN_SHARE * block * block] = np.nan
    missing = np.isnan(field)
    if missing.all():
        return NAN
    if missing.any():
        # Medians of background pixels on a coarse grid plus nearest fill stand in for inpainting the cells.
        nearest = ndimage.distance_transform_edt(missing, return_distances=False, return_indices=True)
        field = field[tuple(nearest)]
    field = ndimage.gaussian_filter(field, sigma=ILLUM_SMOOTH_BLOCKS, mode="nearest")
    p5, p50, p95 = np.percentile(field, [5, 50, 95])
    return float((p95 - p5) / p50) if p50 > 0 else NAN


def _blur_stats(gray: np.ndarray, cell: np.ndarray, contrast: float) -> dict[str, float]:
    """Edge sharpness relative to contrast, and the variance of the Laplacian.

    Args:
        gray: uint8 gray image.
        cell: Boolean cell mask.
        contrast: Background minus cell gray level.

    Returns:
        ``edge_sharpness`` and ``laplacian_var``.
    """
    g = gray.astype(np.float32)
    # A 3x3 Sobel responds 8x to a unit ramp; dividing gives gray levels per pixel.
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    band = cv2.morphologyEx(cell.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    sharp = NAN
    if band.any() and contrast > 0:
        sharp = float(np.hypot(gx[band], gy[band]).mean()) / contrast
    return {"edge_sharpness": sharp, "laplacian_var": float(cv2.Laplacian(gray, cv2.CV_64F).var())}


def _noise_stats(gray: np.ndarray, cell: np.ndarray) -> dict[str, float]:
    """Std and robust std of the high-pass residual in background far from cells.

    Args:
        gray: uint8 gray image.
        cell: Boolean cell mask.

    Returns:
        ``noise_std`` and ``noise_mad``.
    """
    # Erode by ~3 sigma so that cell edges do not leak into the residual through the blur kernel.
    region = _erode(~cell, NOISE_ERODE_PX)
    if not region.any():
        return {"noise_std": NAN, "noise_mad": NAN}
    g = gray.astype(np.float32)
    residual = (g - cv2.GaussianBlur(g, (0, 0), sigmaX=2.0))[region]
    mad = float(np.median(np.abs(residual - np.median(residual))))
    return {"noise_std": float(residual.std()), "noise_mad": 1.4826 * mad}


def _count_components(region: np.ndarray, low: int, high: int, connectivity: int, skip_border: bool) -> int:
    """Count connected components of ``region`` with ``low <= area <= high``.

    Args:
        region: Boolean region.
        low: Minimum area in px.
        high: Maximum area in px.
        connectivity: 4 or 8.
        skip_border: Leave out components touching the image border.

    Returns:
        The number of components.
    """
    _, _, stats, _ = cv2.connectedComponentsWithStats(region.astype(np.uint8), connectivity=connectivity)
    stats = stats[1:]
    areas = stats[:, cv2.CC_STAT_AREA]
    keep = (areas >= low) & (areas <= high)
    if skip_border:
        keep &= ~_touches_border(stats, region.shape)
    return int(keep.sum())


def _mask_stats(mask_gray: np.ndarray, mask_red: np.ndarray, cell: np.ndarray, polarity: str) -> dict[str, float]:
    """Statistics of the raw and binarised mask (specks, holes, how graded the raw values are).

    Args:
        mask_gray: Raw mask gray levels.
        mask_red: Raw mask red (or single) channel.
        cell: Boolean cell mask.
        polarity: ``"dark"`` or ``"bright"`` (which raw side holds the cells).

    Returns:
        ``mask_specks``, ``mask_holes``, ``mask_distinct_values``, ``mask_ambiguous_fraction``,
        ``mask_cell_median_red``.
    """
    pure_bg = 255 if polarity == "dark" else 0
    background = ~cell
    return {
        "mask_specks": _count_components(cell, 1, MIN_CELL_AREA - 1, 8, False),
        # Background is 4-connected where cells are 8-connected, so the two labellings are consistent.
        "mask_holes": _count_components(background, 1, HOLE_MAX_AREA - 1, 4, True),
        "mask_distinct_values": int(np.unique(mask_gray).size),
        "mask_ambiguous_fraction": float((background & (mask_gray != pure_bg)).mean()),
        "mask_cell_median_red": float(np.median(mask_red[cell])) if cell.any() else NAN,
    }


def _dark_specks(rgb: np.ndarray, bg_core: np.ndarray, cell_core: np.ndarray) -> int:
    """Count platelet-sized image components much darker than the cells in the green channel.

    Args:
        rgb: uint8 RGB image.
        bg_core: Background eroded away from cell edges.
        cell_core: Cells eroded away from their edges.

    Returns:
        The number of 4..60 px components below the cell median green minus half the green contrast.
    """
    if not (bg_core.any() and cell_core.any()):
        return 0
    # Platelet stain absorbs green far more than haemoglobin does, so green separates platelets from RBC rims
    # (which reach about 0.5 gray contrast below the cell median) better than gray.
    green = rgb[:, :, 1]
    bg_green, cell_green = float(np.median(green[bg_core])), float(np.median(green[cell_core]))
    if bg_green <= cell_green:
        return 0
    dark = green.astype(np.float32) < cell_green - DARK_SPECK_MARGIN * (bg_green - cell_green)
    return _count_components(dark, SPECK_MIN_AREA, SPECK_MAX_AREA, 8, False)


def _median_or_nan(values: np.ndarray) -> float:
    """Median of a possibly empty array."""
    return float(np.median(values)) if values.size else NAN


def _mask_style(mask_gray: np.ndarray, single_channel: bool, polarity: str) -> str:
    """Describe the raw mask encoding, e.g. ``"3-channel graded, dark cells"``."""
    values = np.unique(mask_gray)
    clean = set(values.tolist()) <= {0, 255}
    return f"{'1' if single_channel else '3'}-channel {'0/255' if clean else 'graded'}, {polarity} cells"


def measure_pair(image_path: str | Path, mask_path: str | Path) -> dict[str, Any]:
    """Compute every realism statistic for one image/mask pair.

    Args:
        image_path: The original image.
        mask_path: Its mask (real dark-cell RGB style or clean 0/255 style).

    Returns:
        A flat row: ``image``, ``mask``, ``mask_style`` and one number per statistic (see module docstring).

    Raises:
        ValueError: When a file cannot be read or the mask's size differs from the image's.
    """
    rgb = _read_rgb(Path(image_path))
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    mask_gray, mask_red, single_channel = _read_mask(Path(mask_path))
    if mask_gray.shape != gray.shape:
        raise ValueError(f"mask {mask_path} is {mask_gray.shape}, image is {gray.shape}")
    cell, polarity = binarise_mask(mask_gray, gray, single_channel)
    bg_core, cell_core = _erode(~cell, BG_ERODE_PX), _erode(cell, CELL_ERODE_PX)
    bg_gray, cell_gray = _median_or_nan(gray[bg_core]), _median_or_nan(gray[cell_core])
    contrast = bg_gray - cell_gray
    style = _mask_style(mask_gray, single_channel, polarity)
    row: dict[str, Any] = {"image": str(image_path), "mask": str(mask_path), "mask_style": style}
    row.update({"width": int(gray.shape[1]), "height": int(gray.shape[0]), "fg_fraction": float(cell.mean())})
    _, labels, stats, _ = cv2.connectedComponentsWithStats(cell.astype(np.uint8), connectivity=8)
    shape_stats, single_ids = _shape_stats(stats[1:], gray.shape)
    row.update(shape_stats)
    row.update(_colour_stats(rgb, bg_core, cell_core))
    pallor = _central_pallor(gray, cell, labels, single_ids)
    row.update({"contrast_gray": contrast, "central_pallor": pallor})
    row["central_pallor_rel"] = pallor / contrast if contrast > 0 else NAN
    row["illum_nonuniformity"] = _illumination_nonuniformity(gray, bg_core)
    row.update(_blur_stats(gray, cell, contrast))
    row.update(_noise_stats(gray, cell))
    row["image_dark_specks"] = _dark_specks(rgb, bg_core, cell_core)
    row.update(_mask_stats(mask_gray, mask_red, cell, polarity))
    return row


# ---------------------------------------------------------------------------------------------------------------
# Summary and comparison
# ---------------------------------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    """True for finite ints/floats (bools excluded)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _numeric_keys(rows: Iterable[dict[str, Any]]) -> list[str]:
    """Numeric statistic keys in table order, then any extra keys in first-seen order."""
    seen: dict[str, None] = {}
    for row in rows:
        for key, value in row.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                seen.setdefault(key, None)
    ordered = [key for key in STAT_LABELS if key in seen]
    return ordered + [key for key in seen if key not in STAT_LABELS]


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Summarise per-image rows as min / max / median / mean per statistic.

    Args:
        rows: Rows from :func:`measure_pair`.

    Returns:
        ``{"n_images", "mask_styles": {style: count}, "stats": {key: {n, min, max, median, mean}}}``; non-finite
        values are skipped, and a statistic with no finite value has ``n = 0`` and None elsewhere.
    """
    stats: dict[str, dict[str, Any]] = {}
    for key in _numeric_keys(rows):
        values = np.array([row[key] for row in rows if _is_number(row.get(key))], dtype=np.float64)
        if values.size == 0:
            stats[key] = {"n": 0, "min": None, "max": None, "median": None, "mean": None}
            continue
        stats[key] = {
            "n": int(values.size),
            "min": float(values.min()),
            "max": float(values.max()),
            "median": float(np.median(values)),
            "mean": float(values.mean()),
        }
    styles = Counter(str(row.get("mask_style")) for row in rows)
    return {"n_images": len(rows), "mask_styles": dict(styles), "stats": stats}


def compare(real: dict[str, Any], synthetic: dict[str, Any], synthetic_rows: Sequence[dict[str, Any]]) -> dict:
    """Judge each synthetic statistic against the real range.

    Args:
        real: :func:`summarise` of the real rows.
        synthetic: :func:`summarise` of the synthetic rows.
        synthetic_rows: The synthetic rows (for the share of images inside the real range).

    Returns:
        ``{key: {"verdict", "share_in_range"}}`` where verdict is ``yes`` (every synthetic image inside the
        real min..max), ``median`` (only the synthetic median inside), ``no`` or ``n/a``.
    """
    out: dict[str, dict[str, Any]] = {}
    for key, real_stat in real["stats"].items():
        synth_stat = synthetic["stats"].get(key)
        if not synth_stat or real_stat["n"] == 0 or synth_stat["n"] == 0:
            out[key] = {"verdict": "n/a", "share_in_range": None}
            continue
        low, high = real_stat["min"], real_stat["max"]
        values = [row[key] for row in synthetic_rows if _is_number(row.get(key))]
        share = sum(low <= v <= high for v in values) / len(values)
        if share == 1.0:
            verdict = "yes"
        elif low <= synth_stat["median"] <= high:
            verdict = "median"
        else:
            verdict = "no"
        out[key] = {"verdict": verdict, "share_in_range": share}
    return out


# ---------------------------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------------------------


def _fmt(value: float | None) -> str:
    """Four significant digits, plain notation for the magnitudes seen here."""
    if value is None:
        return "-"
    return f"{value:.4g}"


def _range_cell(stat: dict[str, Any] | None) -> str:
    """``min–max (median)`` for one side."""
    if not stat or stat["n"] == 0:
        return "-"
    return f"{_fmt(stat['min'])}–{_fmt(stat['max'])} ({_fmt(stat['median'])})"


def build_table(real: dict[str, Any], synthetic: dict[str, Any], verdicts: dict[str, Any]) -> Table:
    """Build the side-by-side rich table.

    Args:
        real: :func:`summarise` of the real rows.
        synthetic: :func:`summarise` of the synthetic rows.
        verdicts: :func:`compare` output.

    Returns:
        A table with one row per statistic.
    """
    title = f"Synthetic realism: {real['n_images']} real vs {synthetic['n_images']} synthetic images"
    table = Table(title=title)
    table.add_column("statistic")
    table.add_column("real min–max (median)", justify="right")
    table.add_column("synthetic min–max (median)", justify="right")
    table.add_column("synthetic within real range?", justify="center")
    colours = {"yes": "green", "median": "yellow", "no": "red", "n/a": "dim"}
    for key, verdict in verdicts.items():
        label = STAT_LABELS.get(key, key)
        word = verdict["verdict"]
        share = verdict["share_in_range"]
        text = word if share is None else f"{word} ({share:.0%})"
        table.add_row(
            label,
            _range_cell(real["stats"].get(key)),
            _range_cell(synthetic["stats"].get(key)),
            f"[{colours[word]}]{text}[/]",
        )
    return table


def _json_safe(value: Any) -> Any:
    """Replace NaN/inf by None recursively, because strict JSON has no NaN."""
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ---------------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------------


def _relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when possible, so that the JSON does not depend on the checkout."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def measure_folder(root: Path, max_images: int, console: Console) -> tuple[list[dict[str, Any]], list[dict]]:
    """Measure up to ``max_images`` pairs under ``root``.

    Args:
        root: Dataset folder.
        max_images: Maximum number of pairs (taken in (number, class) order, so classes alternate).
        console: Where progress and errors are printed.

    Returns:
        (rows, errors) where each error names the image and the reason it was skipped.
    """
    pairs = find_pairs(root)[:max_images]
    rows, errors = [], []
    start = time.perf_counter()
    for image, mask in pairs:
        try:
            row = measure_pair(image, mask)
        except (ValueError, cv2.error) as exc:
            errors.append({"image": _relative(image, root), "error": str(exc)})
            console.print(f"[red]skipped {image}: {exc}[/]")
            continue
        row["image"], row["mask"] = _relative(image, root), _relative(mask, root)
        rows.append(row)
    console.print(f"measured {len(rows)} pairs under {root} in {time.perf_counter() - start:.1f} s")
    return rows, errors


def _parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.synth_realism",
        description="Compare image statistics of a synthetic AneRBC-I-style dataset with real AneRBC-I images.",
    )
    parser.add_argument("--real", type=Path, required=True, help="folder with real AneRBC-I pairs")
    parser.add_argument("--synthetic", type=Path, required=True, help="folder with synthetic pairs (any depth)")
    parser.add_argument("--max-images", type=int, default=20, help="pairs measured per side (default 20)")
    parser.add_argument("--json", type=Path, default=None, help="write summary and per-image rows here")
    args = parser.parse_args(argv)
    if args.max_images < 1:
        parser.error("--max-images must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison, print the table and optionally write JSON.

    Args:
        argv: Arguments without the program name (default: ``sys.argv[1:]``).

    Returns:
        0 on success, 2 when a side has no measurable pair.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parse_args(argv)
    # Piped output defaults to 80 columns, which wraps every row of the table.
    console = Console() if sys.stdout.isatty() else Console(width=140)
    real_rows, real_errors = measure_folder(args.real, args.max_images, console)
    synth_rows, synth_errors = measure_folder(args.synthetic, args.max_images, console)
    if not real_rows or not synth_rows:
        console.print("[red]no measurable AneRBC-I image/mask pairs on at least one side[/]")
        return 2
    real, synthetic = summarise(real_rows), summarise(synth_rows)
    verdicts = compare(real, synthetic, synth_rows)
    console.print(build_table(real, synthetic, verdicts))
    console.print(f"mask styles: real {real['mask_styles']}, synthetic {synthetic['mask_styles']}")
    if args.json is not None:
        report = {
            "command": shlex.join(["python", "-m", "benchmarks.synth_realism", *argv]),
            "real_dir": str(args.real.resolve()),
            "synthetic_dir": str(args.synthetic.resolve()),
            "max_images": args.max_images,
            "n_real": len(real_rows),
            "n_synthetic": len(synth_rows),
            "statistics": STAT_LABELS,
            "summary": {"real": real, "synthetic": synthetic},
            "comparison": verdicts,
            "errors": {"real": real_errors, "synthetic": synth_errors},
            "rows": {"real": real_rows, "synthetic": synth_rows},
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(_json_safe(report), indent=2, allow_nan=False) + "\n")
        console.print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
