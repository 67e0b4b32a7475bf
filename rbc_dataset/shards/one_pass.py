"""One pass over the parent images that feeds every shard writer (configs x splits x formats).

Workers decode and cut; this process only appends to the writers, in parent order, so the shards' contents
do not depend on the number of workers. At most a few parents are in flight, which bounds memory.
"""

from __future__ import annotations

from contextlib import closing
from functools import partial
from pathlib import Path

from rbc_dataset import __version__
from rbc_dataset.errors import DataError
from rbc_dataset.fileio import sha256_file
from rbc_dataset.parallel import bounded_map, worker_count
from rbc_dataset.progress import track
from rbc_dataset.reports import CBC_TESTS
from rbc_dataset.shards.config import SPLIT_NAMES, BuildConfig
from rbc_dataset.shards.hdf5_shards import HDF5Layout, HDF5ShardWriter
from rbc_dataset.shards.parquet_shards import ParquetSplitWriter, hf_features
from rbc_dataset.shards.plan import (
    SEVERITY_NAMES,
    Inputs,
    applicable_configs,
    expected_counts,
    full_rows,
    model_from_tiles,
    sample_size,
)
from rbc_dataset.shards.samples import ParentTask, SampleOptions, make_many
from rbc_dataset.shards.tiling import TileGrid

PARENTS_PER_TASK = 1


