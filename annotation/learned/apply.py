"""Per-image workers of ``annotate propose --model`` and ``annotate instances --model``.

They run in this process, one image after another (torch uses the cores itself), through the same folder
runner as the training-free path (``annotation.folder_runner``). Besides the mask or instance map and the overlay,
``propose`` writes each image's uncertainty map (``uncertainty/<stem>.png``, 0 = sure, 255 = p 0.5) and its
uncertainty score, from which the caller writes ``ranking.csv``: the images a person should correct first.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from annotation.learned.infer import decode_instances, predict_maps
from annotation.learned.model_folder import CellModel, load_model

RANKING_COLUMNS = ("rank", "stem", "uncertainty", "cell_fraction", "image")


def cached_model(path: str) -> CellModel:
    """One loaded model per folder for all images of a run (workers run in this process); a folder fitted again
    since (its weights file changed) is read again."""
    weights = Path(path) / "weights.pt"
    stamp = weights.stat().st_mtime_ns if weights.is_file() else 0
    return _load(path, stamp)


@functools.lru_cache(maxsize=2)
def _load(path: str, stamp: int) -> CellModel:
    return load_model(path)


def propose_one(task: tuple) -> dict:
    """Worker: the model's cell mask, its overlay and its uncertainty map for one image."""
    from annotation.folder_runner import write_image_outputs
    from annotation.images import load_rgb
    from annotation.propose import overlay_contours
    from rbc_dataset.fileio import encode_png
    from rbc_dataset.masks import canonical_mask

    tmp, item, model_dir = task
    image = load_rgb(item)
    maps = predict_maps(cached_model(model_dir), image)
    cells = maps.mask()
    write_image_outputs(tmp, item.stem, result=canonical_mask(cells), overlay=overlay_contours(image, cells))
    uncertainty = np.round(maps.uncertainty_map() * 255).astype(np.uint8)
    (tmp / "uncertainty").mkdir(exist_ok=True)
    (tmp / "uncertainty" / f"{item.stem}.png").write_bytes(encode_png(uncertainty))
    return {
        "stem": item.stem,
        "image": str(item.path),
        "cell_fraction": float(cells.mean()),
        "blobs": int(ndi.label(cells)[1]),
        "uncertainty": maps.uncertainty(),
    }


def instances_one(task: tuple) -> dict:
    """Worker: instances from the model's centre map, grown over its cell mask (or over a given mask)."""
    from annotation.folder_runner import write_image_outputs
    from annotation.images import load_rgb
    from annotation.instances import read_cell_mask
    from annotation.learned.infer import CellMaps
    from annotation.propose import overlay_contours

    tmp, item, model_dir, mask_path = task
    image = load_rgb(item)
    maps = predict_maps(cached_model(model_dir), image)
    if mask_path is not None:  # a person's mask decides what is a cell; the model only separates the cells
        maps = CellMaps(cell=read_cell_mask(mask_path, image.shape[:2]).astype(np.float32), centre=maps.centre)
    labels = decode_instances(maps)
    write_image_outputs(tmp, item.stem, result=labels.astype(np.uint16), overlay=overlay_contours(image, labels))
    return {
        "stem": item.stem,
        "image": str(item.path),
        "mask": None if mask_path is None else str(mask_path),
        "cells": int(labels.max()),
    }


def ranking(per_image: list[dict]) -> pd.DataFrame:
    """Images from the least certain to the most certain (ties by name): the order to correct them in."""
    table = pd.DataFrame(per_image)
    table = table.sort_values(["uncertainty", "stem"], ascending=[False, True], kind="stable").reset_index(drop=True)
    table["rank"] = np.arange(1, len(table) + 1)
    return table[list(RANKING_COLUMNS)]


def model_summary(model_dir: str | Path) -> dict:
    """What a propose or instances sidecar records about the model used."""
    model = cached_model(str(Path(model_dir).resolve()))
    trained = model.description.get("trained", {})
    return {"path": str(model.path), "format": model.description.get("format"), "source": trained.get("source")}
