"""Pictures of the worst pairs for the validation summaries: an overlay thumbnail and zoomed crops at the findings.

The thumbnail shows the whole image with the mask's cells outlined in green and the cells seen in the image
itself in magenta, so a shifted, flipped or swapped mask is visible at a glance; a yellow box marks each crop.
At 360 px a speck or a hole is a pixel or less, so each pair also gets up to two crops of ``CROP_PX`` pixels
around what a finding is about (the largest speck, the largest hole, or where mask and image disagree most),
enlarged ``ZOOM`` times with nearest-neighbour so every mask pixel stays a visible square.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pandas as pd

from rbc_dataset import masks
from rbc_dataset.fileio import MAX_PIXELS, ImageRefused, read_image
from rbc_dataset.manifest import absolute_path

THUMB_WIDTH = 360
CROP_PX = 96  # side of a crop in image pixels: a few AneRBC cells (about 20 px across each)
ZOOM = 4
MAX_CROPS = 2  # per pair, so the page holds at most 3 pictures per worst case
MASK_COLOUR, IMAGE_COLOUR, BOX_COLOUR = (0, 200, 0), (220, 0, 220), (255, 190, 0)  # yellow: crops and their focus
# Findings about where the mask lies relative to its image: their crop goes where the two disagree most.
ALIGNMENT_CODES = frozenset({"shifted_mask", "flipped_mask", "mask_mismatch", "rgb_mask_mismatch"})


@dataclass(frozen=True)
class Crop:
    """A zoomed region of a pair and what it shows."""

    picture: np.ndarray  # RGB, (CROP_PX * ZOOM) px square at most
    what: str  # "the largest speck (12 px)", ...
    x: int  # top-left corner in image pixels
    y: int


@dataclass(frozen=True)
class Focus:
    """Where a crop goes: its centre (x, y), what is there, and that region's pixels when it is one region."""

    centre: tuple[int, int]
    what: str
    region: np.ndarray | None = None  # bool, the image's shape


@dataclass(frozen=True)
class PairFigures:
    """The overlay thumbnail of one pair and its crops."""

    thumbnail: np.ndarray
    crops: list[Crop]


def _read(row: pd.Series, role: str, max_pixels: int) -> np.ndarray | None:
    path = absolute_path(row, role)
    try:
        return read_image(path, max_pixels=max_pixels) if path is not None else None
    except ImageRefused:
        return None


def _rgb(array: np.ndarray) -> np.ndarray:
    if array.ndim == 3:
        return np.ascontiguousarray(array[..., :3])
    return cv2.cvtColor(masks.to_gray(array), cv2.COLOR_GRAY2RGB)


