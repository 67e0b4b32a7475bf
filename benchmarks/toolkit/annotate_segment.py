"""Quality and speed of `annotate propose` and `annotate instances`, each number next to its baseline.

Data: (1) real AneRBC-I image/mask pairs (masks binarised as gray < 128; foreground Dice only); (2) synthetic
images from the generator, scored against ``synthetic_truth`` instance maps; (3) Chula-RBC-12 cell points
(the labelling tool's default point (128, 128) is ignored); (4) BCCD VOC RBC boxes (zero-area boxes dropped;
RBC labelling is incomplete, so only recall is meaningful). Baselines: "Otsu on green" and "Otsu + filling +
speck removal" (all holes filled, blobs under 20 px removed: fixed constants) for masks; "plain watershed"
(distance transform, peaks at least 5 px apart, a fixed distance) on the same proposed masks for instances.

Run: ``rbc-bench annotate-segment --realdata ../shared/realdata --json OUT.json``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage as ndi

from annotation.external import CHULA_DEFAULT_POINT, read_chula_points, read_voc_boxes
from annotation.images import load_rgb
from annotation.instances import plain_watershed, segment_instances, split_cells
from annotation.metrics import box_recall, instance_scores, point_scores
from annotation.metrics import cell_dice as dice
from annotation.propose import propose_mask
from benchmarks.toolkit.results import format_interval, report
from rbc_dataset.fileio import read_image
from rbc_dataset.masks import image_cell_map, to_gray
from rbc_dataset.stats import pooled_share_interval

BASELINE_SPECK_PX = 20  # the baseline's fixed speck size


def otsu_fill_speck(image: np.ndarray) -> np.ndarray:
    """Baseline: Otsu on green, every hole filled, blobs under ``BASELINE_SPECK_PX`` removed."""
    cells = ndi.binary_fill_holes(image_cell_map(image))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(cells.astype(np.uint8), connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= BASELINE_SPECK_PX
    keep[0] = False
    return keep[labels]


def anerbc_pairs(realdata: Path) -> list[tuple[Path, Path]]:
    """(image, mask) pairs of ``realdata/AneRBC-I``."""
    pairs = []
    for mask in sorted((realdata / "AneRBC-I").glob("*/Binary_segmented/*.png")):
        image = mask.parent.parent / "Original_images" / mask.name
        if image.is_file():
            pairs.append((image, mask))
    return pairs


def bench_propose(pairs: list[tuple[Path, Path]]) -> dict | None:
    """Foreground Dice of the proposals and of both baselines on real AneRBC-I masks."""
    if not pairs:
        return None
    rows = []
    for image_path, mask_path in pairs:
        image = load_rgb(image_path)
        true = to_gray(read_image(mask_path)) < 128
        rows.append(
            {
                "image": image_path.name,
                "class": image_path.parent.parent.name,
                "otsu_green": dice(image_cell_map(image), true),
                "otsu_fill_speck": dice(otsu_fill_speck(image), true),
                "propose": dice(propose_mask(image), true),
            }
        )
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("otsu_green", "otsu_fill_speck", "propose")}
    better = float(np.mean([r["propose"] > r["otsu_fill_speck"] for r in rows]))
    return {"images": len(rows), "mean_dice": mean, "share_better_than_fill_speck": better, "per_image": rows}


def make_synthetic(out: Path, n_images: int, *, workers: int) -> list[tuple[Path, Path, Path]]:
    """Generate ``n_images`` synthetic AneRBC-I images (half per class); return (image, binary mask, instances)."""
    from rbc_dataset.synth.config import SynthConfig
    from rbc_dataset.synth.generate import synthesize

    per_class = max(1, (n_images + 1) // 2)
    config = SynthConfig(n_images=per_class, seed=2024, mask_style="binary", with_tiles=False, workers=workers)
    synthesize(config, out, show_progress=False)
    found = []
    for image in sorted((out / "AneRBC_dataset" / "AneRBC-I").glob("*/Original_images/*.png")):
        cls = image.parent.parent.name
        mask = image.parent.parent / "Binary_segmented" / image.name
        instances = out / "synthetic_truth" / "AneRBC-I" / cls / "instances" / image.name
        found.append((image, mask, instances))
    return found[:n_images]


def bench_synthetic(items: list[tuple[Path, Path, Path]]) -> dict:
    """Proposal Dice and instance scores (ours vs plain watershed) against synthetic truth."""
    keys = ("ap@0.5", "ap@0.75", "aji", "count_error")
    ours, plain, dices = [], [], []
    for image_path, _mask, instances_path in items:
        image = load_rgb(image_path)
        true = read_image(instances_path).astype(np.int64)
        cells = propose_mask(image)
        dices.append(dice(cells, true > 0))
        ours.append(instance_scores(true, split_cells(cells).astype(np.int64)))
        plain.append(instance_scores(true, plain_watershed(cells).astype(np.int64)))
    ours_mean = {k: float(np.mean([r[k] for r in ours])) for k in keys}
    plain_mean = {k: float(np.mean([r[k] for r in plain])) for k in keys}
    return {"images": len(items), "propose_dice": float(np.mean(dices)), "ours": ours_mean, "plain": plain_mean}


def training_free_instances(image: np.ndarray) -> dict[str, np.ndarray]:
    """Instances of one image by the training-free path ("ours": ``split_cells``) and by the plain watershed,
    both over the same proposed mask."""
    cells = propose_mask(image)
    return {"ours": split_cells(cells), "plain": plain_watershed(cells)}


def _pool_points(totals: dict, name: str, labels: np.ndarray, points: list[tuple[int, int]]) -> list[int]:
    """Add one image's point scores of method ``name`` to ``totals`` (points, alone, merged, instances with one);
    return its points alone in one instance and its points inside the image."""
    s = point_scores(labels, points)
    alone = int(round(s["one_point_share"] * s["points"])) if s["points"] else 0
    t = totals.setdefault(name, [0, 0, 0, 0])
    t[0] += s["points"]
    t[1] += alone
    t[2] += s["merged_instances"]
    t[3] += s["point_instances"]
    return [alone, s["points"]]


def _point_summary(totals: dict) -> dict:
    return {
        name: {"one_point_share": alone / max(points, 1), "merged_share": merged / max(holders, 1)}
        for name, (points, alone, merged, holders) in totals.items()
    }


def _with_intervals(summary: dict, per_image: dict[str, dict[str, list[int]]], share: str) -> dict:
    """Each method's ``share`` with its 95 % image-bootstrap interval (``share``_ci95) and the per-image counts
    behind it ({image: [hits, total]}), so runs on the same images can be compared pair by pair."""
    for name, counts in per_image.items():
        hits, totals = zip(*counts.values(), strict=True)
        summary[name] |= {f"{share}_ci95": pooled_share_interval(hits, totals), "per_image": counts}
    return summary


def bench_chula(realdata: Path, *, instances=training_free_instances) -> dict | None:
    """Cell points inside exactly one instance, and the merge rate, per method, pooled over images.

    ``instances(image)`` returns each method's instance labels. The merge rate is
    ``annotation.metrics.point_scores``'s: instances holding two or more points over those holding at least one.
    """
    root = realdata / "Chula-RBC-12-Dataset"
    totals: dict = {}
    per_image: dict[str, dict[str, list[int]]] = {}
    n_images = n_points = 0
    for image_path in sorted((root / "Dataset").glob("*.jpg")):
        label = root / "Label" / f"{image_path.stem}.txt"
        points = [(x, y) for x, y, _ in read_chula_points(label)] if label.is_file() else []
        points = [p for p in points if p != CHULA_DEFAULT_POINT]
        if not points:
            continue
        n_images += 1
        n_points += len(points)
        for name, labels in instances(load_rgb(image_path)).items():
            per_image.setdefault(name, {})[image_path.stem] = _pool_points(totals, name, labels, points)
    if not n_images:
        return None
    return {
        "images": n_images,
        "points": n_points,
        **_with_intervals(_point_summary(totals), per_image, "one_point_share"),
    }


def bench_bccd(realdata: Path, *, instances=training_free_instances) -> dict | None:
    """Recall of the VOC RBC boxes by instance boxes at IoU 0.5, and the merge rate (instances holding two or
    more box centres over those holding at least one), per method, pooled over images."""
    root = realdata / "BCCD_Dataset" / "BCCD"
    per_image: dict[str, dict[str, list[int]]] = {}
    totals: dict = {}
    n_boxes = n_images = 0
    for image_path in sorted((root / "JPEGImages").glob("*.jpg")):
        xml = root / "Annotations" / f"{image_path.stem}.xml"
        if not xml.is_file():
            continue
        boxes = [b for b in read_voc_boxes(xml) if b["name"] == "RBC" and not b["zero_area"]]
        if not boxes:
            continue
        array = np.array([[b["xmin"], b["ymin"], b["xmax"], b["ymax"]] for b in boxes], float)
        centres = [(int(round((x0 + x1) / 2)), int(round((y0 + y1) / 2))) for x0, y0, x1, y1 in array]
        for name, labels in instances(load_rgb(image_path)).items():
            per_image.setdefault(name, {})[image_path.stem] = [box_recall(labels, array)["matched"], len(boxes)]
            _pool_points(totals, name, labels, centres)
        n_boxes += len(boxes)
        n_images += 1
    if not n_images:
        return None
    merges = _point_summary(totals)
    recalls = {
        name: {
            "recall": sum(hits for hits, _ in counts.values()) / n_boxes,
            "merged_share": merges[name]["merged_share"],
        }
        for name, counts in per_image.items()
    }
    return {"images": n_images, "boxes": n_boxes, **_with_intervals(recalls, per_image, "recall")}


def _segment_file(path: Path) -> int:
    """Worker of the throughput run: decode, propose, split; return the instance count."""
    return int(segment_instances(load_rgb(path)).max())


def bench_throughput(paths: list[Path], workers: int) -> dict:
    """Images per second of propose + instances on full-size images with ``workers`` processes."""
    from rbc_dataset.parallel import bounded_map

    start = time.perf_counter()
    counts = list(bounded_map(_segment_file, paths, workers=workers))
    seconds = time.perf_counter() - start
    shape = load_rgb(paths[0]).shape[:2] if paths else (0, 0)
    return {
        "images": len(paths),
        "workers": workers,
        "image_hw": list(shape),
        "seconds": seconds,
        "images_per_s": len(paths) / seconds if seconds else 0.0,
        "mean_cells": float(np.mean(counts)) if counts else 0.0,
    }


def _rows(result: dict) -> list[tuple[str, str]]:
    rows = []
    p = result["anerbc_propose"]
    if p:
        m = p["mean_dice"]
        rows.append(
            (
                f"AneRBC-I mask Dice ({p['images']} real)",
                f"propose {m['propose']:.4f} | Otsu green {m['otsu_green']:.4f} | "
                f"Otsu+fill+speck {m['otsu_fill_speck']:.4f}; better than Otsu+fill+speck on "
                f"{p['share_better_than_fill_speck']:.0%}",
            )
        )
    s = result["synthetic"]
    for key in ("ap@0.5", "ap@0.75", "aji", "count_error"):
        rows.append(
            (f"synthetic {key} ({s['images']} images)", f"ours {s['ours'][key]:.4f} | plain {s['plain'][key]:.4f}")
        )
    rows.append(("synthetic propose Dice", f"{s['propose_dice']:.4f}"))
    c = result["chula"]
    if c:
        share = " | ".join(
            f"{k} {c[k]['one_point_share']:.4f} {format_interval(c[k]['one_point_share_ci95'])}"
            for k in ("ours", "plain")
        )
        rows.append((f"Chula one_point_share ({c['points']} points; 95 % image-bootstrap interval)", share))
        rows.append(
            (
                f"Chula merged_share ({c['points']} points)",
                " | ".join(f"{k} {c[k]['merged_share']:.4f}" for k in ("ours", "plain")),
            )
        )
    b = result["bccd"]
    if b:
        rows.append(
            (
                f"BCCD RBC box recall@0.5 ({b['boxes']} boxes, {b['images']} images; 95 % image-bootstrap interval)",
                " | ".join(
                    f"{k} {b[k]['recall']:.4f} {format_interval(b[k]['recall_ci95'])}" for k in ("ours", "plain")
                ),
            )
        )
    t = result["throughput"]
    rows.append(
        (
            f"propose + instances, {t['image_hw'][1]}x{t['image_hw'][0]}",
            f"{t['images_per_s']:.2f} images/s on {t['workers']} processes ({t['images']} images)",
        )
    )
    return rows


def run_segment_bench(realdata: Path, json_out: Path, *, n_synthetic: int = 10, workers: int = 2) -> dict:
    """Score proposals and instances on real and synthetic data, print the table and write ``json_out``.

    Parts whose real data is absent under ``realdata`` are reported as ``None``.
    """
    realdata = Path(realdata)
    with tempfile.TemporaryDirectory(prefix="rbc-segment-bench-") as tmp:
        synthetic = make_synthetic(Path(tmp) / "synthetic", n_synthetic, workers=workers)
        result = {
            "benchmark": "annotation_segment",
            "realdata": str(realdata),
            "anerbc_propose": bench_propose(anerbc_pairs(realdata)),
            "synthetic": bench_synthetic(synthetic),
            "chula": bench_chula(realdata),
            "bccd": bench_bccd(realdata),
            "throughput": bench_throughput([item[0] for item in synthetic], workers),
        }
    report("annotate propose / instances vs baselines", _rows(result), result=result, json_out=json_out)
    return result
