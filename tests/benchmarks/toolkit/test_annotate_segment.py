"""benchmarks/toolkit/annotate_segment.py on a tiny stand-in for ../shared/realdata."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.toolkit.annotate_segment import run_segment_bench
from tests.helpers.smears import tiny_realdata


def test_bench_reports_every_number_next_to_its_baseline(tmp_path: Path, synthetic_root: Path) -> None:
    realdata = tiny_realdata(tmp_path / "realdata", synthetic_root)
    out = tmp_path / "bench.json"
    result = run_segment_bench(realdata, out, n_synthetic=1, workers=1)
    saved = json.loads(out.read_text())
    assert saved["benchmark"] == "annotation_segment" and "environment" in saved
    propose = result["anerbc_propose"]
    assert propose["images"] == 1 and set(propose["mean_dice"]) == {"otsu_green", "otsu_fill_speck", "propose"}
    assert propose["mean_dice"]["propose"] > 0.9
    synthetic = result["synthetic"]
    assert synthetic["images"] == 1 and synthetic["ours"]["ap@0.5"] > 0.8 and "ap@0.5" in synthetic["plain"]
    chula = result["chula"]
    assert chula["points"] == 1 and chula["ours"]["one_point_share"] == 1.0  # (128, 128) ignored
    bccd = result["bccd"]
    assert bccd["boxes"] == 1 and 0 <= bccd["plain"]["recall"] <= 1  # the zero-area box is dropped
    # Per image: [hits, total] behind each pooled share, and its image-bootstrap interval (one image: no spread).
    assert list(chula["ours"]["per_image"].values()) == [[1, 1]] and chula["ours"]["one_point_share_ci95"] == (1, 1)
    for method in ("ours", "plain"):
        [(matched, boxes)] = bccd[method]["per_image"].values()
        assert boxes == 1 and matched == bccd[method]["recall"] and bccd[method]["recall_ci95"] == (matched, matched)
    assert result["throughput"]["images_per_s"] > 0 and result["throughput"]["image_hw"] == [960, 1224]


def test_bench_without_real_data_scores_synthetic_only(tmp_path: Path) -> None:
    result = run_segment_bench(tmp_path / "absent", tmp_path / "b.json", n_synthetic=1, workers=1)
    assert result["anerbc_propose"] is None and result["chula"] is None and result["bccd"] is None
    assert result["synthetic"]["images"] == 1
