"""HDF5 shards: one file per config and split, one image per chunk (layout in docs/SHARDS.md).

Chunks of exactly one image make a random read one chunk decode, which is what a shuffling loader does.
Every chunk carries an HDF5 Fletcher-32 checksum (checked by the library on each read) and every sample a
SHA-256 of its pixels (checked by ``rbc-dataset verify``). Times are not recorded in the file so that the
same samples give the same file.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from rbc_dataset import __version__
from rbc_dataset.errors import UsageError
from rbc_dataset.shards.samples import Sample

FORMAT = "rbc-dataset-hdf5"
FORMAT_VERSION = 1
STRING = h5py.string_dtype("utf-8")


@dataclass(frozen=True)
class HDF5Layout:
    """Shape and meta data of one HDF5 shard."""

    config: str
    split: str
    n: int  # samples
    height: int
    width: int
    has_masks: bool
    class_names: tuple[str, ...]
    severity_names: tuple[str, ...]
    cbc_tests: tuple[str, ...]
    provenance: dict  # source manifest hash, build config ... stored as attributes


def codec_options(codec: str, gzip_level: int) -> tuple[dict, str]:
    """h5py dataset keyword arguments of a codec, and its name for the ``codec`` attribute."""
    if codec == "gzip":
        return {"compression": "gzip", "compression_opts": gzip_level}, f"gzip-{gzip_level}"
    if codec == "none":
        return {}, "none"
    try:
        import hdf5plugin
    except ImportError as exc:
        raise UsageError(
            "--hdf5-codec blosc-lz4 needs the hdf5plugin package (pip install hdf5plugin); or use --hdf5-codec gzip"
        ) from exc
    return dict(hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=hdf5plugin.Blosc.SHUFFLE)), "blosc-lz4"


class _DiscardableFile(io.RawIOBase):
    """The bytes of an HDF5 file, written through Python, so that a failing write never reaches HDF5.

    HDF5 does not survive a write error in its chunk cache (a full disk): closing the dataset or the file,
    even at interpreter exit, crashes the process (exit 139). Here the first write error is kept in
    ``error`` and HDF5 is told the write succeeded; from then on bytes go nowhere. The writer raises the
    kept error itself (``check``), and the unfinished file is deleted with the unfinished build.
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.handle = open(path, "w+b")  # closed in close()
        self.error: OSError | None = None
        self.position = self.end = 0  # where HDF5 believes it is, once writes are discarded

    def discard(self, error: OSError | None = None) -> None:
        """Drop every later write; ``error`` (the first one kept) is what ``check`` raises."""
        self.error = self.error or error or OSError("writes discarded")
        with contextlib.suppress(OSError):  # what Python still buffers goes nowhere either
            self.handle.close()

    def check(self) -> None:
        """Raise the write error HDF5 was not told about."""
        if self.error is not None:
            raise self.error

    def _io(self, method: str, *args, default=None):
        if self.error is not None:
            return default
        try:
            return getattr(self.handle, method)(*args)
        except OSError as exc:
            self.discard(exc)
            return default

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self._io("readinto", buffer, default=0)

    def write(self, data) -> int:
        size = memoryview(data).nbytes
        self._io("write", data)
        self.position += size
        self.end = max(self.end, self.position)
        return size

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if self.error is None:
            self.position = self._io("seek", offset, whence, default=offset)
            self.end = max(self.end, self.position)
            return self.position
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.end}[whence]
        self.position = base + offset
        return self.position

    def tell(self) -> int:
        return self._io("tell", default=self.position)

    def truncate(self, size: int | None = None) -> int:
        return self._io("truncate", size, default=self.position if size is None else size)

    def flush(self) -> None:
        if not self.handle.closed:
            self._io("flush")

    def close(self) -> None:
        self._io("close")
        super().close()


