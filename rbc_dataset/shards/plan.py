"""From manifest rows to shard work: which configs apply, class names, and one task per parent image."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from rbc_dataset.errors import DataError
from rbc_dataset.manifest import absolute_path, parent_keys
from rbc_dataset.reports import CBC_TESTS
from rbc_dataset.shards.config import CONFIG_NAMES, BuildConfig
from rbc_dataset.shards.samples import ParentTask, SourceImage
from rbc_dataset.shards.splits import SplitPlan
from rbc_dataset.shards.tiling import TileGrid

SEVERITY_NAMES = ("mild", "chronic")


@dataclass(frozen=True)
class Inputs:
    """The usable input rows, split into parents' own rows and input tiles, with canonical masks attached."""

    rows: pd.DataFrame  # every usable row, with column parent_key and canonical_mask (absolute path or None)
    excluded: pd.DataFrame  # sample_id, reason: rows left out (no canonical mask, their parent left out)
    has_masks: bool


UNLABELLED_REASON = "no class label (unlabelled: map its class with `rbc-dataset ingest --class-map`)"


def attach_masks(rows: pd.DataFrame, canonical: dict[str, str], *, skipped: dict[str, str]) -> Inputs:
    """Attach each row's canonical mask; without one (while the dataset has masks) the row's parent is left out.

    Unlabelled rows (null label: no class folder, or a folder such as ``Dataset/``) are left out too, with the
    reason recorded: a shard holds a class for every sample and must never write them as class 0.
    """
    rows = rows.assign(parent_key=parent_keys(rows)).reset_index(drop=True)
    has_masks = bool(rows["mask_path"].notna().any())
    rows = rows.assign(canonical_mask=rows["sample_id"].map(canonical))
    unlabelled = rows["label"].isna()
    lacking = rows["canonical_mask"].isna() if has_masks else pd.Series(False, index=rows.index)
    reasons = rows.loc[lacking, "sample_id"].map(lambda s: skipped.get(s, "no usable mask"))
    bad_parents = set(rows.loc[(lacking | unlabelled) & rows["tile_index"].isna(), "parent_key"])
    dropped = lacking | unlabelled | rows["parent_key"].isin(bad_parents)
    why = pd.Series("its parent image was left out", index=rows.index)
    why[lacking] = reasons
    why[unlabelled] = UNLABELLED_REASON
    excluded = pd.DataFrame({"sample_id": rows.loc[dropped, "sample_id"], "reason": why[dropped]})
    return Inputs(rows[~dropped].reset_index(drop=True), excluded.reset_index(drop=True), has_masks)


def class_names(rows: pd.DataFrame, source: str) -> tuple[str, ...]:
    """Class names by label index; labels must be 0..K-1."""
    labelled = rows.dropna(subset=["label"])
    if labelled.empty:
        raise DataError(
            source,
            "labelled samples (class healthy = 0 or anaemic = 1)",
            "no sample with a class (unlabelled samples are left out of a build)",
            "put the images in class folders named healthy/anaemic, or map their class names with "
            "`rbc-dataset ingest ROOT --class-map NAME=healthy,OTHER=anaemic --out m.parquet` and build m.parquet",
        )
    names = labelled.groupby("label")["class_name"].agg(lambda s: s.mode().iloc[0])
    if list(names.index) != list(range(len(names))):
        found = ", ".join(f"{k}: {v}" for k, v in names.items())
        raise DataError(source, "labels 0..K-1", found, "re-ingest (ingest numbers classes 0..K-1)")
    return tuple(str(v) for v in names)


def full_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Parents' own rows (full images)."""
    return rows[rows["tile_index"].isna()]


def config_reasons(inputs: Inputs, grid: TileGrid) -> dict[str, str | None]:
    """Why each config cannot be made from the input (None: it can)."""
    rows = inputs.rows
    fulls = full_rows(rows)
    parents = set(rows["parent_key"])
    without_full = parents - set(fulls["parent_key"])
    wrong_size = fulls[(fulls["width"] != grid.parent_size[0]) | (fulls["height"] != grid.parent_size[1])]
    reasons = {
        "full": None if not without_full else f"{len(without_full)} parents have only tiles, e.g. {min(without_full)}",
        "tiles": None
        if wrong_size.empty
        else f"{len(wrong_size)} images are not {grid.parent_size[0]}x{grid.parent_size[1]}, e.g. "
        f"{absolute_path(wrong_size.iloc[0], 'image')} is {wrong_size.iloc[0]['width']}x{wrong_size.iloc[0]['height']}",
    }
    reasons["model"] = reasons["tiles"] and reasons["full"]
    return reasons


