"""Speed of ``rbc-dataset validate-masks`` against decoding the same files (``rbc-bench validate-speed``).

The same files are decoded by the same worker pool with nothing else done ("decode only"), then the full
validation runs; both with 1 and 2 processes. Peak memory is sampled over the process tree.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from benchmarks.toolkit.memory import PeakMemory
from benchmarks.toolkit.results import report
from rbc_dataset.fileio import ImageRefused, decode_image
from rbc_dataset.manifest import absolute_path
from rbc_dataset.parallel import opencv_single_thread

FILE_ROLES = ("image", "mask", "rgb_mask", "instances")


@opencv_single_thread()
def _decode_many(rows: list[dict]) -> int:
    n = 0
    for row in rows:
        for role in FILE_ROLES:
            path = absolute_path(row, role)
            if path is not None and path.exists():
                try:
                    n += decode_image(path.read_bytes(), path) is not None  # the project's check, then the decode
                except ImageRefused:
                    continue
    return n


def _decode_only(rows: list[dict], workers: int) -> float:
    from rbc_dataset.parallel import process_pool
    from rbc_dataset.validate.run import CHUNK

    chunks = [rows[i : i + CHUNK] for i in range(0, len(rows), CHUNK)]
    start = time.perf_counter()
    if workers == 1:
        list(map(_decode_many, chunks))
    else:
        with process_pool(workers) as pool:
            list(pool.map(_decode_many, chunks))
    return time.perf_counter() - start


def _subset_manifest(manifest: Path, source: str, out: Path) -> Path:
    table = pq.read_table(manifest)
    pq.write_table(table.filter(pc.equal(table["source"], source)), out)
    return out


def run_validate_speed(manifest: Path, sources: list[str], *, workers: list[int], json_out: Path) -> dict:
    """Decode-only versus full validation per source and process count, with peak memory."""
    from rbc_dataset.manifest import read_manifest
    from rbc_dataset.validate import ValidateConfig, validate_masks

    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for source in sources:
            subset = _subset_manifest(Path(manifest), source, Path(tmp) / f"{source}.parquet")
            rows = read_manifest(subset).to_dict("records")
            for n in workers:
                decode_s = _decode_only(rows, n)
                with PeakMemory() as memory:
                    start = time.perf_counter()
                    validate_masks(
                        subset,
                        out_dir=Path(tmp) / f"r{source}{n}",
                        config=ValidateConfig(workers=n),
                        show_progress=False,
                    )
                    validate_s = time.perf_counter() - start
                runs.append(
                    {
                        "source": source,
                        "pairs": len(rows),
                        "workers": n,
                        "decode_only_s": round(decode_s, 2),
                        "validate_s": round(validate_s, 2),
                        "pairs_per_s": round(len(rows) / validate_s, 1),
                        "ratio_to_decode": round(validate_s / decode_s, 2),
                        "peak_rss_total_mib": round(memory.total_mb, 1),
                    }
                )
    for run in runs:
        single = next(r for r in runs if r["source"] == run["source"] and r["workers"] == 1)
        run["speedup_vs_1"] = round(single["validate_s"] / run["validate_s"], 2)
    table = [
        (
            f"{r['source']} x{r['workers']}",
            f"{r['pairs']} pairs: validate {r['validate_s']} s "
            f"({r['pairs_per_s']}/s), decode only {r['decode_only_s']} s, ratio {r['ratio_to_decode']}, "
            f"speed-up {r['speedup_vs_1']}, peak {r['peak_rss_total_mib']} MiB",
        )
        for r in runs
    ]
    result = {"benchmark": "validate_speed", "data": str(manifest), "runs": runs}
    report("validate-masks speed", table, result=result, json_out=json_out)
    return result
