"""Per-sample features of the audit, computed in one streaming pass (each image and raw mask decoded once).

A worker gets a chunk of (sample_id, image path, mask path) and returns one small dict per sample:

- perceptual-hash material: the 8x8 low-frequency DCT block of the 32x32 grey thumbnail of the image, of its
  central 90 % and of four corner-anchored 97 % crops (the bits are set later, once the dataset is known:
  see ``rbc_dataset.auditing.duplicates``);
- mask-only intensity statistics of the raw mask (what a model fed raw masks could read the label from);
- where the canonical mask (the raw mask cut as ``validate-masks --fix`` cuts it) puts the cells' edges, measured
  against the image (what a model fed canonical masks could still read the label from);
- background colour and illumination statistics of the image (what a model could read the microscope from).

A sample whose image or mask cannot be read gets NaN features and an ``error`` text; the pass never stops.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from rbc_dataset.fileio import ImageRefused, link_leaves, read_image
from rbc_dataset.manifest import absolute_path
from rbc_dataset.masks import detect_polarity, image_cell_map, low_side
from rbc_dataset.parallel import opencv_single_thread, process_pool, worker_count
from rbc_dataset.progress import track

HASH_VARIANTS = ("full", "centre90", "crop_top_left", "crop_top_right", "crop_bottom_left", "crop_bottom_right")
CENTRE_SHARE = 0.90  # central crop hashed next to the full image (robust to symmetric crops up to ~10 %)
CORNER_SHARE = 0.97  # corner-anchored crops (robust to a few % cut from one side or corner)

_CHANNELS = ("red", "green", "blue")
_STATS = ("median", "mean", "p10", "p90")
MASK_FEATURES: tuple[str, ...] = (
    *(f"mask_{side}_{ch}_{stat}" for side in ("cell", "bg") for ch in _CHANNELS for stat in _STATS),
    "mask_n_values",
    "mask_bg_exact_white",
    "mask_cell_exact_black",
)
# The canonical mask against the image: its cell share beyond what an Otsu cut of the image finds, and where
# its 1-px inner and outer rims sit on the image's own edge (0 = the cells' core level, 1 = the background's).
CANONICAL_FEATURES: tuple[str, ...] = (
    "canonical_minus_image_share",
    "canonical_rim_inside",
    "canonical_rim_outside",
)
ACQUISITION_FEATURES: tuple[str, ...] = (
    "bg_red",
    "bg_green",
    "bg_blue",
    "bg_red_minus_green",
    "bg_blue_minus_green",
    "bg_brightness",
    "vignetting",
    "illumination_spread",
)
_HASH_SIDE = 384  # hashes are computed from a copy at most this many pixels wide (32 x 32 thumbnails in the end)
_WORK_SIDE = 480  # background statistics need no fine detail: work on an image at most this many pixels wide
_GRID = 8  # coarse background field: 8 x 8 cells
_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))  # 4-neighbours: a 1-px rim


@opencv_single_thread()
def extract_chunk(items: list[tuple]) -> list[dict]:
    """Features of a chunk of samples (the worker-pool task)."""
    return [extract_sample(sid, image, mask_path=mask, outside=outside) for sid, image, mask, outside in items]


def extract_sample(
    sample_id: str, image_path: str | None, *, mask_path: str | None, outside: tuple[str, ...] = ()
) -> dict:
    """Features of one sample; unreadable files give NaN features and an ``error`` text instead of raising.

    Roles in ``outside`` are files reached through a symbolic link out of the dataset root: never read.
    """
    out: dict = {"sample_id": sample_id, "mask_polarity": None}
    errors = []
    image = _load(image_path, "image", errors, "image" in outside)
    if image is not None:
        try:
            image = _as_rgb8(image)
            image_features = {"dct": hash_coefficients(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))}
            out.update({**image_features, **acquisition_features(image)})
        except (ValueError, IndexError, cv2.error) as exc:  # odd geometry: report the sample, keep going
            errors.append(f"image features failed ({exc})")
            image = None
    mask = _load(mask_path, "mask", errors, "mask" in outside)
    if mask is not None:
        try:
            cells, out["mask_polarity"] = mask_cell_side(mask, image)
            out.update(mask_features(mask, cells))
            if image is not None and out["mask_polarity"] is not None:
                out.update(canonical_features(cells, image))
        except (ValueError, IndexError, cv2.error) as exc:
            errors.append(f"mask features failed ({exc})")
    out["error"] = "; ".join(errors) or None
    return out


def _load(path: str | None, role: str, errors: list[str], outside: bool = False) -> np.ndarray | None:
    if path is None:
        errors.append(f"no {role} file")
        return None
    name = Path(path).name  # with the sample id, the file is named; audit.md travels inside builds: no local path
    if outside:
        errors.append(f"{role} refused ({name}: a symbolic link out of the dataset folder, not followed)")
        return None
    try:
        return read_image(path)
    except ImageRefused as exc:  # empty, not an image, truncated, too many pixels (never decoded) ...
        errors.append(f"{role} refused ({name}: {exc.found}; expected {exc.expected})")
        return None


def _as_rgb8(array: np.ndarray) -> np.ndarray:
    """Any decoded image as 8-bit RGB (grey replicated, alpha dropped, 16-bit scaled)."""
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    elif array.dtype == np.uint16:
        array = (array // 257).astype(np.uint8)
    elif array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    if array.ndim == 2:
        return np.repeat(array[..., None], 3, axis=2)
    return np.ascontiguousarray(array[..., :3]) if array.shape[2] >= 3 else np.repeat(array[..., :1], 3, axis=2)


def _dct_block(gray: np.ndarray) -> np.ndarray:
    thumb = cv2.resize(gray.astype(np.float32), (32, 32), interpolation=cv2.INTER_AREA)
    block = cv2.dct(thumb)[:8, :8].ravel()
    # Divided by the DC term so that a brighter or darker copy gives the same coefficients.
    return block / max(abs(float(block[0])), 1e-6)


def hash_coefficients(gray: np.ndarray) -> np.ndarray:
    """DCT blocks (len(HASH_VARIANTS), 64) of the full image, its central crop and its corner crops."""
    h, w = gray.shape
    scale = min(1.0, _HASH_SIDE / max(h, w))
    if scale < 1.0:  # one downscale serves every crop; the crop boundaries move by well under 1 % of a side
        gray = cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        h, w = gray.shape
    ch, cw = round(h * (1 - CENTRE_SHARE) / 2), round(w * (1 - CENTRE_SHARE) / 2)
    kh, kw = h - round(h * CORNER_SHARE), w - round(w * CORNER_SHARE)
    crops = (
        gray,
        gray[ch : h - ch, cw : w - cw],
        gray[: h - kh, : w - kw],
        gray[: h - kh, kw:],
        gray[kh:, : w - kw],
        gray[kh:, kw:],
    )
    return np.stack([_dct_block(crop) for crop in crops]).astype(np.float32)


def _histogram_stats(hist: np.ndarray) -> tuple[float, float, float, float]:
    """Median, mean, 10th and 90th percentile of 8-bit values from their histogram."""
    total = hist.sum()
    if total == 0:
        return (np.nan,) * 4
    cumulative = np.cumsum(hist)
    median, p10, p90 = (float(np.searchsorted(cumulative, q * total)) for q in (0.5, 0.1, 0.9))
    return median, float(hist @ np.arange(256) / total), p10, p90


def mask_cell_side(mask: np.ndarray, image: np.ndarray | None) -> tuple[np.ndarray, str | None]:
    """The mask's cells as ``validate-masks --fix`` cuts them, and the polarity (None: unknown, the dark side)."""
    low = low_side(mask, image)
    polarity = detect_polarity(low, image) if image is not None else None
    return (~low if polarity == "cells_high" else low), polarity  # unknown: the AneRBC convention, dark cells