class HDF5ShardWriter:
    """Write the samples of one config and split, in order, into a preallocated HDF5 file."""

    def __init__(self, path: Path, layout: HDF5Layout, *, codec: str, gzip_level: int) -> None:
        self.path, self.layout, self.count = Path(path), layout, 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.sink = _DiscardableFile(self.path)
        self.file = h5py.File(self.sink, "w", track_order=False)
        options, self.codec = codec_options(codec, gzip_level)
        shape = (layout.n, layout.height, layout.width)
        common = {"fletcher32": True, "track_times": False, **options}
        self.image = self.file.create_dataset("image", shape + (3,), np.uint8, chunks=(1, *shape[1:], 3), **common)
        self.mask = None
        if layout.has_masks:
            self.mask = self.file.create_dataset("mask", shape, np.uint8, chunks=(1, *shape[1:]), **common)
        self.columns = {
            "label": np.full(layout.n, -1, np.int64),
            "severity": np.full(layout.n, -1, np.int64),
            "fold": np.full(layout.n, -1, np.int64),
            "cbc": np.full((layout.n, len(layout.cbc_tests)), np.nan, np.float32),
        }
        self.strings = {"sample_id": [], "parent_id": [], "group_id": [], "sha256": []}

    def add(self, sample: Sample) -> None:
        """Append one sample (its arrays must have the layout's size)."""
        i, layout = self.count, self.layout
        if sample.image.shape[:2] != (layout.height, layout.width):
            raise UsageError(
                f"{sample.sample_id}: every image of config '{layout.config}' must be {layout.width}x{layout.height} "
                f"for HDF5, found {sample.image.shape[1]}x{sample.image.shape[0]}; build the 'model' config "
                "(resized) or resize the images first"
            )
        self.image[i] = sample.image
        if self.mask is not None:
            self.mask[i] = sample.mask
        fields = sample.fields
        self.columns["label"][i] = fields["label"]
        self.columns["severity"][i] = fields["severity"]
        self.columns["fold"][i] = fields["fold"]
        self.columns["cbc"][i] = [_number(fields.get(f"cbc_{t}")) for t in layout.cbc_tests]
        for name in ("sample_id", "parent_id"):
            self.strings[name].append(getattr(sample, name))
        self.strings["group_id"].append(fields["group_id"])
        self.strings["sha256"].append(sample.sha256)
        self.count += 1
        self.sink.check()

    def close(self) -> dict:
        """Write the columns and attributes, close the file, and return its entry for ``dataset.json``."""
        layout = self.layout
        if self.count != layout.n:
            raise RuntimeError(f"{self.path}: {self.count} samples written, {layout.n} expected")
        for name, values in self.columns.items():
            self.file.create_dataset(name, data=values, track_times=False)
        self.file["cbc"].attrs["columns"] = json.dumps(list(layout.cbc_tests))
        for name in ("sample_id", "parent_id", "group_id"):
            self.file.create_dataset(name, data=self.strings[name], dtype=STRING, track_times=False)
        self.file.create_dataset("sha256", data=np.array(self.strings["sha256"], dtype="S64"), track_times=False)
        self.file.attrs.update(self._attributes())
        self.file.close()
        self.sink.check()
        self.sink.close()
        return {
            "path": self.path.as_posix(),
            "num_examples": self.count,
            "content_sha256": content_hash(self.strings["sha256"]),
            "codec": self.codec,
        }

    def _attributes(self) -> dict:
        layout = self.layout
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "config": layout.config,
            "split": layout.split,
            "num_examples": layout.n,
            "class_names": json.dumps(list(layout.class_names)),
            "severity_names": json.dumps(list(layout.severity_names)),
            "codec": self.codec,
            "tool": f"rbc-dataset {__version__}",
            "provenance": json.dumps(layout.provenance, sort_keys=True),
        }

    def abort(self) -> None:
        """Close without completing, whatever state a failed write left (the build folder is discarded anyway)."""
        self.sink.discard()
        if self.file.id.valid:
            try:
                self.file.close()
            except (OSError, RuntimeError):  # HDF5 reports what it could not finish; nothing is kept
                pass
        self.sink.close()


def _number(value) -> float:
    return np.nan if value is None else float(value)


def content_hash(sample_hashes: list[str]) -> str:
    """Hash of a shard's samples in order: equal for equal contents whatever the container's bytes."""
    return hashlib.sha256("\n".join(sample_hashes).encode()).hexdigest()
