"""benchmarks/toolkit/annotate_segment.py on a tiny stand-in for ../shared/realdata."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from benchmarks.toolkit.annotate_segment import run_segment_bench
from rbc_dataset.fileio import encode_png, read_image

VOC = """<annotation><object><name>RBC</name>
<bndbox><xmin>{0}</xmin><ymin>{1}</ymin><xmax>{2}</xmax><ymax>{3}</ymax></bndbox></object>
<object><name>RBC</name><bndbox><xmin>5</xmin><ymin>5</ymin><xmax>5</xmax><ymax>9</ymax></bndbox></object></annotation>"""


def tiny_realdata(root: Path, synthetic_root: Path) -> Path:
    """One AneRBC pair, one Chula image with points, one BCCD image with a box: crops of a synthetic image."""
    cls = synthetic_root / "AneRBC_dataset" / "AneRBC-I" / "Anemic_individuals"
    image = read_image(cls / "Original_images" / "001_a.png")[:240, :320]
    instances = read_image(
        synthetic_root / "synthetic_truth" / "AneRBC-I" / "Anemic_individuals" / "instances" / "001_a.png"
    )
    instances = instances[:240, :320]
    anerbc = root / "AneRBC-I" / "Anemic_individuals"
    for folder, array in (("Original_images", image), ("Binary_segmented", np.where(instances > 0, 0, 255))):
        (anerbc / folder).mkdir(parents=True)
        (anerbc / folder / "001_a.png").write_bytes(encode_png(array.astype(np.uint8)))
    chula = root / "Chula-RBC-12-Dataset"
    (chula / "Dataset").mkdir(parents=True)
    (chula / "Label").mkdir()
    ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    (chula / "Dataset" / "1.jpg").write_bytes(jpg.tobytes())
    ys, xs = np.nonzero(instances == instances[instances > 0].min())
    (chula / "Label" / "1.txt").write_text(f"{int(xs.mean())} {int(ys.mean())} 0\n128 128 0\n")
    bccd = root / "BCCD_Dataset" / "BCCD"
    (bccd / "JPEGImages").mkdir(parents=True)
    (bccd / "Annotations").mkdir()
    (bccd / "JPEGImages" / "BloodImage_00001.jpg").write_bytes(jpg.tobytes())
    box = (xs.min() + 1, ys.min() + 1, xs.max() + 1, ys.max() + 1)
    (bccd / "Annotations" / "BloodImage_00001.xml").write_text(VOC.format(*box))
    return root


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
    assert result["throughput"]["images_per_s"] > 0 and result["throughput"]["image_hw"] == [960, 1224]


def test_bench_without_real_data_scores_synthetic_only(tmp_path: Path) -> None:
    result = run_segment_bench(tmp_path / "absent", tmp_path / "b.json", n_synthetic=1, workers=1)
    assert result["anerbc_propose"] is None and result["chula"] is None and result["bccd"] is None
    assert result["synthetic"]["images"] == 1