def mask_features(mask: np.ndarray, cells: np.ndarray) -> dict:
    """Mask-only intensity statistics of each side of the raw mask."""
    mask8 = _as_rgb8(mask)
    sides = {"cell": cells.astype(np.uint8), "bg": (~cells).astype(np.uint8)}
    features: dict = {}
    pooled = np.zeros(256)
    for c, name in enumerate(_CHANNELS):
        channel = np.ascontiguousarray(mask8[..., c])
        for side, selector in sides.items():
            hist = cv2.calcHist([channel], [0], selector, [256], [0, 256]).ravel()
            pooled += hist
            for stat, value in zip(_STATS, _histogram_stats(hist), strict=True):
                features[f"mask_{side}_{name}_{stat}"] = value
    features["mask_n_values"] = float(np.count_nonzero(pooled))
    white = cv2.inRange(mask8, (255, 255, 255), (255, 255, 255))
    black = cv2.inRange(mask8, (0, 0, 0), (0, 0, 0))
    n_cells = int(cv2.countNonZero(sides["cell"]))
    n_bg = cells.size - n_cells
    # Shares within each side: an encoding property, independent of how much of the image is covered by cells.
    n_white = cv2.countNonZero(cv2.bitwise_and(white, white, mask=sides["bg"]))
    n_black = cv2.countNonZero(cv2.bitwise_and(black, black, mask=sides["cell"]))
    features["mask_bg_exact_white"] = n_white / n_bg if n_bg else np.nan
    features["mask_cell_exact_black"] = n_black / n_cells if n_cells else np.nan
    return features


