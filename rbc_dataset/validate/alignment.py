"""Does a mask belong to its image? Agreement with an image-derived cell map at zero shift, the best shift, and flips.

Works on a downscaled copy (long side about 320 px), where one FFT cross-correlation gives the overlap of
the two cell maps for every shift at once. A mask that fits best at a shift is shifted; one that fits best
flipped is flipped; one that fits nowhere belongs to another image (a swap) or is not a cell mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.fft import irfft2, next_fast_len, rfft2

WORKING_SIZE = 192  # px, long side of the maps compared for tiles
MIN_SCALE = 0.26  # full 1224-px images are compared at about 320 px: a 5-px shift must stay visible
WINDOW_FULL_PX = 24  # shifts searched, in full-resolution pixels each way
FLIPS = {"horizontal": 1, "vertical": 0, "both": -1}


@dataclass(frozen=True)
class Alignment:
    """Agreement (IoU) of the mask's cells with the image's cells."""

    iou_zero: float  # as stored
    iou_best: float  # at the best shift within the window
    shift: tuple[int, int]  # (dy, dx) of the best shift, full-resolution pixels
    iou_flip: float  # best over horizontal, vertical and both flips (zero shift)
    flip: str | None  # which flip that was
    scale: float  # working scale used


def _downscale(cells: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return cells.astype(np.float32)
    size = (max(1, round(cells.shape[1] * scale)), max(1, round(cells.shape[0] * scale)))
    return cv2.resize(cells.astype(np.float32), size, interpolation=cv2.INTER_AREA)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    """Soft IoU of two maps in [0, 1]: overlap as the product, as in the correlation below."""
    overlap = float((a * b).sum())
    union = float(a.sum() + b.sum()) - overlap
    return overlap / union if union > 0 else 0.0


def _best_shift(a: np.ndarray, b: np.ndarray, window: int) -> tuple[float, tuple[int, int], float]:
    """Best IoU of ``b`` moved by up to ``window`` px over ``a`` (soft maps; overlap from one FFT correlation)."""
    # Zero padding by the window keeps shifted copies from wrapping around; sizes rounded up to fast FFT lengths.
    shape = (next_fast_len(a.shape[0] + 2 * window, real=True), next_fast_len(a.shape[1] + 2 * window, real=True))
    fa = rfft2(a, shape)
    fb = rfft2(b, shape)
    overlap = irfft2(fa * np.conj(fb), shape)
    # overlap[dy, dx] = sum a(y, x) * b(y - dy, x - dx); negative shifts wrap to the end of the padded array.
    rows = np.r_[0 : window + 1, shape[0] - window : shape[0]]
    cols = np.r_[0 : window + 1, shape[1] - window : shape[1]]
    local = overlap[np.ix_(rows, cols)]
    total = float(a.sum() + b.sum())
    iou = local / np.maximum(total - local, 1e-6)
    r, c = np.unravel_index(int(np.argmax(iou)), iou.shape)
    dy = int(rows[r]) if rows[r] <= window else int(rows[r]) - shape[0]
    dx = int(cols[c]) if cols[c] <= window else int(cols[c]) - shape[1]
    return float(iou[r, c]), (dy, dx), float(iou[0, 0])


def measure_alignment(mask_cells: np.ndarray, image_cells_small: np.ndarray, *, scale: float) -> Alignment:
    """Compare a full-resolution mask cell map with an image cell map already at ``scale``."""
    b = _downscale(mask_cells, scale)
    a = image_cells_small.astype(np.float32)
    if a.shape != b.shape:
        b = cv2.resize(b, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_AREA)
    window = max(2, round(WINDOW_FULL_PX * scale))
    iou_best, (dy, dx), iou_zero = _best_shift(a, b, window)
    flips = {name: _iou(a, cv2.flip(b, code)) for name, code in FLIPS.items()}
    flip = max(flips, key=flips.get)
    full_shift = (round(dy / scale), round(dx / scale))
    return Alignment(iou_zero, max(iou_best, iou_zero), shift=full_shift, iou_flip=flips[flip], flip=flip, scale=scale)


def working_scale(height: int, width: int) -> float:
    return min(1.0, max(WORKING_SIZE / max(height, width), MIN_SCALE))
