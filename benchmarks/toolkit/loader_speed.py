"""Benchmark of the shard loaders: images per second into tensors, per core, against a folder of PNG files.

Methods, all returning the same sample dict (image (3, H, W), mask (1, H, W) 0/1, label, ...):

- ``png_folder``: the samples exported as PNG files (OpenCV's default compression, like a release folder) and
  read back with ``cv2.imread``;
- ``hf_parquet``: ``HFRBCDataset`` over the Hugging Face Parquet shards (PNG bytes in Arrow);
- ``hdf5_default``: ``HDF5RBCDataset`` over the build's HDF5 shard (its codec, ``gzip-4`` by default);
- ``hdf5_fast``: the same over a Blosc-LZ4 (byte shuffle) shard, from a second build or rewritten here;
- ``hdf5_blosc_zstd`` and ``hdf5_blosc2_zstd``: Blosc and Blosc2 with Zstd (level 1, byte shuffle) rewrites,
  smaller than LZ4 and slower.

Protocol: one process with one thread (torch and OpenCV), ``num_workers=0``; one warm-up item, then one pass
over items ``0..n-1`` in order. Every file was just written or read, so the OS page cache is warm: the numbers
are decode cost per core, not disk speed. Optionally a ``DataLoader`` with worker processes over ``hdf5_fast``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path

import cv2
import numpy as np

from benchmarks.toolkit.results import report
from rbc_dataset.errors import check_choice
from rbc_dataset.fileio import path_inside, safe_name

TARGET_SPEEDUP = 5.0  # hdf5_fast must reach this many times the PNG folder's images/s per core
# blosc-lz4 is the build's fast codec; the Zstd variants trade read speed for size (noisy smears barely compress
# with LZ4: measured 294 of 294 kB raw per 306x320 AneRBC tile, against 224 kB with Blosc-Zstd level 1).
FAST_CODECS = ("blosc-lz4", "blosc-zstd", "blosc2-zstd")
COPY_COLUMNS = ("label", "severity", "fold", "sample_id", "parent_id", "group_id", "cbc", "sha256")


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Torch and OpenCV on one thread, so a number is per core; restores the previous settings."""
    import torch

    torch_threads, cv_threads = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        torch.set_num_threads(torch_threads)
        cv2.setNumThreads(cv_threads)


def time_pass(get: Callable[[int], dict], n: int, *, repeats: int = 1) -> float:
    """Seconds for ``get(0) .. get(n - 1)`` after one warm-up call (opens files, fills lazy state).

    With ``repeats`` > 1 the fastest of that many passes: on a shared machine the others are mostly noise.
    """
    get(0)
    best = float("inf")
    for _ in range(max(repeats, 1)):
        start = time.perf_counter()
        for index in range(n):
            get(index)
        best = min(best, time.perf_counter() - start)
    return best


def _codec_filter(codec: str) -> dict:
    import hdf5plugin

    check_choice("codec", codec, choices=FAST_CODECS)
    if codec == "blosc-lz4":
        return dict(hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=hdf5plugin.Blosc.SHUFFLE))
    if codec == "blosc-zstd":
        return dict(hdf5plugin.Blosc(cname="zstd", clevel=1, shuffle=hdf5plugin.Blosc.SHUFFLE))
    return dict(hdf5plugin.Blosc2(cname="zstd", clevel=1, filters=hdf5plugin.Blosc2.SHUFFLE))


def rewrite_hdf5(source: Path, target: Path, *, codec: str, n: int | None = None) -> Path:
    """Copy the first ``n`` samples of an HDF5 shard with another codec, same chunks (one image each), same attrs."""
    import h5py

    with h5py.File(source, "r") as src, h5py.File(target, "w") as dst:
        n = min(n or len(src["image"]), len(src["image"]))
        for name in (name for name in ("image", "mask") if name in src):
            data = src[name]
            out = dst.create_dataset(
                name, (n, *data.shape[1:]), data.dtype, chunks=data.chunks, fletcher32=True, **_codec_filter(codec)
            )
            for index in range(n):  # one chunk at a time: memory stays at one image
                out[index] = data[index]
        for name in (c for c in COPY_COLUMNS if c in src):
            dst.create_dataset(name, data=src[name][:n], dtype=src[name].dtype)
            dst[name].attrs.update(src[name].attrs)
        dst.attrs.update(src.attrs)
        dst.attrs.update({"codec": codec, "num_examples": n})
    return target


def _imread_rgb(path: Path) -> np.ndarray:
    flag = getattr(cv2, "IMREAD_COLOR_RGB", None)
    if flag is not None:
        return cv2.imread(str(path), flag)
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


