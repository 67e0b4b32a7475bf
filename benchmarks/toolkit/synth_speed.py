"""Speed and memory of ``rbc-dataset synth`` (``rbc-bench synth-speed``)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from benchmarks.toolkit.memory import PeakMemory
from benchmarks.toolkit.results import report


def folder_size(root: Path) -> tuple[int, int]:
    """Number of files under ``root`` and their total bytes."""
    files = [p for p in root.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def run_synth_speed(n_images: int, workers: int, *, work_dir: Path, json_out: Path, keep: bool = False) -> dict:
    """Generate ``n_images`` per class (with AneRBC-II and all truth) and measure time and peak memory."""
    from rbc_dataset.synth.config import SynthConfig
    from rbc_dataset.synth.generate import synthesize

    config = SynthConfig(n_images=n_images, seed=0, workers=workers)
    work_dir = Path(work_dir)
    with PeakMemory() as memory:
        start = time.perf_counter()
        summary = synthesize(config, work_dir, overwrite=True, show_progress=False)
        seconds = time.perf_counter() - start
    n_files, n_bytes = folder_size(work_dir)
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
    report("rbc-dataset synth: speed and memory", rows, result=result, json_out=json_out)
    if not keep:
        shutil.rmtree(work_dir, ignore_errors=True)
    return result
