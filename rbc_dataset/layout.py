"""The AneRBC on-disk layout: folder names, file names, sample ids and the AneRBC-II tile grid.

One place for these facts so that the synthetic generator writes exactly what the importer reads.
Layout of the public release (see ``../shared/docs/ANERBC.md``)::

    AneRBC_dataset/AneRBC-I/{Anemic,Healthy}_individuals/{Original_images,Binary_segmented,
        RGB_segmented,CBC_reports,Morphology_reports}/NNN_{a,h}.{png,txt}
    AneRBC_dataset/AneRBC-II/... the same five folders, images NNNN_SS_{a,h}.png (SS = tile 01..12)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DATASET_FOLDER = "AneRBC_dataset"
KIND_FOLDERS = {"I": "AneRBC-I", "II": "AneRBC-II"}
CLASS_FOLDERS = {"anemic": "Anemic_individuals", "healthy": "Healthy_individuals"}
CLASS_SUFFIX = {"anemic": "a", "healthy": "h"}
SUFFIX_CLASS = {v: k for k, v in CLASS_SUFFIX.items()}
# Integer labels follow the re-hosted labels.csv of the public sample: 0 = healthy, 1 = anaemic.
CLASS_LABEL = {"healthy": 0, "anemic": 1}

# role -> folder name in the release
ROLE_FOLDERS = {
    "image": "Original_images",
    "mask": "Binary_segmented",
    "rgb_mask": "RGB_segmented",
    "cbc": "CBC_reports",
    "morphology": "Morphology_reports",
}
IMAGE_ROLES = ("image", "mask", "rgb_mask")
REPORT_ROLES = ("cbc", "morphology")

# Sidecar written by the synthetic generator next to AneRBC_dataset (the real release has none of it).
TRUTH_FOLDER = "synthetic_truth"
SYNTH_CONFIG_FILE = "synth_config.yaml"  # in TRUTH_FOLDER: the SynthConfig that drew the folder
TRUTH_ROLE_FOLDERS = {"instances": "instances", "cells": "cells", "meta": "meta"}
TRUTH_EXTENSIONS = {"instances": ".png", "cells": ".csv", "meta": ".json"}

# AneRBC-II: every AneRBC-I image (1224 x 960) cut into 4 columns x 3 rows of 306 x 320 tiles.
FULL_WIDTH, FULL_HEIGHT = 1224, 960
TILE_COLS, TILE_ROWS = 4, 3
TILE_WIDTH, TILE_HEIGHT = 306, 320
TILE_ORDERS = ("row-major", "column-major")


@dataclass(frozen=True)
class TileBox:
    """Where tile ``index`` (1-based, as in the file name) lies in its parent image."""

    index: int
    row: int
    col: int
    x: int
    y: int
    width: int
    height: int


def tile_box(
    index: int,
    *,
    order: str = "row-major",
    cols: int = TILE_COLS,
    rows: int = TILE_ROWS,
    width: int = TILE_WIDTH,
    height: int = TILE_HEIGHT,
) -> TileBox:
    """Box of the 1-based tile ``index`` for a grid read in ``order`` (row-major: left to right first)."""
    k = index - 1
    if order == "row-major":
        row, col = divmod(k, cols)
    else:
        col, row = divmod(k, rows)
    return TileBox(index, row, col=col, x=col * width, y=row * height, width=width, height=height)


def tile_boxes(order: str = "row-major") -> list[TileBox]:
    """All 12 default tile boxes in file-name order."""
    return [tile_box(i, order=order) for i in range(1, TILE_COLS * TILE_ROWS + 1)]


def image_stem(kind: str, cls: str, *, number: int, tile: int | None = None) -> str:
    """File stem as in the release: ``007_a`` (AneRBC-I) or ``0007_05_a`` (AneRBC-II)."""
    suffix = CLASS_SUFFIX[cls]
    if kind == "I":
        return f"{number:03d}_{suffix}"
    return f"{number:04d}_{tile:02d}_{suffix}"


def report_stem(kind: str, cls: str, *, number: int) -> str:
    """Report file stem: per AneRBC-I image, also in AneRBC-II (reports are per parent there)."""
    width = 3 if kind == "I" else 4
    return f"{number:0{width}d}_{CLASS_SUFFIX[cls]}"


def sample_id(kind: str, cls: str, *, number: int, tile: int | None = None) -> str:
    """Stable, readable id: ``anerbc1_a_001`` or ``anerbc2_a_0001_05``."""
    suffix = CLASS_SUFFIX[cls]
    if kind == "I":
        return f"anerbc1_{suffix}_{number:03d}"
    return f"anerbc2_{suffix}_{number:04d}_{tile:02d}"


def role_folder(root: Path, kind: str, *, cls: str, role: str) -> Path:
    """Folder of one role (image, mask, rgb_mask, cbc, morphology) of one class in AneRBC-I or -II."""
    return root / DATASET_FOLDER / KIND_FOLDERS[kind] / CLASS_FOLDERS[cls] / ROLE_FOLDERS[role]


def truth_folder(root: Path, kind: str, *, cls: str, role: str) -> Path:
    """Sidecar folder of one truth role (instances, cells, meta) written by the synthetic generator."""
    return root / TRUTH_FOLDER / KIND_FOLDERS[kind] / CLASS_FOLDERS[cls] / TRUTH_ROLE_FOLDERS[role]