class PNGFolder:
    """The first ``n`` samples of a dataset exported as ``images/<id>.png`` and ``masks/<id>.png`` (0/255, if any).

    Reading mimics a training script over a release folder: ``cv2.imread`` both files, the fields from a table.
    """

    def __init__(self, dataset, n: int, *, out_dir: Path):
        from rbc_dataset.loaders.hdf5 import to_sample  # here, not at module level: keeps torch out of --help

        self._to_sample = to_sample
        self.root = Path(out_dir)
        (self.root / "images").mkdir(parents=True, exist_ok=True)
        (self.root / "masks").mkdir(parents=True, exist_ok=True)
        self.rows = []
        for index in range(n):
            sample = dataset[index]
            name = safe_name(sample["sample_id"]) + ".png"  # ids come from the data: never a path
            image_path = path_inside(self.root / "images", name)
            cv2.imwrite(str(image_path), cv2.cvtColor(sample["image"].permute(1, 2, 0).numpy(), cv2.COLOR_RGB2BGR))
            mask_path = None
            if "mask" in sample:
                mask_path = path_inside(self.root / "masks", name)
                cv2.imwrite(str(mask_path), sample["mask"][0].numpy() * np.uint8(255))
            fields = {k: int(sample[k]) for k in ("label", "severity", "fold")}
            fields.update(sample_id=sample["sample_id"], parent_id=sample["parent_id"])
            self.rows.append((image_path, mask_path, fields))

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict:
        image_path, mask_path, fields = self.rows[index]
        mask = None if mask_path is None else (cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE) > 0).view(np.uint8)
        return self._to_sample(_imread_rgb(image_path), mask, **fields)

    def bytes_on_disk(self) -> int:
        return sum(p.stat().st_size for image, mask, _ in self.rows for p in (image, mask) if p is not None)


def _measure(name: str, description: str, *, dataset, n: int, bytes_per_image: float, repeats: int) -> dict:
    seconds = time_pass(dataset.__getitem__, n, repeats=repeats)
    first = dataset[0]
    decoded = n * sum(first[k].nbytes for k in ("image", "mask") if k in first)  # pixel bytes delivered
    return {
        "method": name,
        "description": description,
        "items": n,
        "seconds": round(seconds, 4),
        "images_per_s": round(n / seconds, 1),
        "mb_per_s": round(decoded / seconds / 1e6, 1),
        "bytes_per_image": round(bytes_per_image),
    }


def _measure_dataloader(dataset, n: int, workers: int, batch_size: int = 32) -> dict:
    """Images/s of a DataLoader (forkserver workers, persistent) over ``dataset[:n]``; one warm-up epoch first."""
    from torch.utils.data import DataLoader, Subset

    loader = DataLoader(
        Subset(dataset, range(n)),
        batch_size=batch_size,
        num_workers=workers,
        persistent_workers=True,
        multiprocessing_context="forkserver",
    )
    for _ in loader:  # starts the workers and opens the file in each
        pass
    start = time.perf_counter()
    for _ in loader:
        pass
    seconds = time.perf_counter() - start
    del loader
    return {"workers": workers, "batch_size": batch_size, "items": n, "images_per_s": round(n / seconds, 1)}


def _file_size_per_image(path: Path, n: int) -> float:
    return Path(path).stat().st_size / max(n, 1)


def _fast_variants(default, n: int, fast_codec_dir: Path | None, work: Path) -> Iterator[tuple]:
    """(name, description, dataset, bytes per image) of the fast-codec HDF5 shards."""
    from rbc_dataset.loaders import HDF5RBCDataset

    codecs = FAST_CODECS
    if fast_codec_dir is not None:
        fast = HDF5RBCDataset.from_build(fast_codec_dir, config=default.config, split=default.split)
        yield "hdf5_fast", f"HDF5 {fast.codec} (second build)", fast, _file_size_per_image(fast.path, len(fast))
        codecs = FAST_CODECS[1:]
    for codec in codecs:
        rewritten = HDF5RBCDataset(rewrite_hdf5(default.path, work / f"{default.split}.{codec}.h5", codec=codec, n=n))
        name = "hdf5_fast" if codec == "blosc-lz4" else f"hdf5_{codec.replace('-', '_')}"
        size = _file_size_per_image(rewritten.path, len(rewritten))
        yield name, f"HDF5 {codec} (rewritten by the benchmark)", rewritten, size


def _parquet_bytes_per_image(built_dir: Path, dataset) -> float:
    files = (built_dir / "data" / dataset.config).glob(f"{dataset.split}-*.parquet")
    return sum(p.stat().st_size for p in files) / max(len(dataset), 1)