def model_from_tiles(inputs: Inputs, grid: TileGrid) -> bool:
    """Model inputs are the grid tiles resized whenever the grid applies, whether or not ``tiles`` is written."""
    return config_reasons(inputs, grid)["tiles"] is None


def applicable_configs(inputs: Inputs, config: BuildConfig, *, grid: TileGrid) -> tuple[str, ...]:
    """The requested configs (or all that apply); a requested config that cannot be made is an error."""
    rows = inputs.rows
    reasons = config_reasons(inputs, grid)
    if not config.configs:
        chosen = tuple(name for name in CONFIG_NAMES if not reasons[name])
        if not chosen:
            raise DataError(Path(str(rows["root"].iloc[0])), "images for some config", reasons["full"], "")
        return chosen
    for name in config.configs:
        if reasons[name]:
            raise DataError(
                Path(str(rows["root"].iloc[0])),
                f"input that makes the '{name}' config",
                reasons[name],
                f"leave '{name}' out of --data-configs (without it, the configs that apply are chosen), or give a "
                "tile grid that fits the images (tile_cols, tile_rows, tile_width, tile_height in --config FILE.yaml)",
            )
    return tuple(name for name in CONFIG_NAMES if name in config.configs)


def _source(row, reuse_png: bool) -> SourceImage:
    mask = row["canonical_mask"]
    tile = row["tile_index"]
    return SourceImage(
        str(row["sample_id"]),
        str(absolute_path(row, "image")),
        mask_path=None if mask is None or (isinstance(mask, float) and math.isnan(mask)) else str(mask),
        reuse_png=reuse_png and row["image_format"] == "png" and row["image_mode"] == "RGB",
        tile_index=None if pd.isna(tile) else int(tile),
    )


def _value(value):
    return None if value is None or pd.isna(value) else value


def _fields(row, split_row, severity_known: bool) -> dict:
    severity = row["severity"] if severity_known else None
    return {
        "label": int(row["label"]),
        "severity": SEVERITY_NAMES.index(severity) if severity in SEVERITY_NAMES else -1,
        "group_id": str(split_row["group_id"]),
        "fold": int(split_row["fold"]),
        "split": str(split_row["split"]),
        "source": str(row["source"]),
        **{f"cbc_{t}": _value(row[f"cbc_{t}"]) for t in CBC_TESTS},
    }


def parent_tasks(inputs: Inputs, plan: SplitPlan) -> list[ParentTask]:
    """One task per parent image, in parent id order (the order of samples in every shard)."""
    rows = inputs.rows.sort_values(["parent_key", "tile_index", "sample_id"], na_position="first")
    split_rows = plan.units.set_index("parent_id")
    tasks = []
    for parent, members in rows.groupby("parent_key", sort=True):
        own = members[members["tile_index"].isna()]
        tiles = members[members["tile_index"].notna()]
        first = own.iloc[0] if not own.empty else tiles.iloc[0]
        number = None if pd.isna(first["number"]) else int(first["number"])
        anerbc = str(first["source"]).startswith("AneRBC") and number is not None
        tasks.append(
            ParentTask(
                str(parent),
                _source(own.iloc[0], True) if not own.empty else None,
                tiles=tuple(_source(t, False) for _, t in tiles.iterrows()) if own.empty else (),
                fields=_fields(first, split_rows.loc[parent], severity_known=True),
                kind_class_number=(str(first["class_name"]), number) if anerbc else None,
            )
        )
    return tasks


def expected_counts(
    tasks: list[ParentTask], configs: tuple[str, ...], *, grid: TileGrid, tiled_model: bool
) -> dict[tuple[str, str], int]:
    """Samples per (config, split), known before any image is decoded (HDF5 files are preallocated)."""
    counts: dict[tuple[str, str], int] = {}
    per_tile_config = grid.cols * grid.rows
    for task in tasks:
        split = task.fields["split"]
        n_tiles = per_tile_config if task.full is not None else len(task.tiles)
        for name in configs:
            n = 1 if name == "full" or (name == "model" and not tiled_model) else n_tiles
            counts[(name, split)] = counts.get((name, split), 0) + n
    return counts


def sample_size(config: str, grid: TileGrid, *, model_size: int, fulls: pd.DataFrame) -> tuple[int, int]:
    """(width, height) of a config's images; full images keep the input size (must be one size for HDF5)."""
    if config == "tiles":
        return grid.width, grid.height
    if config == "model":
        return model_size, model_size
    sizes = fulls[["width", "height"]].drop_duplicates()
    return int(sizes.iloc[0]["width"]), int(sizes.iloc[0]["height"])
