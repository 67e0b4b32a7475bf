"""Hugging Face Parquet shards: ``data/<config>/<split>-NNNNN-of-NNNNN.parquet`` with embedded PNG bytes.

The Arrow schema comes from ``datasets.Features`` (so it carries the ``huggingface`` metadata that
``load_dataset`` reads); rows are written in small row groups so readers can stream and seek. The shard
count is known only at the end, so shards are written under temporary names and renamed then.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from rbc_dataset.fileio import sha256_file
from rbc_dataset.shards.hdf5_shards import content_hash
from rbc_dataset.shards.samples import Sample

ROW_GROUP = 64  # samples per row group: small enough to stream, large enough to read fast
ROW_GROUP_BYTES = 16 << 20  # ... and at most this many PNG bytes buffered per writer (nine writers are open at once)


def hf_features(
    class_names: tuple[str, ...], severity_names: tuple[str, ...], *, cbc_tests: tuple[str, ...], masks: bool
):
    """The ``datasets.Features`` of every config (docs/SHARDS.md)."""
    from datasets import ClassLabel, Features, Image, Value

    columns = {"image": Image()}
    if masks:
        columns["mask"] = Image()
    columns.update(
        {
            "label": ClassLabel(names=list(class_names)),
            "severity": ClassLabel(names=list(severity_names)),
            "sample_id": Value("string"),
            "parent_id": Value("string"),
            "group_id": Value("string"),
            "fold": Value("int64"),
            "source": Value("string"),
            "tile_index": Value("int64"),
        }
    )
    columns.update({f"cbc_{t}": Value("float64") for t in cbc_tests})
    return Features(columns)


def _row(sample: Sample, cbc_tests: tuple[str, ...], masks: bool) -> dict:
    fields = sample.fields
    row = {"image": {"bytes": sample.image_png, "path": f"{sample.sample_id}.png"}}
    if masks:
        row["mask"] = {"bytes": sample.mask_png, "path": f"{sample.sample_id}_mask.png"}
    row.update(
        {
            "label": fields["label"],
            "severity": fields["severity"],
            "sample_id": sample.sample_id,
            "parent_id": sample.parent_id,
            "group_id": fields["group_id"],
            "fold": fields["fold"],
            "source": fields["source"],
            "tile_index": sample.tile_index,
        }
    )
    row.update({f"cbc_{t}": fields.get(f"cbc_{t}") for t in cbc_tests})  # None (null) when missing
    return row


class ParquetSplitWriter:
    """Write the samples of one config and split into size-capped Parquet shards."""

    def __init__(self, folder: Path, split: str, *, features, cbc_tests: tuple[str, ...], shard_bytes: int) -> None:
        self.folder, self.split, self.features = Path(folder), split, features
        self.schema = features.arrow_schema
        self.masks = "mask" in features
        self.cbc_tests, self.shard_bytes = cbc_tests, shard_bytes
        self.folder.mkdir(parents=True, exist_ok=True)
        self.shards: list[dict] = []  # finished shards (temporary paths)
        self.writer: pq.ParquetWriter | None = None
        self.rows: list[dict] = []
        self.hashes: list[str] = []
        self.all_hashes: list[str] = []
        self.bytes_in_shard = 0
        self.buffered = 0

    def add(self, sample: Sample) -> None:
        self.rows.append(_row(sample, self.cbc_tests, self.masks))
        self.hashes.append(sample.sha256)
        self.all_hashes.append(sample.sha256)
        size = len(sample.image_png) + len(sample.mask_png or b"")
        self.bytes_in_shard += size
        self.buffered += size
        if len(self.rows) >= ROW_GROUP or self.buffered >= ROW_GROUP_BYTES:
            self._flush()
        if self.bytes_in_shard >= self.shard_bytes:
            self._finish_shard()

    def _flush(self) -> None:
        if not self.rows:
            return
        if self.writer is None:
            path = self.folder / f".{self.split}-{len(self.shards):05d}.partial"
            self.writer = pq.ParquetWriter(path, self.schema, compression="zstd")
            self.shards.append({"tmp": path, "num_examples": 0, "num_bytes": 0, "hashes": []})
        table = pa.Table.from_pylist(self.rows, schema=self.schema)
        self.writer.write_table(table, row_group_size=ROW_GROUP)
        shard = self.shards[-1]
        shard["num_examples"] += table.num_rows
        shard["num_bytes"] += table.nbytes
        shard["hashes"] += self.hashes
        self.rows, self.hashes, self.buffered = [], [], 0

    def _finish_shard(self) -> None:
        self._flush()
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        self.bytes_in_shard = 0

    def close(self) -> list[dict]:
        """Finish the last shard, give every shard its final name, and return their ``dataset.json`` entries."""
        self._finish_shard()
        if not self.shards:  # an empty split still gets one (empty) shard so the declared split loads
            pq.write_table(self.schema.empty_table(), self.folder / f".{self.split}-00000.partial")
            self.shards.append(
                {"tmp": self.folder / f".{self.split}-00000.partial", "num_examples": 0, "num_bytes": 0, "hashes": []}
            )
        entries, total = [], len(self.shards)
        for k, shard in enumerate(self.shards):
            final = self.folder / f"{self.split}-{k:05d}-of-{total:05d}.parquet"
            shard["tmp"].rename(final)
            entries.append(
                {
                    "path": final.as_posix(),
                    "num_examples": shard["num_examples"],
                    "num_bytes": shard["num_bytes"],
                    "sha256": sha256_file(final),
                    "content_sha256": content_hash(shard["hashes"]),
                }
            )
        return entries

    @property
    def content_sha256(self) -> str:
        """Content hash of the whole split (equal to the HDF5 shard's for the same samples)."""
        return content_hash(self.all_hashes)

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