def measure_loaders(
    built_dir: Path,
    *,
    config: str = "tiles",
    split: str = "train",
    max_items: int = 2000,
    fast_codec_dir: Path | None = None,
    work_dir: Path | None = None,
    dataloader_workers: int = 0,
    repeats: int = 1,
) -> dict:
    """Images/s per core of a PNG folder, the Parquet shards and HDF5 shards of one config and split.

    Args:
        built_dir: a ``rbc-dataset build`` output folder with both formats.
        config: dataset config (``tiles``, ``full``, ``model``).
        split: split to read.
        max_items: read at most this many samples (the first ones).
        fast_codec_dir: a second build written with ``--hdf5-codec blosc-lz4``; without it the HDF5 shard is
            rewritten with that codec into ``work_dir``.
        work_dir: where the PNG export, the rewritten shards and the ``datasets`` cache go (a temporary folder
            that is removed afterwards when ``None``).
        dataloader_workers: also time a ``DataLoader`` with this many workers over ``hdf5_fast`` (0: skip).
        repeats: passes per method; the fastest counts (use 3 or more on a busy machine).

    Returns:
        The result document (see ``methods``, ``target_met``).
    """
    from rbc_dataset.loaders import HDF5RBCDataset, HFRBCDataset

    built_dir = Path(built_dir)
    with contextlib.ExitStack() as stack:
        if work_dir is None:
            work_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="loader_bench_"))
        work_dir = Path(work_dir)
        work_dir.mkdir(parents=True, exist_ok=True)
        stack.enter_context(single_thread())
        default = HDF5RBCDataset.from_build(built_dir, config=config, split=split)
        n = min(max_items, len(default))
        png = PNGFolder(default, n, out_dir=work_dir / "png")
        hf = HFRBCDataset(built_dir, config=config, split=split, cache_dir=work_dir / "hf_cache")
        candidates = [
            ("png_folder", "PNG files, cv2.imread", png, png.bytes_on_disk() / n),
            ("hf_parquet", "Hugging Face Parquet, OpenCV decode", hf, _parquet_bytes_per_image(built_dir, hf)),
            ("hdf5_default", f"HDF5 {default.codec}", default, _file_size_per_image(default.path, len(default))),
            *_fast_variants(default, n, fast_codec_dir, work_dir),
        ]
        methods = {
            name: _measure(name, text, dataset=data, n=n, bytes_per_image=size, repeats=repeats)
            for name, text, data, size in candidates
        }
        fast = next(data for name, _, data, _ in candidates if name == "hdf5_fast")
        dataloader = _measure_dataloader(fast, n, dataloader_workers) if dataloader_workers > 0 else None
    return _result(built_dir, default, methods=methods, dataloader=dataloader, repeats=repeats)


def _result(built_dir: Path, default, *, methods: dict, dataloader: dict | None, repeats: int) -> dict:
    baseline = methods["png_folder"]["images_per_s"]
    for entry in methods.values():
        entry["relative_to_png_folder"] = round(entry["images_per_s"] / baseline, 2)
    speedup = methods["hdf5_fast"]["relative_to_png_folder"]
    return {
        "benchmark": "loader_speed",
        "schema_version": 1,
        "data": str(built_dir),
        "config": default.config,
        "split": default.split,
        "image_hw": list(default.image_shape[:2]),
        "protocol": "one process, torch and OpenCV on one thread, num_workers=0; one warm-up item, then items "
        f"0..n-1 in order, fastest of {repeats} pass(es); files just written or read (warm OS page cache): "
        "decode cost per core, not disk speed",
        "methods": methods,
        "dataloader_hdf5_fast": dataloader,
        "target": f"hdf5_fast images/s >= {TARGET_SPEEDUP:g}x png_folder (per core)",
        "speedup_hdf5_fast_vs_png_folder": speedup,
        "target_met": speedup >= TARGET_SPEEDUP,
        "versions": _versions(),
    }


def _versions() -> dict:
    names = ("torch", "h5py", "hdf5plugin", "datasets", "pyarrow", "opencv-python-headless", "numpy")
    found = {}
    for name in names:
        with contextlib.suppress(Exception):
            found[name] = version(name)
    found["BLOSC_NTHREADS"] = os.environ.get("BLOSC_NTHREADS")
    return found


def _rows(result: dict) -> list[tuple[str, str]]:
    rows = [
        (
            f"{m['method']} ({m['description']})",
            f"{m['images_per_s']:.1f} img/s, {m['mb_per_s']:.1f} MB/s, x{m['relative_to_png_folder']:.2f} PNG, "
            f"{m['bytes_per_image'] / 1e3:.1f} kB/img",
        )
        for m in result["methods"].values()
    ]
    if result["dataloader_hdf5_fast"]:
        d = result["dataloader_hdf5_fast"]
        rows.append((f"hdf5_fast DataLoader, {d['workers']} workers", f"{d['images_per_s']:.1f} img/s"))
    met = "met" if result["target_met"] else "NOT met"
    rows.append((result["target"], f"x{result['speedup_hdf5_fast_vs_png_folder']:.2f}: {met}"))
    return rows


def run_loader_bench(built_dir: Path, json_out: Path | None = None, **kwargs) -> dict:
    """``measure_loaders(built_dir, **kwargs)``, printed as a table and written to ``json_out`` when given."""
    result = measure_loaders(Path(built_dir), **kwargs)
    title = f"Loader speed per core: {result['config']}/{result['split']}, {result['image_hw']} px"
    if json_out is not None:
        report(title, _rows(result), result=result, json_out=Path(json_out))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table("measure", "value", title=title)
        for row in _rows(result):
            table.add_row(*row)
        Console().print(table)
    return result
