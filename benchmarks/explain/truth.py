"""Which pixels of a test tile are abnormal cells, from the synthetic generator's truth (``rbc-dataset synth``).

The generator keeps, beside the release layout, ``synthetic_truth/<AneRBC-I|II>/<class>/instances/<stem>.png``
(16-bit map: pixel = cell id, 0 = background) and ``cells/<stem>.csv`` (one row per cell: ``cell_id``, ``type``,
...); the build's manifest names both files per sample (``instances_path``, ``cells_path``). A ``model`` sample is
a tile of its parent cut with the build's grid (``dataset.json`` ``tile_grid``) and resized to the stored size, so
its truth is the parent's instance map cut and resized the same way (nearest neighbour, as the build resizes
masks); without the parent, the tile's own truth files. The result is checked against the tile's canonical mask
from the shard: truth that does not line up (IoU below ``MIN_ALIGNMENT``) is left out, with the reason.

Abnormal = every cell whose synthetic type is not ``normocyte``, the generator's normal discocyte
(``rbc_dataset.synth.cells.CELL_TYPES``: microcyte, macrocyte, elliptocyte, target, teardrop, schistocyte and
hypochromic are abnormal). Platelets, white-cell nuclei and stain precipitate are no cell of the table: background.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from rbc_dataset.errors import DataError
from rbc_dataset.fileio import read_image
from rbc_dataset.layout import tile_box
from rbc_dataset.manifest import absolute_path

NORMAL_TYPE = "normocyte"  # rbc_dataset.synth.cells.CELL_TYPES[0]; a test keeps them equal
MIN_ALIGNMENT = 0.5  # IoU of the truth's cells with the shard's canonical mask below which the truth is not used
TILE_SUFFIX = re.compile(r"_(\d{2})$")


@dataclass
class TileTruth:
    """Per test tile: (abnormal, cells) boolean masks at the stored size, or why there are none."""

    masks: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # sample id -> why its truth is not used
    reason: str | None = None  # why no tile has truth (real data, source not found), None when some have


def _rows_with_truth(view) -> tuple[pd.DataFrame | None, str | None]:
    try:
        manifest = view.manifest
    except DataError as error:
        return None, f"the build's source folder is not available ({error})"
    has = manifest.get("instances_path", pd.Series(dtype=object)).notna()
    has &= manifest.get("cells_path", pd.Series(dtype=object)).notna()
    if not has.any():
        return (
            None,
            "the build's source has no synthetic truth (no instances_path/cells_path: real data has no cell types)",
        )
    return manifest[has].set_index("sample_id"), None


def tile_truth(view, tiles: dict[str, tuple[np.ndarray, np.ndarray | None]]) -> TileTruth:
    """Abnormal-cell and cell masks of the ``tiles`` of ``view`` (a test SplitView), at their stored size.

    Args:
        view: the split the tiles come from (its manifest leads back to the source's truth files).
        tiles: sample id -> (stored image, the shard's canonical 0/1 mask or None); the truth is resized to the
            image and must line up with the mask.
    """
    rows, reason = _rows_with_truth(view)
    result = TileTruth(reason=reason)
    if rows is None:
        return result
    from rbc_dataset.dataset_card import read_card

    grid = read_card(view.built_dir).tile_grid
    parents = view.table.set_index("sample_id")["parent_id"]
    for sample_id, (image, mask) in tiles.items():
        try:
            instances, cells = _instances(rows, sample_id, parent=str(parents[sample_id]), grid=grid)
        except (DataError, KeyError, ValueError, pd.errors.ParserError) as error:
            result.skipped[sample_id] = f"truth unreadable ({error})"
            continue
        if instances is None:
            result.skipped[sample_id] = "no truth files for this tile or its parent in the manifest"
            continue
        truth, why = _abnormal(instances, cells, shape=image.shape[:2], mask=mask)
        if truth is None:
            result.skipped[sample_id] = why
        else:
            result.masks[sample_id] = truth
    if not result.masks:
        result.reason = "no test tile's truth could be used: " + "; ".join(sorted(set(result.skipped.values()))[:3])
    return result


def _instances(rows: pd.DataFrame, sample_id: str, *, parent: str, grid) -> tuple[np.ndarray | None, pd.DataFrame]:
    """The instance map of the tile (cut from its parent's when there is one) and the cell table it refers to."""
    if parent in rows.index and sample_id != parent:
        match = TILE_SUFFIX.search(sample_id)
        index = int(rows.loc[sample_id, "tile_index"]) if sample_id in rows.index else int(match[1]) if match else None
        if index is not None:
            box = tile_box(
                index, order=grid.order, cols=grid.cols, rows=grid.rows, width=grid.width, height=grid.height
            )
            row = rows.loc[parent]
            full = read_image(absolute_path(row, "instances"))
            crop = full[box.y : box.y + box.height, box.x : box.x + box.width]
            return crop, _cells(absolute_path(row, "cells"))
    if sample_id in rows.index:
        row = rows.loc[sample_id]
        return read_image(absolute_path(row, "instances")), _cells(absolute_path(row, "cells"))
    return None, pd.DataFrame()


def _cells(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, usecols=["cell_id", "type"])


def _abnormal(instances: np.ndarray, cells: pd.DataFrame, *, shape: tuple[int, int], mask: np.ndarray | None):
    """((abnormal, cells) at ``shape``, None) or (None, why the truth is not used)."""
    if instances.ndim != 2:
        return None, f"an instance map of shape {instances.shape} (expected one channel)"
    if instances.shape != tuple(shape):
        instances = cv2.resize(instances, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    abnormal_ids = cells.loc[cells["type"].astype(str) != NORMAL_TYPE, "cell_id"].to_numpy()
    abnormal = np.isin(instances, abnormal_ids) & (instances > 0)
    cell_pixels = instances > 0
    if mask is not None:
        shard = mask > 0
        union = np.logical_or(cell_pixels, shard).sum()
        iou = np.logical_and(cell_pixels, shard).sum() / union if union else 1.0
        if iou < MIN_ALIGNMENT:
            return None, f"truth does not line up with the tile's mask (IoU {iou:.2f} < {MIN_ALIGNMENT})"
    return (abnormal, cell_pixels), None
