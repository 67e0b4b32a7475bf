"""One split of a ``rbc-dataset build`` folder as the benchmark sees it: a sample table plus pixel access.

The table (ids, groups, labels, severity, folds, CBC values) comes without reading pixels, so feature baselines,
the bootstrap and the protocol can work on it directly; pixels are read in table order through the same
loaders users get (``HDF5RBCDataset`` / ``HFRBCDataset``).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from rbc_dataset.errors import DataError, UsageError, check_choice

FORMATS = ("hdf5", "parquet")
SPLITS = ("train", "validation", "test")
BUILD_FIX = "run `rbc-dataset build ROOT --out DIR` and pass --data DIR"
TABLE_COLUMNS = ("sample_id", "parent_id", "group_id", "label", "severity", "fold")


def check_built_dir(built_dir: str | Path) -> Path:
    """``built_dir`` as a Path if it holds a build (dataset.json).

    Cheap (no torch), so commands call it before anything heavy loads.

    Raises:
        UsageError: nothing at that path (a mistyped argument, exit 2).
        DataError: a file, or a folder without dataset.json.
    """
    built_dir = Path(built_dir)
    if not built_dir.exists():
        raise UsageError(
            f"{built_dir}: no such folder; expected a dataset folder written by `rbc-dataset build`. Fix: {BUILD_FIX}"
        )
    if not built_dir.is_dir():
        raise DataError(built_dir, "a dataset folder written by `rbc-dataset build`", "a file", BUILD_FIX)
    if not (built_dir / "dataset.json").is_file():
        found = f"a folder without dataset.json (holds: {', '.join(sorted(p.name for p in built_dir.iterdir())[:8])})"
        raise DataError(built_dir, "a dataset folder written by `rbc-dataset build`", found, BUILD_FIX)
    return built_dir


def _hdf5_table(path: Path) -> tuple[pd.DataFrame, dict]:
    import h5py

    with h5py.File(path, "r") as f:
        table = pd.DataFrame({name: f[name].asstr()[()] for name in ("sample_id", "parent_id", "group_id")})
        for name in ("label", "severity", "fold"):
            table[name] = f[name][()].astype(np.int64)
        if "cbc" in f:
            columns = json.loads(f["cbc"].attrs["columns"])
            values = f["cbc"][()].astype(np.float64)
            for k, name in enumerate(columns):
                table[f"cbc_{name}"] = values[:, k]
        info = {
            "class_names": json.loads(f.attrs["class_names"]),
            "has_masks": "mask" in f,
            "image_size": tuple(int(v) for v in f["image"].shape[1:3]),
        }
    return table, info


def _parquet_table(files: list[Path]) -> tuple[pd.DataFrame, dict]:
    import pyarrow.parquet as pq

    schema = pq.read_schema(files[0])
    keep = [name for name in schema.names if name in TABLE_COLUMNS or name.startswith("cbc_")]
    table = pd.concat([pq.read_table(path, columns=keep).to_pandas() for path in files], ignore_index=True)
    for name in ("label", "severity", "fold"):
        table[name] = table[name].astype(np.int64)
    features = json.loads(schema.metadata[b"huggingface"])["info"]["features"]
    info = {"class_names": list(features["label"]["names"]), "has_masks": "mask" in schema.names}
    return table, info


@dataclass
class SplitView:
    """One config and split of a build: ``table`` in sample order, pixels through ``dataset`` / ``iter_samples``."""

    built_dir: Path  # the build output folder
    config: str  # full, tiles or model
    split: str  # train, validation or test
    fmt: str  # hdf5 or parquet: which shards pixels are read from
    table: pd.DataFrame  # TABLE_COLUMNS + cbc_<TEST> (float, NaN when missing), one row per sample, shard order
    class_names: list[str]  # label names, index = label
    has_masks: bool  # the shards carry the canonical masks
    _manifest: pd.DataFrame | None = field(default=None, repr=False)
    _hf_cache: tempfile.TemporaryDirectory | None = field(default=None, repr=False)  # Arrow copy of Parquet shards

    def __len__(self) -> int:
        return len(self.table)

    @property
    def cbc_columns(self) -> list[str]:
        """The ``cbc_<TEST>`` columns of the table."""
        return [name for name in self.table.columns if name.startswith("cbc_")]

    @property
    def manifest(self) -> pd.DataFrame:
        """The source manifest the build read (``root`` + ``mask_path`` lead to the raw release masks).

        The build names its source folder by name only; it is looked for beside the build and in the working
        folder, and accepted only when its files match the manifest's checksums (``rbc_dataset.manifest``).
        """
        if self._manifest is None:
            from rbc_dataset.manifest import locate_root

            path = self.built_dir / "manifest.parquet"
            if not path.is_file():
                raise DataError(path, "the source manifest copied by `rbc-dataset build`", "no such file", BUILD_FIX)
            self._manifest = locate_root(pd.read_parquet(path), path, candidates=[self.built_dir.parent, Path.cwd()])
        return self._manifest

    def dataset(self, with_mask: bool | None = None, *, transform=None, cache_dir: Path | None = None):
        """A torch Dataset over the split's shards (same sample dicts for both formats)."""
        if self.fmt == "hdf5":
            from rbc_dataset.loaders import HDF5RBCDataset

            return HDF5RBCDataset.from_build(
                self.built_dir, config=self.config, split=self.split, with_mask=with_mask, transform=transform
            )
        from rbc_dataset.loaders import HFRBCDataset

        if cache_dir is None:  # never the user's ~/.cache: a temporary folder that goes with this view
            if self._hf_cache is None:
                self._hf_cache = tempfile.TemporaryDirectory(prefix="rbc-bench-hf-")
            cache_dir = Path(self._hf_cache.name)
        return HFRBCDataset(
            self.built_dir,
            config=self.config,
            split=self.split,
            with_mask=with_mask,
            transform=transform,
            cache_dir=cache_dir,
        )

    def iter_samples(self, with_mask: bool | None = None) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """(image (H, W, 3) RGB uint8, mask (H, W) 0/1 uint8 or None) per sample, in table order."""
        dataset = self.dataset(with_mask=with_mask)
        for index in range(len(dataset)):
            sample = dataset[index]
            image = sample["image"].numpy().transpose(1, 2, 0)
            mask = sample["mask"].numpy()[0] if "mask" in sample else None
            yield image, mask


def open_split(built_dir: str | Path, *, split: str, config: str = "model", fmt: str = "hdf5") -> SplitView:
    """The ``config``/``split`` of a build, read from its ``fmt`` shards (a DataError naming the fix if absent)."""
    built_dir = check_built_dir(built_dir)
    check_choice("format", fmt, choices=FORMATS)
    check_choice("split", split, choices=SPLITS)
    if fmt == "hdf5":
        root = built_dir / "hdf5"
        configs = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        check_choice("dataset config", config, choices=configs or ["(none: the build has no HDF5 shards)"])
        path = root / config / f"{split}.h5"
        if not path.is_file():
            raise DataError(path, f"the {split} shard of config {config!r}", "no such file", BUILD_FIX)
        table, info = _hdf5_table(path)
    else:
        files = sorted((built_dir / "data" / config).glob(f"{split}-*.parquet"))
        if not files:
            raise DataError(built_dir / "data" / config, f"Parquet shards {split}-*.parquet", "none", BUILD_FIX)
        table, info = _parquet_table(files)
    return SplitView(
        built_dir,
        config,
        split=split,
        fmt=fmt,
        table=table,
        class_names=info["class_names"],
        has_masks=info["has_masks"],
    )
