"""Build time, peak memory and output size of ``rbc-dataset build`` (``rbc-bench build-speed``).

Measures one build of a dataset folder or manifest (the full-scale synthetic AneRBC-I + AneRBC-II set for
docs/BENCHMARKS.md), optionally a second one with the fast HDF5 codec for the codec trade-off, and reports
seconds per stage, the peak memory summed over the process tree and the bytes per config and format.
"""

from __future__ import annotations

import time
from pathlib import Path

from benchmarks.toolkit.memory import PeakMemory
from benchmarks.toolkit.results import report
from rbc_dataset.shards.config import BuildConfig
from rbc_dataset.shards.run import build


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _sizes(out: Path) -> dict[str, dict[str, int]]:
    sizes: dict[str, dict[str, int]] = {}
    for fmt, top in (("hdf5", "hdf5"), ("parquet", "data")):
        for config_dir in sorted((out / top).glob("*")):
            sizes.setdefault(config_dir.name, {})[fmt] = _folder_bytes(config_dir)
    return sizes


def _one_build(source: Path, out: Path, config: BuildConfig) -> dict:
    with PeakMemory() as memory:
        start = time.perf_counter()
        result = build(source, out=out, config=config, overwrite=True, show_progress=False)
        seconds = time.perf_counter() - start
    samples = {name: sum(splits.values()) for name, splits in result.counts.items()}
    return {
        "config": config.to_dict(),
        "workers": config.workers,
        "seconds": round(seconds, 1),
        "stages_s": {k: round(v, 1) for k, v in result.seconds.items()},
        "samples": samples,
        "bytes": _sizes(out),
        "peak_rss_total_mib": round(memory.total_mb, 1),
        "peak_rss_largest_mib": round(memory.largest_mb, 1),
        "memory_target_met": memory.total_mb < 1536,
    }


def run_build_speed(source: Path, work_dir: Path, *, workers: int, fast_codec: bool, json_out: Path) -> dict:
    """Build ``source`` with the default config (and, with ``fast_codec``, HDF5 only with blosc-lz4)."""
    runs = {"default": _one_build(source, work_dir / "build_gzip", BuildConfig(workers=workers))}
    if fast_codec:
        config = BuildConfig(workers=workers, formats=("hdf5",), hdf5_codec="blosc-lz4", audit=False)
        runs["hdf5_blosc_lz4"] = _one_build(source, work_dir / "build_lz4", config)
    rows = []
    for name, run in runs.items():
        stages = ", ".join(f"{k} {v}" for k, v in run["stages_s"].items())
        rows.append((f"{name}: wall", f"{run['seconds']} s ({stages})"))
        rows.append((f"{name}: peak memory (tree)", f"{run['peak_rss_total_mib']} MiB"))
        for config, sizes in run["bytes"].items():
            text = ", ".join(f"{fmt} {size / 2**20:.0f} MiB" for fmt, size in sizes.items())
            rows.append((f"{name}: {config} ({run['samples'][config]} samples)", text))
    result = {"source": str(source), "runs": runs}
    report(f"rbc-dataset build of {source}", rows, result=result, json_out=json_out)
    return result