def _outline(canvas: np.ndarray, cells: np.ndarray, colour: tuple[int, int, int]) -> None:
    contours, _ = cv2.findContours(cells.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(canvas, contours, -1, colour, 1)


def _largest_speck(cells: np.ndarray, max_px: int) -> Focus | None:
    """The largest cell component under ``max_px`` not cut by the border (the specks validation counts)."""
    _, labels, stats, centroids = cv2.connectedComponentsWithStats(cells.astype(np.uint8), connectivity=8)
    x, y, w, h, area = (stats[1:, k] for k in range(5))
    inner = (x > 0) & (y > 0) & (x + w < cells.shape[1]) & (y + h < cells.shape[0])
    candidates = np.flatnonzero((area < max_px) & inner)
    if not len(candidates):
        return None
    best = candidates[np.argmax(area[candidates])]
    cx, cy = centroids[best + 1]
    return Focus((round(cx), round(cy)), f"the largest speck ({area[best]} px)", labels == best + 1)


def _largest_hole(cells: np.ndarray, max_px: int) -> Focus | None:
    """The largest enclosed background region under ``max_px`` (the holes validation counts)."""
    padded = np.pad((~cells).astype(np.uint8), 1, constant_values=1)
    cv2.floodFill(padded, None, (0, 0), 0, flags=4)
    _, labels, stats, centroids = cv2.connectedComponentsWithStats(padded, connectivity=4)
    area = stats[1:, 4]
    candidates = np.flatnonzero(area < max_px)
    if not len(candidates):
        return None
    best = candidates[np.argmax(area[candidates])]
    cx, cy = centroids[best + 1]
    region = labels[1:-1, 1:-1] == best + 1
    return Focus((round(cx) - 1, round(cy) - 1), f"the largest hole ({area[best]} px)", region)


def _most_disagreement(cells: np.ndarray, seen: np.ndarray) -> Focus | None:
    """Centre (x, y) of the crop-sized window where the mask's cells and the image's cells differ most."""
    differ = (cells != seen).astype(np.float32)
    if not differ.any():
        return None
    density = cv2.boxFilter(differ, -1, (CROP_PX, CROP_PX), normalize=True, borderType=cv2.BORDER_CONSTANT)
    cy, cx = np.unravel_index(int(np.argmax(density)), density.shape)
    return Focus((int(cx), int(cy)), f"where mask and image disagree most ({density[cy, cx]:.0%} of pixels)")


def _foci(codes: set[str], cells: np.ndarray, seen: np.ndarray, config: dict) -> list[Focus]:
    """Where to look, by what the pair's findings are about; at most ``MAX_CROPS`` places."""
    foci = []
    if "specks" in codes:
        foci.append(_largest_speck(cells, int(config.get("speck_max_px", 20))))
    if "holes" in codes:
        foci.append(_largest_hole(cells, int(config.get("hole_max_px", 60))))
    if codes & ALIGNMENT_CODES or not any(foci):
        foci.append(_most_disagreement(cells, seen))
    return [focus for focus in foci if focus is not None][:MAX_CROPS]


def _crop(image: np.ndarray, cells: np.ndarray, seen: np.ndarray, focus: Focus) -> Crop:
    """The crop around ``focus``, enlarged; the focused region (a speck, a hole) outlined in yellow."""
    height, width = cells.shape
    centre = focus.centre
    side_x, side_y = min(CROP_PX, width), min(CROP_PX, height)
    x = int(np.clip(centre[0] - side_x // 2, 0, width - side_x))
    y = int(np.clip(centre[1] - side_y // 2, 0, height - side_y))
    window = (slice(y, y + side_y), slice(x, x + side_x))
    size = (side_x * ZOOM, side_y * ZOOM)
    picture = cv2.resize(image[window], size, interpolation=cv2.INTER_NEAREST)
    regions = [(seen, IMAGE_COLOUR), (cells, MASK_COLOUR)]
    if focus.region is not None:
        regions.append((cv2.dilate(focus.region.astype(np.uint8), np.ones((3, 3), np.uint8)), BOX_COLOUR))
    for region, colour in regions:
        zoomed = cv2.resize(region[window].astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
        _outline(picture, zoomed, colour)
    return Crop(picture, focus.what, x, y)


def draw_pair(row: pd.Series, polarity: str | None, *, codes: set[str], config: dict) -> PairFigures | None:
    """Thumbnail and crops of one pair, or None when neither file can be decoded.

    Crops need the image and the mask at the same size; a pair without them gets the thumbnail alone.
    """
    max_pixels = int(config.get("max_pixels", MAX_PIXELS))
    image, mask = _read(row, "image", max_pixels), _read(row, "mask", max_pixels)
    base = image if image is not None else mask
    if base is None:
        return None
    scale = THUMB_WIDTH / base.shape[1]
    size = (THUMB_WIDTH, max(1, round(base.shape[0] * scale)))
    thumbnail = cv2.resize(_rgb(base), size, interpolation=cv2.INTER_AREA)
    # The image shades the cut, as in validate-masks --fix, so the outline drawn is the canonical mask's.
    shade = None if image is None else _rgb(image)
    cells = None if mask is None else masks.cell_map(mask, polarity or "cells_low", image=shade)
    if image is not None:
        _outline(thumbnail, masks.image_cell_map(image[..., :3], scale), IMAGE_COLOUR)
    if cells is not None:
        _outline(thumbnail, cv2.resize(cells.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST), MASK_COLOUR)
    if image is None or cells is None or image.shape[:2] != cells.shape:
        return PairFigures(thumbnail, [])
    colour = _rgb(image)
    seen = masks.image_cell_map(colour)
    crops = [_crop(colour, cells, seen, focus) for focus in _foci(codes, cells, seen, config)]
    for crop in crops:
        corner = (round(crop.x * scale), round(crop.y * scale))
        far = (
            round((crop.x + crop.picture.shape[1] / ZOOM) * scale),
            round((crop.y + crop.picture.shape[0] / ZOOM) * scale),
        )
        cv2.rectangle(thumbnail, corner, far, BOX_COLOUR, 1)
    return PairFigures(thumbnail, crops)
