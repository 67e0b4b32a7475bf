"""Detection quality of ``rbc-dataset validate-masks`` on planted defects (``rbc-bench validate-quality``).

A synthetic dataset with ``--defects`` is validated; per defect type, recall is the share of planted defects whose
expected finding code is reported as an error for that sample; the false-positive rate is the share of untouched
pairs (no defect, not a partner of one) that get any error.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from benchmarks.toolkit.results import report
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


def run_validate_quality(n_images: int, defect_rate: float, *, mask_style: str, seed: int, json_out: Path) -> dict:
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
    report(f"validate-masks detection quality ({mask_style} masks)", table, result=result_doc, json_out=json_out)
    return result_doc
