"""Benchmarks of `rbc-dataset validate-masks`: detection quality on planted defects, and speed against decoding.

Quality: a synthetic dataset with `--defects` is validated; per defect type, recall is the share of planted
defects whose expected finding code is reported as an error for that sample; the false-positive rate is the
share of untouched pairs (no defect, not a partner of one) that get any error.

Speed: the same files are decoded by the same worker pool with nothing else done ("decode only"), then the
full validation runs; both with 1 and 2 processes. Peak memory is sampled over the process tree.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq

from benchmarks.memory import PeakMemory
from benchmarks.results import report
from rbc_dataset.fileio import ImageRefused, decode_image
from rbc_dataset.manifest import absolute_path
from rbc_dataset.parallel import opencv_single_thread
from rbc_dataset.synth.defects import EXPECTED_FINDING

FILE_ROLES = ("image", "mask", "rgb_mask", "instances")


def _score(planted: pd.DataFrame, findings: list[dict], all_ids: list[str]) -> tuple[list[dict], dict]:
    errors: dict[str, set[str]] = {}
    for f in findings:
        if f["severity"] == "error" and f["sample_id"]:
            errors.setdefault(f["sample_id"], set()).add(f["code"])
    rows = []
    for defect, group in planted[planted["detail"] != "partner of a swap"].groupby("defect"):
        hits = sum(EXPECTED_FINDING[defect] in errors.get(sid, set()) for sid in group["sample_id"])
        rows.append({"defect": defect, "planted": len(group), "found": hits, "recall": hits / len(group)})
    touched = set(planted["sample_id"]) | set(planted["partner_id"])
    clean = [sid for sid in all_ids if sid not in touched]
    flagged = [sid for sid in clean if sid in errors]
    return rows, {
        "clean_pairs": len(clean),
        "clean_pairs_with_error": len(flagged),
        "false_positive_rate": len(flagged) / max(len(clean), 1),
        "false_positive_ids": flagged[:20],
    }


def run_validate_quality(n_images: int, defect_rate: float, mask_style: str, seed: int, json_out: Path) -> dict:
    """Plant defects into a synthetic set, validate it, and score recall per defect type and false positives."""
    from rbc_dataset.synth.config import SynthConfig
    from rbc_dataset.synth.generate import synthesize
    from rbc_dataset.validate import validate_masks
    from rbc_dataset.validate.config import ValidateConfig

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        synthesize(
            SynthConfig(n_images=n_images, seed=seed, defect_rate=defect_rate, mask_style=mask_style),
            data,
            show_progress=False,
        )
        planted = pd.read_csv(data / "synthetic_truth/defects.csv", keep_default_na=False)
        result = validate_masks(data, out_dir=Path(tmp) / "report", config=ValidateConfig(), show_progress=False)
        document = pd.read_json(result.report_path, typ="series")
        ids = [s["sample_id"] for s in document["samples"]]
        per_defect, clean = _score(planted, list(document["findings"]), ids)
    result_doc = {
        "benchmark": "validate_quality",
        "data": f"synthetic, {n_images} AneRBC-I images per class + "
        f"tiles, mask style {mask_style}, defect rate {defect_rate}, seed {seed}",
        "pairs": len(ids),
        "per_defect": per_defect,
        **clean,
    }
    table = [(r["defect"], f"{r['found']}/{r['planted']} = {r['recall']:.0%}") for r in per_defect]
    table.append(
        (
            "clean pairs with an error",
            f"{clean['clean_pairs_with_error']}/{clean['clean_pairs']} = {clean['false_positive_rate']:.2%}",
        )
    )
    report(f"validate-masks detection quality ({mask_style} masks)", table, result_doc, json_out)
    return result_doc


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


def run_validate_speed(manifest: Path, sources: list[str], workers: list[int], json_out: Path) -> dict:
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
    report("validate-masks speed", table, result, json_out)
    return result
