"""Tests for benchmarks/toolkit/annotate_morph.py: its metrics, and a run on the tiny session dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import benchmarks.toolkit.annotate_morph as bench


def test_match_to_truth_is_one_to_one_above_half_iou() -> None:
    truth = np.zeros((20, 20), np.uint16)
    truth[2:8, 2:8] = 1
    truth[10:18, 10:18] = 2
    predicted = np.zeros_like(truth)
    predicted[2:8, 3:9] = 5  # IoU 30/42 with cell 1
    predicted[10:13, 10:13] = 6  # too small a part of cell 2
    assert bench.match_to_truth(predicted, truth) == {5: 1}


def test_fit_cut_takes_the_middle_of_the_gap() -> None:
    scores = np.array([0.1, 0.12, 0.15, 0.4, 0.5])
    chronic = np.array([False, False, False, True, True])
    cut, direction, accuracy = bench.fit_cut(scores, chronic)
    assert cut == pytest.approx(0.275) and direction == 1 and accuracy == 1.0
    cut, direction, _ = bench.fit_cut(-scores, chronic, both_directions=True)
    assert direction == -1 and cut == pytest.approx(-0.275)


def test_type_metrics_and_baseline() -> None:
    true = ["normocyte"] * 8 + ["microcyte", "macrocyte"]
    metrics = bench.type_metrics(true, true)
    assert metrics["macro_f1"] == 1.0 and metrics["per_type_f1"]["target"] is None
    assert metrics["confusion"][1][1] == 1 and sum(map(sum, metrics["confusion"])) == 10
    assert metrics["baseline_macro_f1"] == pytest.approx((16 / 18) / 3)


def test_bench_on_tiny_input(synthetic_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = bench.run_morph_bench(
        out, n_images=1, workers=1, segment=False, eval_root=synthetic_root, fit_root=synthetic_root
    )
    written = json.loads(out.read_text())
    assert written["environment"]["tool_version"] and written["benchmark"] == "annotation_morph"
    types = result["cell_types"]["true_instance_maps"]
    assert types["n_cells"] > 1000 and types["macro_f1"] > types["baseline_macro_f1"]
    assert result["cell_types"]["segmented_instances"] is None
    severity = result["severity"]["true_instance_maps"]
    assert severity["n_images"] == 2 and severity["accuracy"] == 1.0
    assert {"baseline_majority_accuracy", "baseline_published_rule_accuracy"} <= set(severity)
    assert result["severity"]["fitted"]["n_images"] == 2


def test_bench_refuses_fitting_on_the_evaluation_seed(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="differ"):
        bench.run_morph_bench(tmp_path / "x.json", seed=5, fit_seed=5)
