"""Per-image statistics of the realism benchmark: the same measures on real and synthetic image/mask pairs.

The list of statistics and how to read the comparison are in ``benchmarks.toolkit.realism``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from scipy import ndimage

from rbc_dataset.fileio import read_image

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


NAN = float("nan")

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


CLASS_NAMES = {"a": "anaemic", "h": "healthy"}  # AneRBC-I file stems end in _a or _h


def pair_class(image_path: Path) -> str:
    """The class letter of an AneRBC-I image from its stem (``001_a`` -> ``a``)."""
    return Path(image_path).stem.rsplit("_", 1)[-1]


def _read_rgb(path: Path) -> np.ndarray:
    """Read an image as uint8 RGB (alpha dropped, gray expanded); ``read_image`` checks the file first."""
    raw = _to_uint8(read_image(path))
    if raw.ndim == 2:
        return cv2.cvtColor(raw, cv2.COLOR_GRAY2RGB)
    return np.ascontiguousarray(raw[:, :, :3])


def _read_mask(path: Path) -> tuple[np.ndarray, np.ndarray, bool]:
    """Read a mask as (gray uint8, red-or-single channel uint8, whether the file had a single channel)."""
    raw = _to_uint8(read_image(path))
    if raw.ndim == 2 or raw.shape[2] == 1:
        raw = raw.reshape(raw.shape[:2])
        return raw, raw, True
    rgb = np.ascontiguousarray(raw[:, :, :3])
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), rgb[:, :, 0], False


def binarise_mask(mask_gray: np.ndarray, image_gray: np.ndarray, *, single_channel: bool) -> tuple[np.ndarray, str]:
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


def _count_components(region: np.ndarray, low: int, *, high: int, connectivity: int, skip_border: bool) -> int:
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
        "mask_specks": _count_components(cell, 1, high=MIN_CELL_AREA - 1, connectivity=8, skip_border=False),
        # Background is 4-connected where cells are 8-connected, so the two labellings are consistent.
        "mask_holes": _count_components(background, 1, high=HOLE_MAX_AREA - 1, connectivity=4, skip_border=True),
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
    return _count_components(dark, SPECK_MIN_AREA, high=SPECK_MAX_AREA, connectivity=8, skip_border=False)


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
    cell, polarity = binarise_mask(mask_gray, gray, single_channel=single_channel)
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
