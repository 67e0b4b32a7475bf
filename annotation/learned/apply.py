"""``annotate propose --model`` and ``annotate instances --model``: a fitted cell model over a folder of images.

The per-image workers run in this process, one image after another (torch uses the cores itself), through the same
folder runner as the training-free path (``annotation.folder_runner``), and return the same result types. Besides
the mask and the overlay, ``propose`` writes each image's uncertainty map (``uncertainty/<stem>.png``, 0 = sure,
255 = p 0.5) and ``ranking.csv``: the images from the least certain, the order a person should correct them in.
The training-free modules never import this one (``annotation.learned`` builds on ``annotation.propose``).
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
    from annotation.images import load_rgb, read_cell_mask
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


def propose_with_model(
    source: Path, out: Path, *, model: str | Path, overwrite: bool = False, show_progress: bool = True
):
    """``annotation.propose.propose_folder`` with a fitted model proposing: the same files, plus
    ``uncertainty/<stem>.png`` and ``ranking.csv`` (least certain first).

    Raises:
        DataError: no images, an unreadable image, or ``model`` not a model folder (nothing is written then).
        UsageError: ``out`` exists without ``overwrite``, or overlaps the input.
    """
    import time

    from annotation.folder_runner import run_per_image
    from annotation.images import list_images
    from annotation.propose import ProposeResult

    start, model = time.perf_counter(), str(Path(model).resolve())
    items = list_images(source)
    per_image = run_per_image(
        propose_one,
        [(item, model) for item in items],
        source=Path(source),
        out=out,
        overwrite=overwrite,
        workers=1,
        show_progress=show_progress,
        description="proposing",
        sidecar=("propose_config.json", {"model": model_summary(model)}),
        finish=lambda tmp, results: ranking(results).to_csv(tmp / "ranking.csv", index=False),
    )
    blobs = float(np.mean([p["blobs"] for p in per_image]))
    return ProposeResult(
        Path(out), len(items), mean_blobs=blobs, seconds=time.perf_counter() - start, per_image=tuple(per_image)
    )


def instances_with_model(
    source: Path,
    out: Path,
    *,
    model: str | Path,
    masks: Path | None = None,
    overwrite: bool = False,
    show_progress: bool = True,
):
    """``annotation.instances.instances_folder`` with the model's centre map seeding one instance per cell and a
    watershed growing them over its cell mask (or over ``masks``, a folder of ``<stem>.png``).

    Raises:
        DataError: no images, an unreadable image, a missing or mis-sized mask, ``model`` not a model folder.
        UsageError: ``out`` exists without ``overwrite``, or overlaps the input.
    """
    import time

    from annotation.folder_runner import run_per_image
    from annotation.images import list_images
    from annotation.instances import InstancesResult, check_masks_exist

    start, model = time.perf_counter(), str(Path(model).resolve())
    items = list_images(source)
    if masks is not None:
        check_masks_exist(Path(masks), items)
    tasks = [(item, model, None if masks is None else Path(masks) / f"{item.stem}.png") for item in items]
    per_image = run_per_image(
        instances_one,
        tasks,
        source=Path(source),
        out=out,
        overwrite=overwrite,
        workers=1,
        show_progress=show_progress,
        description="instances",
        sidecar=(
            "instances_config.json",
            {"model": model_summary(model), "masks": None if masks is None else str(masks)},
        ),
    )
    cells = float(np.mean([p["cells"] for p in per_image]))
    return InstancesResult(
        Path(out), len(items), mean_cells=cells, seconds=time.perf_counter() - start, per_image=tuple(per_image)
    )
