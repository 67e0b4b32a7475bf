"""Streaming the Parquet shards of a build as a ``torch.utils.data.IterableDataset`` (no cache, no full load).

A DataLoader runs one copy of an iterable dataset in every worker process, and DDP one per rank; each copy must
read its own part of the stream, or every sample comes once per copy. The stream is cut into units (Parquet row
groups, or single rows when there are fewer row groups than readers) dealt round-robin to the readers
``rank * num_workers + worker_id``: every sample is read by exactly one reader, none is skipped. Rows are read
with pyarrow straight from the files the card declares for the split; ``datasets``' own streaming would split
the files across workers a second time when iterated inside a worker.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from torch.utils.data import IterableDataset, get_worker_info

from rbc_dataset.errors import DataError, UsageError
from rbc_dataset.loaders.hdf5 import Transform, check_with_mask
from rbc_dataset.loaders.hf import BUILD_FIX, COLUMNS, _check_request, _sample, read_card_configs


def _distributed() -> tuple[int, int]:
    """(rank, world size) of an initialised ``torch.distributed`` group, else (0, 1)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _label_names(schema: pa.Schema, column: str) -> list[str]:
    """ClassLabel names of a column from the ``huggingface`` schema metadata (empty when absent)."""
    try:
        features = json.loads((schema.metadata or {})[b"huggingface"])["info"]["features"]
        return list(features[column]["names"])
    except (KeyError, TypeError, ValueError):
        return []


class StreamingRBCDataset(IterableDataset):
    """Samples of one config and split streamed from the Parquet shards, shared out among DataLoader workers.

    Yields the same sample dicts as ``HFRBCDataset`` (``tv_tensors.Image`` / ``Mask``, label, severity, fold,
    ids). With ``DataLoader(dataset, num_workers=k)`` each sample comes exactly once per epoch, whatever ``k``;
    under DDP (an initialised ``torch.distributed`` group, or ``rank``/``world_size`` given) each rank reads its
    own share. Shares can differ by a row group (64 samples), so DDP ranks may see different numbers of batches:
    use ``join`` or drop the last batches when that matters. Order: row groups in file order, per reader.

    Args:
        built_dir: the ``rbc-dataset build`` output folder (README.md card + data/).
        config: dataset config declared in the card (``full``, ``tiles``, ``model``).
        split: a split of that config.
        with_mask: include ``mask``: ``None`` when the shards have masks, ``True`` always, ``False`` never.
        transform: called with each sample dict; returns the dict to yield.
        rank: this process's rank (default: from ``torch.distributed`` when initialised, else 0).
        world_size: number of ranks (default: from ``torch.distributed`` when initialised, else 1).
    """

    def __init__(
        self,
        built_dir: str | Path,
        *,
        config: str = "tiles",
        split: str = "train",
        with_mask: bool | None = None,
        transform: Transform | None = None,
        rank: int | None = None,
        world_size: int | None = None,
    ):
        _check_request(built_dir, config, split)  # names and files checked now, not in a worker
        self.built_dir, self.config, self.split, self.transform = Path(built_dir), config, split, transform
        patterns = read_card_configs(built_dir)[config][split]
        self.files = sorted({path for pattern in patterns for path in self.built_dir.glob(pattern)})
        schema = self._schema(self.files[0])
        self.with_mask = check_with_mask(self.built_dir, with_mask, has_masks="mask" in schema.names)
        self.columns = [c for c in COLUMNS if self.with_mask or c != "mask"]
        self.class_names, self.severity_names = _label_names(schema, "label"), _label_names(schema, "severity")
        self.rank, self.world_size = rank, world_size
        if (rank is None) != (world_size is None) or (world_size is not None and not 0 <= rank < world_size):
            raise UsageError(f"rank and world_size go together, with 0 <= rank < world_size; got {rank}, {world_size}")

    @staticmethod
    def _schema(path: Path) -> pa.Schema:
        try:
            return pq.read_schema(path)
        except (OSError, pa.ArrowInvalid) as error:
            found = f"an error: {error}"
            raise DataError(path, "a Parquet shard written by `rbc-dataset build`", found, BUILD_FIX) from error

    def reader(self) -> tuple[int, int]:
        """(this reader's index, number of readers): ``rank * num_workers + worker id`` of ``world * num_workers``."""
        rank, world = (self.rank, self.world_size) if self.world_size is not None else _distributed()
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        return rank * workers + worker, world * workers

    def _row_groups(self) -> list[tuple[Path, int]]:
        units = []
        for path in self.files:
            try:
                groups = pq.ParquetFile(path).num_row_groups
            except (OSError, pa.ArrowInvalid) as error:
                raise DataError(path, "a readable Parquet shard", f"an error: {error}", BUILD_FIX) from error
            units += [(path, group) for group in range(groups)]
        return units

    def _rows(self, path: Path, group: int) -> list[dict]:
        try:
            return pq.ParquetFile(path).read_row_group(group, columns=self.columns).to_pylist()
        except (OSError, pa.ArrowInvalid) as error:
            raise DataError(path, f"a readable row group {group}", f"an error: {error}", BUILD_FIX) from error

    def __iter__(self) -> Iterator[dict]:
        index, readers = self.reader()
        units = self._row_groups()
        whole_groups = len(units) >= readers  # else deal single rows, so that every reader gets some work
        position = 0  # row number in the whole split (row-wise dealing)
        for unit, (path, group) in enumerate(units):
            if whole_groups and unit % readers != index:
                continue
            for k, row in enumerate(self._rows(path, group)):
                position += 1
                if not whole_groups and (position - 1) % readers != index:
                    continue
                sample = _sample(row, self.with_mask, f"{path} row group {group} row {k}")
                yield self.transform(sample) if self.transform is not None else sample

    def __repr__(self) -> str:
        name, folder = type(self).__name__, str(self.built_dir)
        return f"{name}({folder!r}, {self.config!r}, {self.split!r}, files={len(self.files)})"


def iter_streaming(
    built_dir: str | Path,
    *,
    config: str = "tiles",
    split: str = "train",
    with_mask: bool | None = None,
    transform: Transform | None = None,
) -> StreamingRBCDataset:
    """The samples of one config and split, streamed from the Parquet files (an iterable ``StreamingRBCDataset``).

    Iterate it directly or give it to a ``DataLoader`` with any ``num_workers``. Checks the card at the call,
    so a wrong folder or name fails here rather than at the first sample.
    """
    return StreamingRBCDataset(built_dir, config=config, split=split, with_mask=with_mask, transform=transform)
