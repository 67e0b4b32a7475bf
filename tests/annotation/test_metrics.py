"""annotation/metrics.py: the merge rate counts only instances that hold a labelled point (the stricter rate)."""

from __future__ import annotations

import math

import numpy as np

from annotation.metrics import point_scores


def _three_cells() -> np.ndarray:
    labels = np.zeros((20, 30), np.int64)
    labels[2:8, 2:8], labels[10:18, 10:18], labels[2:8, 20:28] = 1, 2, 3  # cell 3 is never labelled
    return labels


def test_the_merge_rate_divides_by_the_instances_that_hold_a_point():
    points = [(4, 4), (12, 12), (16, 16), (0, 19)]  # x, y: one in cell 1, two in cell 2, one on background
    scores = point_scores(_three_cells(), points)
    assert scores["merged_instances"] == 1 and scores["point_instances"] == 2 and scores["instances"] == 3
    assert scores["merged_share"] == 0.5  # 1 of the 2 judged instances; not 1/3 (cell 3 cannot be judged)
    assert scores["merged_share"] >= scores["merged_instances"] / scores["instances"]  # the stricter of the two


def test_unlabelled_objects_do_not_dilute_the_merge_rate():
    points = [(4, 4), (5, 5)]  # cell 1 merged
    labels = _three_cells()
    many_blobs = labels.copy()
    many_blobs[19, ::2] = np.arange(100, 115)  # 15 unlabelled specks found by the segmentation
    assert point_scores(labels, points)["merged_share"] == point_scores(many_blobs, points)["merged_share"] == 1.0


def test_no_point_inside_the_image_leaves_the_rates_undefined():
    scores = point_scores(_three_cells(), [(99, 99)])
    assert scores["points"] == 0 and scores["point_instances"] == 0 and scores["merged_instances"] == 0
    assert all(math.isnan(scores[key]) for key in ("merged_share", "one_point_share", "background_share"))
