"""Benchmark of rule-based cell types and of the severity rule against synthetic truth.

Data: two synthetic AneRBC-I sets written by ``rbc-dataset synth`` (clean masks, no tiles) with different
seeds, so nothing is fitted on the images that are scored:

- the *fitting* set (``fit_seed``, default 7): its anaemic images fit the one number of the severity rule that
  is fitted (``chronic_min_abnormal_share``; ``fit_severity_threshold``) and the cut of the published-size-rule
  baseline;
- the *evaluation* set (``seed``, default 100): cell types are scored on the first ``n_images`` images of each
  class, severity on all its anaemic images (``n_severity_images`` per class are generated).

Cell types are scored twice, saying which is which:
- on the TRUE instance maps (``synthetic_truth/.../instances``): instance k is true cell k;
- on instances from ``annotation.instances.segment_instances`` (when that module is available): a predicted
  instance is matched to the true cell it overlaps with IoU >= 0.5; unmatched ones are counted, not typed.
Cells touching the image border are left out of both (they are left out of every summary).

Baselines next to each number: "all normocyte" for cell types (macro-F1 of predicting the majority type) and
"majority severity" (the fitting set's majority) plus the published 3-TierDCFNet size rule (mean per-cell
score, cut fitted on the fitting set) for severity.

Run: ``rbc-bench annotate-morph --json bench_out/annotate_morph.json``; ``rbc-bench annotate-morph --fit-only``
prints the re-fitted severity cut and stops.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from annotation.cell_types import CELL_TYPES, classify_cells
from annotation.morphometry import cell_features
from annotation.severity import SEVERITY_LEVELS, cell_scores

MIN_MATCH_IOU = 0.5  # a predicted instance is that true cell when they overlap with IoU >= 0.5 (one-to-one)


def synth_set(out: Path, n_images: int, *, seed: int, workers: int) -> Path:
    """Write an AneRBC-I-only synthetic set with clean masks; returns its root."""
    from rbc_dataset.synth.config import SynthConfig
    from rbc_dataset.synth.generate import synthesize

    config = SynthConfig(n_images=n_images, seed=seed, mask_style="binary", with_tiles=False, workers=workers)
    synthesize(config, out, show_progress=False)
    return out


def list_truth_images(root: Path) -> list[dict]:
    """AneRBC-I images of a synthetic root with their truth files, ordered by class then number."""
    from rbc_dataset.layout import role_folder, truth_folder

    found = []
    for cls in ("anemic", "healthy"):
        for image in sorted(role_folder(root, "I", cls=cls, role="image").glob("*.png")):
            meta = json.loads((truth_folder(root, "I", cls=cls, role="meta") / f"{image.stem}.json").read_text())
            found.append(
                {
                    "stem": image.stem,
                    "class": cls,
                    "severity": meta.get("severity"),
                    "image": image,
                    "instances": truth_folder(root, "I", cls=cls, role="instances") / f"{image.stem}.png",
                    "cells": truth_folder(root, "I", cls=cls, role="cells") / f"{image.stem}.csv",
                }
            )
    return found


def match_to_truth(predicted: np.ndarray, truth: np.ndarray) -> dict[int, int]:
    """``predicted id -> true id`` for pairs overlapping with IoU >= MIN_MATCH_IOU (one-to-one by construction)."""
    p, t = predicted.ravel().astype(np.int64), truth.ravel().astype(np.int64)
    both = (p > 0) & (t > 0)
    base = int(t.max()) + 1
    pairs, overlap = np.unique(p[both] * base + t[both], return_counts=True)
    pid, tid = pairs // base, pairs % base
    area_p, area_t = np.bincount(p), np.bincount(t)
    iou = overlap / (area_p[pid] + area_t[tid] - overlap)
    keep = iou >= MIN_MATCH_IOU
    return dict(zip(pid[keep].tolist(), tid[keep].tolist(), strict=True))


def _severity_scores(cells: pd.DataFrame, config) -> dict:
    inner = cells[~cells["touches_border"].astype(bool)]
    scores = cell_scores(inner, config)
    return {
        "abnormal_share": float(scores["abnormal"].mean()),
        "published_score": float(scores["published_score"].mean()),
    }


def _segmented(image: np.ndarray, truth: np.ndarray, true_types: pd.Series, config) -> dict | None:
    """Types and severity scores on instances from annotation.instances (None when it is not available)."""
    try:
        from annotation.instances import segment_instances
    except ImportError:
        return None
    labels = segment_instances(image)
    cells = classify_cells(cell_features(image, labels))
    inner = cells[~cells["touches_border"].astype(bool)]
    matches = match_to_truth(labels, truth)
    matched = inner[inner["cell_id"].isin(list(matches))]
    return {
        "true": [true_types.get(matches[c], "unknown") for c in matched["cell_id"]],
        "pred": matched["type"].tolist(),
        "n_pred": len(inner),
        "n_matched": len(matched),
        **_severity_scores(cells, config),
    }


def score_image(job: tuple) -> dict:
    """Worker: cell types (true instance maps, and segmented ones when asked) and severity scores of one image."""
    from annotation.images import load_rgb
    from rbc_dataset.fileio import read_image

    entry, with_types, segment, config = job
    image = load_rgb(entry["image"])
    truth = read_image(entry["instances"])
    true_types = pd.read_csv(entry["cells"]).set_index("cell_id")["type"]
    cells = classify_cells(cell_features(image, truth))
    inner = cells[~cells["touches_border"].astype(bool)]
    result = {k: entry[k] for k in ("stem", "class", "severity")} | {"with_types": with_types}
    result["truth_map"] = {
        "true": [true_types.get(c, "unknown") for c in inner["cell_id"]] if with_types else [],
        "pred": inner["type"].tolist() if with_types else [],
        "n_true": len(inner),
        **_severity_scores(cells, config),
    }
    result["segmented"] = _segmented(image, truth, true_types, config) if segment else None
    return result


def score_images(entries: list[tuple[dict, bool]], segment: bool, *, config, workers: int) -> list[dict]:
    """``score_image`` over (entry, with_types) pairs in a process pool."""
    from rbc_dataset.parallel import bounded_map

    jobs = [(entry, with_types, segment, config) for entry, with_types in entries]
    return list(bounded_map(score_image, jobs, workers=max(1, min(workers, len(jobs)))))


def type_metrics(true: list[str], pred: list[str]) -> dict:
    """Macro-F1 (over the types present in truth or prediction), F1 per type (None when absent from both),
    the confusion matrix (rows true, columns predicted, all 8 types) and the "all normocyte" baseline."""
    from sklearn.metrics import confusion_matrix, f1_score

    labels = list(CELL_TYPES)
    if not true:
        return {"n_cells": 0, "macro_f1": None, "per_type_f1": {}, "confusion": [], "baseline_macro_f1": None}
    present = [t for t in labels if t in set(true) | set(pred)]
    per_type = dict(zip(present, f1_score(true, pred, labels=present, average=None, zero_division=0), strict=True))
    baseline_pred = ["normocyte"] * len(true)
    baseline_labels = [t for t in labels if t in set(true) | {"normocyte"}]
    baseline = f1_score(true, baseline_pred, labels=baseline_labels, average="macro", zero_division=0)
    return {
        "n_cells": len(true),
        "support": {t: int(sum(x == t for x in true)) for t in labels},
        "macro_f1": float(np.mean(list(per_type.values()))),
        "per_type_f1": {t: (float(per_type[t]) if t in per_type else None) for t in labels},
        "confusion_labels": labels,
        "confusion": confusion_matrix(true, pred, labels=labels).tolist(),
        "baseline": "all normocyte",
        "baseline_macro_f1": float(baseline),
    }


def fit_cut(scores: np.ndarray, chronic: np.ndarray, *, both_directions: bool = False) -> tuple[float, int, float]:
    """Accuracy-best cut ``score >= cut -> chronic`` (or ``<=`` with direction -1), at a midpoint between scores.

    When the two classes are separable the cut is the middle of the gap between them.

    Returns:
        (cut, direction, accuracy on the fitted scores).
    """
    values = np.sort(np.unique(scores))
    cuts = np.concatenate([[values[0] - 1e-6], (values[:-1] + values[1:]) / 2, [values[-1] + 1e-6]])
    best = (-1.0, 0.0, 1)
    for direction in (1, -1) if both_directions else (1,):
        for cut in cuts:
            predicted = direction * scores >= direction * cut
            accuracy = float((predicted == chronic).mean())
            if accuracy > best[0]:
                best = (accuracy, float(cut), direction)
    return best[1], best[2], best[0]


def _anaemic(results: list[dict], key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = [r for r in results if r["class"] == "anemic" and r.get(key) is not None]
    share = np.array([r[key]["abnormal_share"] for r in rows])
    published = np.array([r[key]["published_score"] for r in rows])
    return share, published, np.array([r["severity"] == "chronic" for r in rows])


def fit_severity(fit_results: list[dict]) -> dict:
    """The fitted numbers: the abnormal-share cut (the YAML's ``chronic_min_abnormal_share``), the published
    rule's cut and direction, and the majority severity - all from the fitting set on true instance maps."""
    share, published, chronic = _anaemic(fit_results, "truth_map")
    if len(share) == 0:
        return {"n_images": 0, "share_cut": None, "published_cut": None, "published_direction": 1, "majority": "mild"}
    share_cut, _, share_accuracy = fit_cut(share, chronic)
    published_cut, direction, published_accuracy = fit_cut(published, chronic, both_directions=True)
    return {
        "n_images": len(share),
        "n_chronic": int(chronic.sum()),
        "share_cut": round(share_cut, 3),
        "share_fit_accuracy": share_accuracy,
        "share_mild_max": float(share[~chronic].max()) if (~chronic).any() else None,
        "share_chronic_min": float(share[chronic].min()) if chronic.any() else None,
        "published_cut": published_cut,
        "published_direction": direction,
        "published_fit_accuracy": published_accuracy,
        "majority": "chronic" if chronic.mean() > 0.5 else "mild",
    }


def severity_metrics(results: list[dict], key: str, *, config, fitted: dict) -> dict | None:
    """Accuracy of the rule (YAML threshold) and of the two baselines on the evaluation set's anaemic images."""
    share, published, chronic = _anaemic(results, key)
    if len(share) == 0:
        return None
    rule = share >= config.chronic_min_abnormal_share
    direction, cut = fitted["published_direction"], fitted["published_cut"]
    published_pred = direction * published >= direction * cut if cut is not None else np.zeros_like(chronic)
    truth = np.where(chronic, "chronic", "mild")
    predicted = np.where(rule, "chronic", "mild")
    return {
        "n_images": len(share),
        "n_chronic": int(chronic.sum()),
        "accuracy": float((rule == chronic).mean()),
        "confusion_labels": list(SEVERITY_LEVELS),
        "confusion": [[int(((truth == a) & (predicted == b)).sum()) for b in SEVERITY_LEVELS] for a in SEVERITY_LEVELS],
        "baseline_majority": fitted["majority"],
        "baseline_majority_accuracy": float((chronic == (fitted["majority"] == "chronic")).mean()),
        "baseline_published_rule_accuracy": float((published_pred == chronic).mean()),
        "abnormal_share_mild_max": float(share[~chronic].max()) if (~chronic).any() else None,
        "abnormal_share_chronic_min": float(share[chronic].min()) if chronic.any() else None,
    }


def _eval_entries(entries: list[dict], n_images: int) -> list[tuple[dict, bool]]:
    """The first ``n_images`` of each class are scored for cell types; every anaemic image for severity."""
    chosen = []
    for cls in ("anemic", "healthy"):
        members = [e for e in entries if e["class"] == cls]
        chosen += [(e, i < n_images) for i, e in enumerate(members) if i < n_images or cls == "anemic"]
    return chosen


def _pooled(results: list[dict], key: str) -> dict | None:
    parts = [r[key] for r in results if r["with_types"] and r.get(key) is not None]
    if not parts:
        return None
    metrics = type_metrics(sum((p["true"] for p in parts), []), sum((p["pred"] for p in parts), []))
    if key == "segmented":
        n_true = sum(r["truth_map"]["n_true"] for r in results if r["with_types"])
        metrics |= {
            "n_true_cells": n_true,
            "n_predicted": sum(p["n_pred"] for p in parts),
            "n_matched": sum(p["n_matched"] for p in parts),
            "matched_share_of_true": sum(p["n_matched"] for p in parts) / max(n_true, 1),
        }
    return metrics


def run_severity_fit(
    n_fit_images: int = 30, *, fit_seed: int = 7, workers: int = 2, fit_root: Path | None = None
) -> dict:
    """Fit the severity rule's share cut on a synthetic set of seed ``fit_seed`` (true instance maps)."""
    from annotation.severity import load_severity_config

    config = load_severity_config()
    with tempfile.TemporaryDirectory(prefix="morph-fit-") as tmp:
        root = fit_root or synth_set(Path(tmp) / "fit", n_fit_images, seed=fit_seed, workers=workers)
        entries = [(e, False) for e in list_truth_images(root) if e["class"] == "anemic"]
        fitted = fit_severity(score_images(entries, False, config=config, workers=workers))
    return fitted | {"fit_seed": fit_seed, "n_fit_images_per_class": n_fit_images}


def assemble(results: list[dict], fitted: dict, *, config, seed: int, n_images: int) -> dict:
    """The benchmark's JSON document from the per-image results."""
    segmented = any(r["segmented"] is not None for r in results)
    return {
        "benchmark": "annotation_morph",
        "schema_version": 1,
        "data": {
            "evaluation": f"rbc-dataset synth seed {seed}, AneRBC-I, binary masks; cell types on the first "
            f"{n_images} images per class, severity on every anaemic image",
            "fitting": f"rbc-dataset synth seed {fitted['fit_seed']}, {fitted['n_fit_images_per_class']} images "
            "per class (anaemic ones only); never scored",
        },
        "cell_types": {
            "true_instance_maps": _pooled(results, "truth_map"),
            "segmented_instances": _pooled(results, "segmented") if segmented else None,
            "segmented_note": None if segmented else "annotation.instances not available or --no-segment",
        },
        "severity": {
            "rule": config.version,
            "yaml_chronic_min_abnormal_share": config.chronic_min_abnormal_share,
            "fitted": fitted,
            "true_instance_maps": severity_metrics(results, "truth_map", config=config, fitted=fitted),
            "segmented_instances": severity_metrics(results, "segmented", config=config, fitted=fitted)
            if segmented
            else None,
        },
        "per_image": [
            {"stem": r["stem"], "class": r["class"], "severity": r["severity"]}
            | {f"{k}_abnormal_share": r[k]["abnormal_share"] for k in ("truth_map", "segmented") if r.get(k)}
            for r in results
        ],
    }


def run_morph_bench(
    json_out: Path,
    *,
    n_images: int = 10,
    seed: int = 100,
    workers: int = 2,
    n_severity_images: int = 30,
    fit_seed: int = 7,
    n_fit_images: int = 30,
    segment: bool = True,
    eval_root: Path | None = None,
    fit_root: Path | None = None,
) -> dict:
    """Score cell types and severity on synthetic data (module docstring), print the tables, write JSON.

    Args:
        json_out: results file.
        n_images: images per class scored for cell types.
        seed: seed of the evaluation set.
        workers: processes.
        n_severity_images: images per class generated for the evaluation set (its anaemic ones score severity).
        fit_seed: seed of the fitting set (must differ from ``seed``).
        n_fit_images: images per class of the fitting set.
        segment: also score instances from ``annotation.instances`` (when available).
        eval_root, fit_root: existing synthetic roots to use instead of generating (tests).
    """
    from annotation.severity import load_severity_config

    if fit_seed == seed and (eval_root is None or fit_root is None):
        raise ValueError("fit_seed must differ from seed: nothing may be fitted on the images that are scored")
    config = load_severity_config()
    fitted = run_severity_fit(n_fit_images, fit_seed=fit_seed, workers=workers, fit_root=fit_root)
    with tempfile.TemporaryDirectory(prefix="morph-bench-") as tmp:
        root = eval_root or synth_set(Path(tmp) / "eval", max(n_images, n_severity_images), seed=seed, workers=workers)
        results = score_images(
            _eval_entries(list_truth_images(root), n_images), segment, config=config, workers=workers
        )
    result = assemble(results, fitted, config=config, seed=seed, n_images=n_images)
    _print_and_write(result, json_out)
    return result


def _fmt(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _print_confusion(title: str, metrics: dict | None) -> None:
    from rich.console import Console
    from rich.table import Table

    if not metrics or not metrics.get("confusion"):
        return
    table = Table(title=f"{title} (rows true, columns predicted)")
    table.add_column("true")
    for label in metrics["confusion_labels"]:
        table.add_column(label[:5], justify="right")
    f1 = metrics.get("per_type_f1", {})
    if f1:
        table.add_column("F1", justify="right")
    for label, row in zip(metrics["confusion_labels"], metrics["confusion"], strict=True):
        table.add_row(label, *[str(v) for v in row], *([_fmt(f1.get(label))] if f1 else []))
    Console(width=max(100, Console().width)).print(table)


def _summary_rows(result: dict) -> list[tuple[str, str]]:
    rows = []
    for key, name in (("true_instance_maps", "TRUE instance maps"), ("segmented_instances", "segmented instances")):
        types = result["cell_types"][key]
        if types:
            rows.append(
                (
                    f"cell types, {name}: macro-F1 (baseline all normocyte)",
                    f"{_fmt(types['macro_f1'])} ({_fmt(types['baseline_macro_f1'])}), {types['n_cells']} cells",
                )
            )
            rows += [(f"  F1 {t}", _fmt(f)) for t, f in types["per_type_f1"].items()]
            if key == "segmented_instances":
                rows.append(("  matched share of true cells (IoU >= 0.5)", _fmt(types["matched_share_of_true"])))
        severity = result["severity"][key]
        if severity:
            rows.append(
                (
                    f"severity, {name}: accuracy (majority / published rule)",
                    f"{_fmt(severity['accuracy'])} ({_fmt(severity['baseline_majority_accuracy'])} / "
                    f"{_fmt(severity['baseline_published_rule_accuracy'])}), {severity['n_images']} images",
                )
            )
    fitted = result["severity"]["fitted"]
    rows.append(
        (
            "severity share cut: YAML / re-fitted here",
            f"{result['severity']['yaml_chronic_min_abnormal_share']}"
            f" / {fitted['share_cut']} (seed {fitted['fit_seed']})",
        )
    )
    return rows


def _print_and_write(result: dict, json_out: Path) -> None:
    from benchmarks.toolkit.results import report

    _print_confusion("cell types on TRUE instance maps", result["cell_types"]["true_instance_maps"])
    _print_confusion("cell types on segmented instances (matched cells)", result["cell_types"]["segmented_instances"])
    for key, name in (("true_instance_maps", "TRUE maps"), ("segmented_instances", "segmented")):
        _print_confusion(f"severity, {name}", result["severity"][key])
    report(
        "annotation morphometry: cell types and severity vs synthetic truth",
        _summary_rows(result),
        result=result,
        json_out=json_out,
    )
