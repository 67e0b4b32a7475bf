"""Instance-segmentation scores: matching, average precision at an IoU, aggregated Jaccard index, counts,
and the checks used with point (Chula) and box (BCCD) ground truth.

Average precision at IoU ``t`` follows the cell-segmentation convention (DSB 2018, StarDist, Cellpose):
``TP / (TP + FP + FN)`` where a predicted and a true instance match when their IoU exceeds ``t``. For
``t >= 0.5`` a match is necessarily one-to-one, so no assignment step is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Overlaps:
    """Pairwise overlaps of two label maps (0 = background), stored sparsely."""

    true_ids: np.ndarray  # (k,) true label of each overlapping pair
    pred_ids: np.ndarray  # (k,) predicted label of each pair
    intersection: np.ndarray  # (k,) pixels shared by the pair
    true_areas: dict  # label -> pixels
    pred_areas: dict  # label -> pixels

    def iou(self) -> np.ndarray:
        """IoU of each overlapping pair."""
        t = np.array([self.true_areas[i] for i in self.true_ids], float)
        p = np.array([self.pred_areas[i] for i in self.pred_ids], float)
        return self.intersection / np.maximum(t + p - self.intersection, 1)


def _areas(labels: np.ndarray) -> dict:
    ids, counts = np.unique(labels[labels > 0], return_counts=True)
    return dict(zip(ids.tolist(), counts.tolist(), strict=True))


def overlaps(true: np.ndarray, pred: np.ndarray) -> Overlaps:
    """Sparse contingency of two label maps of the same shape."""
    if true.shape != pred.shape:
        raise ValueError(f"label maps differ in shape: {true.shape} vs {pred.shape}")
    both = (true > 0) & (pred > 0)
    pairs = true[both].astype(np.int64) * (int(pred.max()) + 1) + pred[both].astype(np.int64)
    keys, counts = np.unique(pairs, return_counts=True)
    base = int(pred.max()) + 1
    return Overlaps(
        keys // base, keys % base, intersection=counts.astype(float), true_areas=_areas(true), pred_areas=_areas(pred)
    )


def cell_dice(pred: np.ndarray, true: np.ndarray) -> float:
    """Cell-class Dice of two boolean maps (background agreement would inflate it); 1.0 when both are empty."""
    total = int(pred.sum()) + int(true.sum())
    return 2.0 * int((pred & true).sum()) / total if total else 1.0


def average_precision(true: np.ndarray, pred: np.ndarray, *, thresholds=(0.5, 0.75)) -> dict:
    """``TP / (TP + FP + FN)`` at each IoU threshold (>= 0.5), with TP, FP and FN."""
    ov = overlaps(true, pred)
    iou = ov.iou()
    n_true, n_pred = len(ov.true_areas), len(ov.pred_areas)
    result = {}
    for t in thresholds:
        if t < 0.5:
            raise ValueError("thresholds under 0.5 need an assignment step; use >= 0.5")
        tp = int((iou > t).sum())
        fp, fn = n_pred - tp, n_true - tp
        result[f"ap@{t:g}"] = tp / max(tp + fp + fn, 1) if (n_true or n_pred) else 1.0
        result[f"tp@{t:g}"], result[f"fp@{t:g}"], result[f"fn@{t:g}"] = tp, fp, fn
    return result


def aggregated_jaccard(true: np.ndarray, pred: np.ndarray) -> float:
    """Aggregated Jaccard index (Kumar et al. 2017): each true instance adds its best-IoU prediction's
    intersection and union; predictions never chosen add their area to the union."""
    ov = overlaps(true, pred)
    iou = ov.iou()
    intersection = union = 0.0
    used = set()
    best: dict = {}
    for k, t in enumerate(ov.true_ids.tolist()):
        if t not in best or iou[k] > iou[best[t]]:
            best[t] = k
    for t, area in ov.true_areas.items():
        if t in best:
            k = best[t]
            p = int(ov.pred_ids[k])
            intersection += ov.intersection[k]
            union += area + ov.pred_areas[p] - ov.intersection[k]
            used.add(p)
        else:
            union += area
    union += sum(a for p, a in ov.pred_areas.items() if p not in used)
    return float(intersection / union) if union else 1.0


def instance_scores(true: np.ndarray, pred: np.ndarray) -> dict:
    """AP at IoU 0.5 and 0.75, aggregated Jaccard index and count error of one image."""
    n_true, n_pred = len(np.unique(true[true > 0])), len(np.unique(pred[pred > 0]))
    scores = average_precision(true, pred)
    scores["aji"] = aggregated_jaccard(true, pred)
    scores["n_true"], scores["n_pred"] = n_true, n_pred
    scores["count_error"] = (n_pred - n_true) / max(n_true, 1)
    return scores


def point_scores(labels: np.ndarray, points: list[tuple[int, int]]) -> dict:
    """How instances hold labelled cell points (x = column, y = row; points off the image are ignored).

    The merge rate (``merged_share``) is ``merged_instances / point_instances``: of the instances that hold at
    least one point, the share that hold two or more (cells merged into one instance). It divides by the
    instances that hold a point, not by all instances, because only those can be judged: an instance without a
    point (an unlabelled cell, debris, a blob the labeller skipped) is neither merged nor not merged, and counting
    it as "not merged" would lower the rate as the segmentation finds more unlabelled objects. This is the
    stricter definition: its denominator is a subset of all instances, so it is never lower than
    ``merged_instances / instances``.

    Returns:
        ``points`` (inside the image), ``one_point_share`` (points inside an instance that holds no other point),
        ``background_share`` (points on background), ``merged_instances`` (instances holding >= 2 points),
        ``point_instances`` (instances holding >= 1 point), ``instances`` (all), ``merged_share`` (merge rate,
        NaN when no instance holds a point).
    """
    h, w = labels.shape
    inside = [(x, y) for x, y in points if 0 <= x < w and 0 <= y < h]
    ids = np.array([int(labels[y, x]) for x, y in inside], np.int64)
    on_cells = ids[ids > 0]
    holders, counts = np.unique(on_cells, return_counts=True)
    per_instance = dict(zip(holders.tolist(), counts.tolist(), strict=True))
    alone = sum(1 for i in ids.tolist() if i > 0 and per_instance[i] == 1)
    merged = int((counts >= 2).sum())
    return {
        "points": len(ids),
        "one_point_share": alone / len(ids) if len(ids) else float("nan"),
        "background_share": float((ids == 0).mean()) if len(ids) else float("nan"),
        "merged_instances": merged,
        "point_instances": len(holders),
        "instances": len(np.unique(labels[labels > 0])),
        "merged_share": merged / len(holders) if len(holders) else float("nan"),
    }


def instance_boxes(labels: np.ndarray) -> np.ndarray:
    """(n, 4) inclusive boxes ``xmin, ymin, xmax, ymax`` of each instance (0-based pixels)."""
    from scipy import ndimage as ndi

    boxes = []
    for sl in ndi.find_objects(labels.astype(np.int32)):
        if sl is not None:
            boxes.append((sl[1].start, sl[0].start, sl[1].stop - 1, sl[0].stop - 1))
    return np.array(boxes, float).reshape(-1, 4)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of inclusive pixel boxes ``xmin, ymin, xmax, ymax``."""
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    x1, y1 = np.maximum(a[:, None, 0], b[None, :, 0]), np.maximum(a[:, None, 1], b[None, :, 1])
    x2, y2 = np.minimum(a[:, None, 2], b[None, :, 2]), np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1 + 1, 0, None) * np.clip(y2 - y1 + 1, 0, None)
    area_a = (a[:, 2] - a[:, 0] + 1) * (a[:, 3] - a[:, 1] + 1)
    area_b = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1)


def box_recall(labels: np.ndarray, true_boxes: np.ndarray, *, threshold: float = 0.5) -> dict:
    """Share of true boxes matched one-to-one by an instance's box at IoU >= ``threshold`` (optimal matching).

    True boxes use VOC's 1-based inclusive coordinates; they are shifted to 0-based here.
    """
    from scipy.optimize import linear_sum_assignment

    true_boxes = np.asarray(true_boxes, float).reshape(-1, 4) - 1
    pred = instance_boxes(labels)
    if not len(true_boxes):
        return {"boxes": 0, "matched": 0, "recall": float("nan")}
    if not len(pred):
        return {"boxes": len(true_boxes), "matched": 0, "recall": 0.0}
    iou = box_iou(true_boxes, pred)
    rows, cols = linear_sum_assignment(-(iou >= threshold).astype(float) - 1e-3 * iou)
    matched = int((iou[rows, cols] >= threshold).sum())
    return {"boxes": len(true_boxes), "matched": matched, "recall": matched / len(true_boxes)}