def canonical_features(cells: np.ndarray, image: np.ndarray) -> dict:
    """Where the canonical mask draws the cells, measured against the image (NaN where it cannot be measured).

    A canonicalisation that lets the raw mask's darkness move the cut (a fixed grey < 128 on masks darker in one
    class) draws that class's cells a pixel wider: more cell share than the image's own Otsu cut finds, and rims
    that sit further out on the image's edge. Neither should depend on the class.
    """
    if cells.shape != image.shape[:2]:
        return dict.fromkeys(CANONICAL_FEATURES, np.nan)
    green = image[..., 1].astype(np.float32)
    cells8 = cells.astype(np.uint8)
    inside = cells & ~cv2.erode(cells8, _CROSS).astype(bool)
    outside = cv2.dilate(cells8, _CROSS).astype(bool) & ~cells
    core = cv2.erode(cells8, _CROSS, iterations=3).astype(bool)
    background = ~cv2.dilate(cells8, _CROSS, iterations=3).astype(bool)
    share = float(cells.mean() - image_cell_map(image).mean())
    if not (inside.any() and outside.any() and core.any() and background.any()):
        return {"canonical_minus_image_share": share, "canonical_rim_inside": np.nan, "canonical_rim_outside": np.nan}
    low, high = float(np.median(green[core])), float(np.median(green[background]))
    span = high - low if abs(high - low) >= 1.0 else np.nan  # no contrast between cells and background
    return {
        "canonical_minus_image_share": share,
        "canonical_rim_inside": (float(green[inside].mean()) - low) / span,
        "canonical_rim_outside": (float(green[outside].mean()) - low) / span,
    }


def acquisition_features(image: np.ndarray) -> dict:
    """Background colour and illumination of an 8-bit RGB image (NaN when it has almost no background)."""
    h, w = image.shape[:2]
    scale = min(1.0, _WORK_SIDE / max(h, w))
    small = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    cells = image_cell_map(small).astype(np.uint8)
    # Grow the cells by a couple of pixels so that their pale halos do not count as background.
    background = ~cv2.dilate(cells, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))).astype(bool)
    if background.sum() < 50:
        return dict.fromkeys(ACQUISITION_FEATURES, np.nan)
    pixels = small[background].astype(np.float32)
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return {
        "bg_red": float(np.median(pixels[:, 0])),
        "bg_green": float(np.median(pixels[:, 1])),
        "bg_blue": float(np.median(pixels[:, 2])),
        "bg_red_minus_green": float(np.median(pixels[:, 0] - pixels[:, 1])),
        "bg_blue_minus_green": float(np.median(pixels[:, 2] - pixels[:, 1])),
        "bg_brightness": float(np.median(gray[background])),
        "vignetting": _vignetting(gray, background),
        "illumination_spread": _field_spread(gray, background),
    }


