"""Speed and memory of `rbc-dataset synth` and `rbc-dataset ingest` (run through `rbc-bench`)."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.memory import PeakMemory
from benchmarks.results import report


def _folder_size(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def run_synth_speed(n_images: int, workers: int, work_dir: Path, json_out: Path, keep: bool = False) -> dict:
    """Generate ``n_images`` per class (with AneRBC-II and all truth) and measure time and peak memory."""
    from rbc_dataset.synth.config import SynthConfig
    from rbc_dataset.synth.generate import synthesize

    config = SynthConfig(n_images=n_images, seed=0, workers=workers)
    work_dir = Path(work_dir)
    with PeakMemory() as memory:
        start = time.perf_counter()
        summary = synthesize(config, work_dir, overwrite=True, show_progress=False)
        seconds = time.perf_counter() - start
    n_files, n_bytes = _folder_size(work_dir)
    result = {
        "benchmark": "synth_speed",
        "data": f"synthetic AneRBC, {summary.n_full_images} AneRBC-I images + {summary.n_tiles} AneRBC-II tiles, "
        "all ground truth, mask style anerbc",
        "workers": workers,
        "wall_s": round(seconds, 2),
        "anerbc1_images_per_s": round(summary.n_full_images / seconds, 3),
        "all_images_per_s": round((summary.n_full_images + summary.n_tiles) / seconds, 2),
        "files_written": n_files,
        "gib_written": round(n_bytes / 2**30, 3),
        "peak_rss_total_mib": round(memory.total_mb, 1),
        "peak_rss_largest_process_mib": round(memory.largest_mb, 1),
    }
    rows = [(k, str(v)) for k, v in result.items() if k not in ("benchmark",)]
    report("rbc-dataset synth: speed and memory", rows, result, json_out)
    if not keep:
        shutil.rmtree(work_dir, ignore_errors=True)
    return result


def run_ingest_speed(data: Path, workers: int, json_out: Path) -> dict:
    """Ingest a synthetic dataset (hashing every file) and measure time and peak memory."""
    from rbc_dataset.ingest import ingest

    n_files, n_bytes = _folder_size(Path(data))
    with tempfile.TemporaryDirectory() as tmp, PeakMemory() as memory:
        start = time.perf_counter()
        result_ingest = ingest(Path(data), Path(tmp) / "manifest.parquet", workers=workers, show_progress=False)
        seconds = time.perf_counter() - start
    result = {
        "benchmark": "ingest_speed",
        "data": f"{data}: {result_ingest.n_samples} samples, {n_files} files, {n_bytes / 2**30:.2f} GiB",
        "workers": workers,
        "wall_s": round(seconds, 2),
        "samples_per_s": round(result_ingest.n_samples / seconds, 1),
        "files_per_s": round(n_files / seconds, 1),
        "mib_per_s_hashed": round(n_bytes / 2**20 / seconds, 1),
        "peak_rss_total_mib": round(memory.total_mb, 1),
        "peak_rss_largest_process_mib": round(memory.largest_mb, 1),
    }
    rows = [(k, str(v)) for k, v in result.items() if k != "benchmark"]
    report("rbc-dataset ingest: speed and memory", rows, result, json_out)
    return result