class ShardSet:
    """The writers of one build, and the pass that fills them."""

    def __init__(
        self,
        folder: Path,
        config: BuildConfig,
        *,
        grid: TileGrid,
        class_names: tuple[str, ...],
        inputs: Inputs,
        tasks: list[ParentTask],
        manifest: Path,
    ) -> None:
        self.folder, self.config, self.grid, self.tasks = Path(folder), config, grid, tasks
        self.class_names, self.severity_names, self.cbc_tests = class_names, SEVERITY_NAMES, tuple(CBC_TESTS)
        self.has_masks = inputs.has_masks
        self.inputs_rows = inputs.rows
        self.configs = applicable_configs(inputs, config, grid=grid)
        self.tiled_model = model_from_tiles(inputs, grid)
        self.counts = expected_counts(tasks, self.configs, grid=grid, tiled_model=self.tiled_model)
        self.sizes = {
            c: sample_size(c, grid, model_size=config.model_size, fulls=full_rows(inputs.rows)) for c in self.configs
        }
        self.provenance = {"source_manifest_sha256": sha256_file(manifest), "build_config": config.to_dict()}
        self._check_full_sizes(inputs)

    def _check_full_sizes(self, inputs: Inputs) -> None:
        if "full" not in self.configs or "hdf5" not in self.config.formats:
            return
        fulls = full_rows(inputs.rows)
        sizes = fulls.groupby(["width", "height"]).size().sort_values(ascending=False)
        if len(sizes) > 1:
            (w, h), n = sizes.index[1], sizes.iloc[1]
            odd = fulls[(fulls["width"] == w) & (fulls["height"] == h)].iloc[0]
            raise DataError(
                Path(str(odd["root"])) / str(odd["image_path"]),
                "images of one size for the HDF5 'full' config (one array per split)",
                f"{len(sizes)} sizes; {n} images are {w}x{h} while most are {sizes.index[0][0]}x{sizes.index[0][1]}",
                "build the resized 'model' config only (--data-configs model), use --formats parquet, or resize the "
                "images",
            )

    def _open_writers(self, writers: dict) -> None:
        """Open every writer into ``writers`` (filled as they open, so a failure can abort those already open)."""
        for name in self.configs:
            width, height = self.sizes[name]
            features = hf_features(
                self.class_names, self.severity_names, cbc_tests=self.cbc_tests, masks=self.has_masks
            )
            for split in SPLIT_NAMES:
                n = self.counts.get((name, split), 0)
                if n == 0:  # an empty split (share 0) is neither written nor declared
                    continue
                if "hdf5" in self.config.formats:
                    layout = HDF5Layout(
                        name, split, n=n, height=height, width=width, has_masks=self.has_masks,
                        class_names=self.class_names, severity_names=self.severity_names, cbc_tests=self.cbc_tests,
                        provenance={**self.provenance, "tool": f"rbc-dataset {__version__}"},
                    )  # fmt: skip
                    path = self.folder / "hdf5" / name / f"{split}.h5"
                    writers[(name, split, "hdf5")] = HDF5ShardWriter(
                        path, layout, codec=self.config.hdf5_codec, gzip_level=self.config.gzip_level
                    )
                if "parquet" in self.config.formats:
                    folder = self.folder / "data" / name
                    shard_bytes = self.config.parquet_shard_mb << 20
                    writers[(name, split, "parquet")] = ParquetSplitWriter(
                        folder, split, features=features, cbc_tests=self.cbc_tests, shard_bytes=shard_bytes
                    )

    def write(self, show_progress: bool) -> dict:
        """Make every sample and write it; return ``config -> split -> entry`` for ``dataset.json``."""
        writers: dict = {}
        options = SampleOptions(
            self.configs,
            self.grid,
            model_size=self.config.model_size,
            arrays="hdf5" in self.config.formats,
            png="parquet" in self.config.formats,
            has_masks=self.has_masks,
            tiled_model=self.tiled_model,
        )
        chunks = [self.tasks[i : i + PARENTS_PER_TASK] for i in range(0, len(self.tasks), PARENTS_PER_TASK)]
        workers = min(worker_count(self.config.workers), max(len(chunks), 1))
        classes: dict[tuple[str, str], dict[str, int]] = {}
        try:
            self._open_writers(writers)
            # One parent per task and one task queued beyond the busy workers: each parent is ~20 MB of samples.
            # closing(): an error here stops the workers now, not when the generator is garbage-collected.
            results = bounded_map(partial(make_many, options=options), chunks, workers=workers, in_flight=workers + 1)
            with closing(results):
                for batch in track(
                    results, len(self.tasks), description="build shards", show=show_progress, sizes=map(len, chunks)
                ):
                    for samples in batch:
                        for sample in samples:
                            split = sample.fields["split"]
                            tally = classes.setdefault((sample.config, split), {})
                            name = self.class_names[sample.fields["label"]]
                            tally[name] = tally.get(name, 0) + 1
                            for fmt in self.config.formats:
                                writers[(sample.config, split, fmt)].add(sample)
            return self._entries(writers, classes)  # closing the writers can fail too (a full disk)
        except BaseException:
            for writer in writers.values():
                writer.abort()
            raise

    def _entries(self, writers: dict, classes: dict) -> dict:
        entries: dict[str, dict] = {}
        for name in self.configs:
            for split in SPLIT_NAMES:
                if self.counts.get((name, split), 0) == 0:
                    continue
                entry = {
                    "num_examples": self.counts.get((name, split), 0),
                    "classes": dict(sorted(classes.get((name, split), {}).items())),
                }
                if "hdf5" in self.config.formats:
                    hdf5 = writers[(name, split, "hdf5")].close()
                    hdf5["sha256"] = sha256_file(Path(hdf5["path"]))
                    hdf5["path"] = self._relative(hdf5["path"])
                    entry["hdf5"] = hdf5
                    entry["content_sha256"] = hdf5["content_sha256"]
                if "parquet" in self.config.formats:
                    writer = writers[(name, split, "parquet")]
                    shards = writer.close()
                    for shard in shards:
                        shard["path"] = self._relative(shard["path"])
                    entry["parquet"] = shards
                    entry["num_bytes"] = sum(s["num_bytes"] for s in shards)
                    entry["content_sha256"] = writer.content_sha256
                entries.setdefault(name, {})[split] = entry
        return entries

    def _relative(self, path: str) -> str:
        return Path(path).relative_to(self.folder).as_posix()