def _vignetting(gray: np.ndarray, background: np.ndarray) -> float:
    """Median background brightness of the central ninth over that of the four corner 36ths."""
    h, w = gray.shape
    centre = (slice(h // 3, h - h // 3), slice(w // 3, w - w // 3))
    ch, cw = max(1, h // 6), max(1, w // 6)
    corners = [(slice(None, ch), slice(None, cw)), (slice(None, ch), slice(w - cw, None))]
    corners += [(slice(h - ch, None), slice(None, cw)), (slice(h - ch, None), slice(w - cw, None))]
    inner = gray[centre][background[centre]]
    outer = np.concatenate([gray[c][background[c]] for c in corners])
    if len(inner) < 20 or len(outer) < 20:
        return np.nan
    return float(np.median(inner) / max(float(np.median(outer)), 1.0))


def _field_spread(gray: np.ndarray, background: np.ndarray) -> float:
    """(p95 - p5) / median of the median background brightness over a coarse 8 x 8 grid."""
    h, w = (gray.shape[0] // _GRID) * _GRID, (gray.shape[1] // _GRID) * _GRID
    if h == 0 or w == 0:
        return np.nan
    field = np.where(background[:h, :w], gray[:h, :w], np.nan)
    blocks = field.reshape(_GRID, h // _GRID, _GRID, w // _GRID).transpose(0, 2, 1, 3).reshape(_GRID * _GRID, -1)
    enough = np.sum(~np.isnan(blocks), axis=1) >= 10
    if enough.sum() < 4:
        return np.nan
    medians = np.nanmedian(blocks[enough], axis=1)
    p5, p50, p95 = np.percentile(medians, [5, 50, 95])
    return float((p95 - p5) / max(p50, 1.0))


CHUNK = 8  # samples per worker task: a full AneRBC image pair is ~10 MB decoded, so chunks stay small


def _items(rows: pd.DataFrame) -> list[tuple]:
    """(sample_id, image path, mask path, roles whose file is a link out of the dataset root) per row."""
    items = []
    for row in rows.to_dict("records"):
        paths = [absolute_path(row, role) for role in ("image", "mask")]
        outside = tuple(
            role for role, p in zip(("image", "mask"), paths, strict=True) if p and link_leaves(p, row["root"])
        )
        items.append((row["sample_id"], *(None if p is None else str(p) for p in paths), outside))
    return items


def compute_features(rows: pd.DataFrame, workers: int, *, show_progress: bool) -> tuple[pd.DataFrame, np.ndarray]:
    """Features of every manifest row, in row order, and the hash DCT blocks (n, variants, 64) (NaN if unread).

    Memory stays bounded: workers return only small dicts, never pixels.
    """
    items = _items(rows)
    chunks = [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]
    workers = min(worker_count(workers), max(1, len(chunks)))
    if workers <= 1:
        results = map(extract_chunk, chunks)
        batches = list(
            track(results, len(items), description="audit features", show=show_progress, sizes=map(len, chunks))
        )
    else:
        with process_pool(workers) as pool:
            results = pool.map(extract_chunk, chunks)
            batches = list(
                track(results, len(items), description="audit features", show=show_progress, sizes=map(len, chunks))
            )
    records = [record for batch in batches for record in batch]
    coefficients = np.full((len(records), len(HASH_VARIANTS), 64), np.nan, np.float32)
    for k, record in enumerate(records):
        dct = record.pop("dct", None)
        if dct is not None:
            coefficients[k] = dct
    columns = ["sample_id", *MASK_FEATURES, *CANONICAL_FEATURES, *ACQUISITION_FEATURES, "mask_polarity", "error"]
    frame = pd.DataFrame.from_records(records).reindex(columns=columns)
    return frame, coefficients
