"""Side-by-side crops of real and synthetic smears: ``rbc-bench realism --sheet OUT.jpg``.

Rows: real anaemic, synthetic anaemic, real healthy, synthetic healthy; each row shows 400x300 crops (the size
at which the issue compared them by eye) of different images at seeded random positions. Real images stay
where their user keeps them: the sheet is written only where asked, so a project can show its synthetic crops
while each user looks at their own real ones next to them.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from benchmarks.toolkit.realism_stats import CLASS_NAMES, _read_rgb, pair_class
from rbc_dataset.errors import UsageError
from rbc_dataset.fileio import atomic_write_bytes

CROP_WIDTH, CROP_HEIGHT = 400, 300
LABEL_HEIGHT = 20
GAP = 6
ROWS = (("real", "a"), ("synthetic", "a"), ("real", "h"), ("synthetic", "h"))


def _of_class(pairs: Sequence[tuple[Path, Path]], klass: str, per_row: int) -> list[Path]:
    """The first ``per_row`` images of a class (the stem ends in ``_a`` or ``_h``, as AneRBC names them)."""
    return [image for image, _ in pairs if pair_class(image) == klass][:per_row]


def _crop(image_path: Path, rng: np.random.Generator) -> np.ndarray:
    """A 400x300 crop at a random position; a smaller image is padded with white."""
    rgb = _read_rgb(image_path)
    height, width = rgb.shape[:2]
    top = int(rng.integers(0, max(height - CROP_HEIGHT, 0) + 1))
    left = int(rng.integers(0, max(width - CROP_WIDTH, 0) + 1))
    crop = np.full((CROP_HEIGHT, CROP_WIDTH, 3), 255, np.uint8)
    part = rgb[top : top + CROP_HEIGHT, left : left + CROP_WIDTH]
    crop[: part.shape[0], : part.shape[1]] = part
    return crop


def _row(images: list[Path], label: str, *, per_row: int, rng: np.random.Generator) -> Image.Image:
    width = per_row * CROP_WIDTH + (per_row - 1) * GAP
    row = Image.new("RGB", (width, LABEL_HEIGHT + CROP_HEIGHT), "white")
    ImageDraw.Draw(row).text((4, 4), label if images else f"{label}: no image of this class", fill="black")
    for k, image_path in enumerate(images):
        row.paste(Image.fromarray(_crop(image_path, rng)), (k * (CROP_WIDTH + GAP), LABEL_HEIGHT))
    return row


def write_crop_sheet(
    real_pairs: Sequence[tuple[Path, Path]],
    synthetic_pairs: Sequence[tuple[Path, Path]],
    *,
    out: Path,
    per_row: int = 3,
    seed: int = 0,
) -> Path:
    """Write the side-by-side sheet as a JPEG (atomically) and return its path.

    Args:
        real_pairs: (image, mask) pairs of the real side, from ``realism.find_pairs``.
        synthetic_pairs: The same for the synthetic side.
        out: The JPEG to write; its folder is created.
        per_row: Crops per row, each from another image of that class and side.
        seed: Seed of the crop positions.

    Raises:
        UsageError: ``per_row`` is below 1.
    """
    if per_row < 1:
        raise UsageError(f"per_row must be at least 1, got {per_row}")
    rng = np.random.default_rng(seed)
    sides = {"real": real_pairs, "synthetic": synthetic_pairs}
    rows = [
        _row(_of_class(sides[side], klass, per_row), f"{side} {CLASS_NAMES[klass]}", per_row=per_row, rng=rng)
        for side, klass in ROWS
    ]
    sheet = Image.new("RGB", (rows[0].width, sum(row.height + GAP for row in rows) - GAP), "white")
    for k, row in enumerate(rows):
        sheet.paste(row, (0, k * (row.height + GAP)))
    buffer = io.BytesIO()
    sheet.save(buffer, format="JPEG", quality=88)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, buffer.getvalue())
    return out
