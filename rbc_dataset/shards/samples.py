"""The samples of one parent image for every dataset config, made in a worker process.

A parent is decoded once; its full image, its grid tiles and their model-size versions come from that one
decode, with the canonical mask (from ``validate-masks --fix``) cut and resized the same way. Parents
without a full image in the input (AneRBC-II alone) use the input's tiles instead. Only what the requested
formats need travels back to the writer: arrays for HDF5, PNG bytes for Parquet.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import cv2
import numpy as np

from rbc_dataset.errors import DataError
from rbc_dataset.fileio import encode_png, read_image
from rbc_dataset.layout import sample_id as release_sample_id
from rbc_dataset.shards.tiling import TileGrid, cut_tiles


@dataclass(frozen=True)
class SourceImage:
    """One input image with its canonical mask."""

    sample_id: str
    image_path: str
    mask_path: str | None  # canonical mask (cell = 255), None when the dataset has no masks
    reuse_png: bool  # the file is an 8-bit RGB PNG whose bytes can go into Parquet as they are
    tile_index: int | None = None  # input tiles (AneRBC-II without its parent)


@dataclass(frozen=True)
class ParentTask:
    """Everything a worker needs to make the samples of one parent image."""

    parent_id: str
    full: SourceImage | None  # the parent's own image
    tiles: tuple[SourceImage, ...]  # the input's tiles, used only without ``full``
    fields: dict  # label, severity, group_id, fold, cbc values ... shared by all samples of the parent
    kind_class_number: tuple | None  # (class_name, number) of AneRBC parents: tile ids follow the release


@dataclass(frozen=True)
class SampleOptions:
    """What to make: configs, grid, model size, and which representations the formats need."""

    configs: tuple[str, ...]
    grid: TileGrid
    model_size: int
    arrays: bool  # HDF5 needs decoded arrays
    png: bool  # Parquet needs PNG bytes
    has_masks: bool
    tiled_model: bool = True  # model inputs are resized grid tiles (False: resized full images, no grid applies)


@dataclass
class Sample:
    """One sample of one config (arrays and/or PNG bytes, per the options)."""

    config: str
    sample_id: str
    parent_id: str
    tile_index: int | None
    sha256: str  # of the image bytes followed by the mask bytes: the content hash verify recomputes
    image: np.ndarray | None = None
    mask: np.ndarray | None = None  # 0/1
    image_png: bytes | None = None
    mask_png: bytes | None = None  # single-channel PNG of class indices 0/1, as Hugging Face segmentation datasets
    fields: dict = field(default_factory=dict)


def _load_rgb(path: str) -> np.ndarray:
    """8-bit RGB whatever the file holds; a refused file (empty, too many pixels ...) raises a DataError naming it."""
    return read_image(path, flags=cv2.IMREAD_COLOR)


def _load_mask(source: SourceImage, shape: tuple[int, int]) -> np.ndarray | None:
    if source.mask_path is None:
        return None
    cells = read_image(source.mask_path, flags=cv2.IMREAD_GRAYSCALE) > 127
    if cells.shape != shape:
        raise DataError(
            source.mask_path,
            f"a canonical mask of {shape[1]}x{shape[0]} like its image",
            f"{cells.shape[1]}x{cells.shape[0]}",
            "re-run rbc-dataset validate-masks --fix (the mask must belong to this image)",
        )
    return cells.astype(np.uint8)


def pixel_hash(image: np.ndarray, mask: np.ndarray | None) -> str:
    """SHA-256 of the image bytes followed by the mask bytes: the content hash ``verify`` recomputes."""
    digest = hashlib.sha256(np.ascontiguousarray(image).tobytes())
    if mask is not None:
        digest.update(np.ascontiguousarray(mask).tobytes())
    return digest.hexdigest()


def _sample(config, sid, *, task, tile, image, mask, options, source_png=None) -> Sample:
    sample = Sample(
        config, sid, parent_id=task.parent_id, tile_index=tile, sha256=pixel_hash(image, mask), fields=task.fields
    )
    if options.arrays:
        sample.image, sample.mask = image, mask
    if options.png:
        sample.image_png = source_png or encode_png(image)
        sample.mask_png = None if mask is None else encode_png(mask)  # 0/1: what datasets' Image() decodes to
    return sample


def _tile_id(task: ParentTask, index: int) -> str:
    if task.kind_class_number is not None:
        cls, number = task.kind_class_number
        return release_sample_id("II", cls, number=number, tile=index)
    return f"{task.parent_id}_{index:02d}"


def _model(image: np.ndarray, mask: np.ndarray | None, size: int) -> tuple[np.ndarray, np.ndarray | None]:
    resized = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    if mask is None:
        return resized, None
    return resized, cv2.resize(mask, (size, size), interpolation=cv2.INTER_NEAREST)


def _tiles_of(task: ParentTask, image: np.ndarray | None, mask: np.ndarray | None, options: SampleOptions):
    """(tile index, tile image, tile mask) of a parent: cut from its full image, or the input's own tiles."""
    if image is not None:
        path = task.full.image_path
        mask_tiles = cut_tiles(mask, grid=options.grid, path=path) if mask is not None else None
        for k, (box, tile) in enumerate(cut_tiles(image, grid=options.grid, path=path)):
            yield box.index, tile, None if mask_tiles is None else mask_tiles[k][1]
        return
    for source in task.tiles:
        tile = _load_rgb(source.image_path)
        yield source.tile_index, tile, _load_mask(source, tile.shape[:2])


def make_samples(task: ParentTask, options: SampleOptions) -> list[Sample]:
    """All samples of one parent for the requested configs, in config then tile order."""
    samples: list[Sample] = []
    image = mask = None
    if task.full is not None:
        image = _load_rgb(task.full.image_path)
        mask = _load_mask(task.full, image.shape[:2])
        if "full" in options.configs:
            png = None
            if options.png and task.full.reuse_png:
                with open(task.full.image_path, "rb") as handle:
                    png = handle.read()
            samples.append(
                _sample(
                    "full",
                    task.full.sample_id,
                    task=task,
                    tile=None,
                    image=image,
                    mask=mask,
                    options=options,
                    source_png=png,
                )
            )
    if "tiles" not in options.configs and "model" not in options.configs:
        return samples
    if not options.tiled_model:  # model inputs resized from the full image (no grid applies)
        small, small_mask = _model(image, mask, options.model_size)
        return samples + [
            _sample("model", task.full.sample_id, task=task, tile=None, image=small, mask=small_mask, options=options)
        ]
    models = []
    for index, tile, tile_mask in _tiles_of(task, image if task.full is not None else None, mask, options):
        sid = _tile_id(task, index)
        if "tiles" in options.configs:
            samples.append(_sample("tiles", sid, task=task, tile=index, image=tile, mask=tile_mask, options=options))
        if "model" in options.configs:
            small, small_mask = _model(tile, tile_mask, options.model_size)
            models.append(_sample("model", sid, task=task, tile=index, image=small, mask=small_mask, options=options))
    return samples + models


def make_many(tasks: list[ParentTask], options: SampleOptions) -> list[list[Sample]]:
    """``make_samples`` over a chunk of parents (one worker task)."""
    return [make_samples(task, options) for task in tasks]
