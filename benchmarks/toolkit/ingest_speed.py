"""Speed and memory of ``rbc-dataset ingest`` (``rbc-bench ingest-speed``), hashing every file."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks.toolkit.memory import PeakMemory
from benchmarks.toolkit.results import report
from benchmarks.toolkit.synth_speed import folder_size


def run_ingest_speed(data: Path, workers: int, *, json_out: Path) -> dict:
    """Ingest a synthetic dataset (hashing every file) and measure time and peak memory."""
    from rbc_dataset.ingestion import ingest

    n_files, n_bytes = folder_size(Path(data))
    with tempfile.TemporaryDirectory() as tmp, PeakMemory() as memory:
        start = time.perf_counter()
        result_ingest = ingest(Path(data), out=Path(tmp) / "manifest.parquet", workers=workers, show_progress=False)
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
    report("rbc-dataset ingest: speed and memory", rows, result=result, json_out=json_out)
    return result
