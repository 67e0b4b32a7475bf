"""Mask encodings, polarity and canonical cell maps: the one place that decides what a mask pixel means.

A mask on disk may be clean binary (0/1, 0/255, bool), near-binary as in the AneRBC release (exact white
background, dark cells that keep a dimmed copy of the image texture, graded edges), multi-valued, RGB with
channels that disagree, palette, 16-bit or with alpha. Whatever it is, ``cell_map`` turns it into a boolean
cell map, and the canonical mask written for models is single-channel 0/255 with cell = 255.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

CLEAN_BINARY = ("binary_0_1", "binary_0_255", "binary_other")
POLARITIES = ("cells_low", "cells_high")  # cells are the darker or the brighter side of the mask


@dataclass(frozen=True)
class MaskEncoding:
    """How a mask encodes cells."""

    kind: str  # binary_0_1, binary_0_255, binary_other, near_binary, multi_valued, constant
    channels: int
    bit_depth: int
    n_values: int  # distinct grey values
    ambiguous_fraction: float  # share of pixels between the two sides (near-binary masks)
    channels_agree: bool  # RGB masks: all channels equal


def to_gray(mask: np.ndarray) -> np.ndarray:
    """Grey levels 0..255 (uint8) of any mask array: bool, 8/16-bit, 1/3/4 channels (alpha ignored).

    Colour masks use the usual luminance weights, so "grey < 128" means what it means in an image viewer.
    """
    array = mask
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    if array.dtype == np.uint16:
        array = (array >> 8).astype(np.uint8)
    elif array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    if array.ndim == 3:
        array = cv2.cvtColor(array[..., :3], cv2.COLOR_RGB2GRAY) if array.shape[2] >= 3 else array[..., 0]
    return array


def _threshold(gray: np.ndarray) -> int:
    """Masks stored as 0/1 split between 0 and 1; everything else at mid-grey."""
    return 1 if int(gray.max(initial=0)) <= 1 else 128


def classify_encoding(mask: np.ndarray) -> MaskEncoding:
    """Classify a decoded mask array (see the module docstring)."""
    gray = to_gray(mask)
    channels = 1 if mask.ndim == 2 else mask.shape[2]
    bit_depth = 16 if mask.dtype == np.uint16 else 1 if mask.dtype == bool else 8
    agree = channels == 1 or all(np.array_equal(mask[..., 0], mask[..., c]) for c in range(1, min(channels, 3)))
    histogram = np.bincount(gray.ravel(), minlength=256)
    values = np.flatnonzero(histogram)
    if len(values) == 1:
        return MaskEncoding(
            "constant", channels, bit_depth=bit_depth, n_values=1, ambiguous_fraction=0.0, channels_agree=agree
        )
    if len(values) == 2:
        kind = {(0, 1): "binary_0_1", (0, 255): "binary_0_255"}.get((int(values[0]), int(values[1])), "binary_other")
        return MaskEncoding(
            kind, channels, bit_depth=bit_depth, n_values=2, ambiguous_fraction=0.0, channels_agree=agree
        )
    return _graded_encoding(histogram, values, channels=channels, bit_depth=bit_depth, agree=agree)


def _graded_encoding(histogram: np.ndarray, values: np.ndarray, *, channels: int, bit_depth: int, agree: bool):
    """Near-binary when one side is a single exact value and few pixels lie between the sides; else multi-valued."""
    total = float(histogram.sum())
    low, high = int(values[0]), int(values[-1])
    share_low, share_high = histogram[low] / total, histogram[high] / total
    threshold = 1 if high <= 1 else 128
    if share_high >= share_low:  # e.g. the release's exact white background; graded pixels sit just below it
        exact_share, ambiguous = share_high, histogram[threshold:high].sum() / total
    else:
        exact_share, ambiguous = share_low, histogram[low + 1 : threshold].sum() / total
    kind = "near_binary" if exact_share > 0.2 and ambiguous < 0.1 else "multi_valued"
    return MaskEncoding(
        kind,
        channels,
        bit_depth=bit_depth,
        n_values=len(values),
        ambiguous_fraction=float(ambiguous),
        channels_agree=agree,
    )


def _median_level(histogram: np.ndarray, start: int) -> int:
    """Median grey level of a histogram slice that begins at level ``start``."""
    cumulative = np.cumsum(histogram)
    return start + int(np.searchsorted(cumulative, cumulative[-1] / 2))


def cut_level(gray: np.ndarray, image: np.ndarray | None = None) -> float | np.ndarray:
    """Where a grey mask is cut: halfway between its own dark level and its own light level.

    A first split at mid-grey (at 1 for 0/1 masks) gives the two sides, and their medians are the mask's two
    levels. Cutting halfway between them makes an anti-aliased edge pixel a cell pixel when it is more than half
    covered, however dark the mask: a fixed cut at 128 keeps edge pixels 53 % covered in a mask whose cells are
    15 but only those 60 % covered in one whose cells are 45, and in the release the class sets the mask's
    darkness. Given the image, the dark level is taken pixel by pixel (see ``_dark_level``), so a cut level per
    pixel comes back. A two-valued mask is cut between its two values, exactly as by the first split, and a mask
    with one side only stays one-sided.
    """
    first = _threshold(gray)
    histogram = np.bincount(gray.ravel(), minlength=256)
    dark, light = histogram[:first], histogram[first:]
    if not dark.any() or not light.any():
        return float(first)
    light_level = _median_level(light, first)
    if image is None or image.shape[:2] != gray.shape:
        return (_median_level(dark, 0) + light_level) / 2
    shades = np.flatnonzero(dark)
    return (_dark_level(gray, image, first=first, bounds=(shades[0], shades[-1])) + light_level) / 2


_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def _dark_level(gray: np.ndarray, image: np.ndarray, *, first: int, bounds: tuple[int, int]) -> np.ndarray:
    """The dark side's level at each pixel, kept within the side's own range of grey levels.

    Release masks draw cells as a dimmed copy of the image (their grey follows the image's at rank correlation
    0.96-0.99 on the real sample), and a cell is paler at its rim, where the image blurs into the background. One
    level for the whole mask then cuts the rim of a light mask at a higher coverage than that of a dark one;
    the image, dimmed by the mask's own ratio (median over the side's inner pixels), gives the level at the rim.
    A flat side (a binary mask) has a single grey level, so the bounds pin it there.
    """
    side = gray < first
    inner = cv2.erode(side.astype(np.uint8), _CROSS).astype(bool)
    inner = inner if inner.any() else side
    shade = to_gray(image).astype(np.float32)
    ratio = float(np.median(gray[inner])) / max(float(np.median(shade[inner])), 1.0)
    return np.clip(ratio * shade, *bounds)


def low_side(mask: np.ndarray, image: np.ndarray | None = None) -> np.ndarray:
    """Pixels on the dark side of the mask: darker than its ``cut_level`` (a 0/255 mask: grey < 128; 0/1: < 1).

    Pass the image whenever it is at hand: the cut then follows the cells' shading (see ``cut_level``).
    """
    gray = to_gray(mask)
    return gray < cut_level(gray, image)


def image_cell_map(image: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Cells from the image alone: Otsu on the green channel (red cells absorb green most), optionally downscaled."""
    green = image[..., 1] if image.ndim == 3 else image
    if scale != 1.0:
        size = (max(1, round(green.shape[1] * scale)), max(1, round(green.shape[0] * scale)))
        green = cv2.resize(green, size, interpolation=cv2.INTER_AREA)
    green = green if green.dtype == np.uint8 else cv2.normalize(green, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    _, cells = cv2.threshold(green, 0, 1, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    return cells.astype(bool)


def detect_polarity(low: np.ndarray, image: np.ndarray) -> str | None:
    """Which side of the mask holds the cells: the side where the image is darker in green.

    Returns None when the mask has only one side (empty or full) or its size differs from the image.
    """
    if low.all() or not low.any() or low.shape != image.shape[:2]:
        return None
    green = image[..., 1] if image.ndim == 3 else image
    return "cells_low" if float(green[low].mean()) < float(green[~low].mean()) else "cells_high"


def cell_map(mask: np.ndarray, polarity: str, *, image: np.ndarray | None = None) -> np.ndarray:
    """Boolean cell map of a mask under the given polarity (cut by the image's shading when given)."""
    low = low_side(mask, image)
    return low if polarity == "cells_low" else ~low


def mask_cells(mask: np.ndarray, image: np.ndarray) -> np.ndarray | None:
    """Boolean cell map of a mask in any encoding: its side that is darker in the image; None when one-sided."""
    low = low_side(mask, image)
    polarity = detect_polarity(low, image)
    if polarity is None:
        return None
    return low if polarity == "cells_low" else ~low


def canonical_mask(cells: np.ndarray) -> np.ndarray:
    """Single-channel uint8 mask, cell = 255, background = 0."""
    return np.where(cells, 255, 0).astype(np.uint8)


def remove_small_components(
    cells: np.ndarray, max_px: float, *, connectivity: int = 8, keep_border: bool = False
) -> tuple[np.ndarray, int]:
    """Clear the connected components of a boolean map smaller than ``max_px`` pixels.

    OpenCV labels and measures every component in one pass; scikit-image's ``remove_small_objects`` has no
    border rule and no count, which ``validate-masks --fix`` needs for its provenance.

    Args:
        cells: boolean map.
        max_px: components of fewer pixels are cleared; 1 or less clears nothing.
        connectivity: 8 for cells, 4 for the background between them (so a diagonal gap stays a gap).
        keep_border: keep components touching the image border whatever their size: there a small piece is a
            cell cut by the edge, or background open to the outside, not a speck or a hole.

    Returns:
        The cleaned map and the number of components cleared.
    """
    if max_px <= 1:
        return cells, 0
    _, labels, stats, _ = cv2.connectedComponentsWithStats(cells.astype(np.uint8), connectivity=connectivity)
    small = stats[:, cv2.CC_STAT_AREA] < max_px
    if keep_border:
        h, w = cells.shape
        x, y = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
        small &= (x > 0) & (y > 0) & (x + stats[:, cv2.CC_STAT_WIDTH] < w) & (y + stats[:, cv2.CC_STAT_HEIGHT] < h)
    small[0] = False  # label 0 is what lies outside the components
    return cells & ~small[labels], int(small.sum())


def fill_small_holes(cells: np.ndarray, max_px: float, *, keep_border: bool = False) -> tuple[np.ndarray, int]:
    """Fill background regions (4-connected) smaller than ``max_px`` pixels; return the map and how many.

    ``keep_border`` leaves background touching the image border open (see ``remove_small_components``).
    """
    background, filled = remove_small_components(~cells, max_px, connectivity=4, keep_border=keep_border)
    return ~background, filled
