"""The healthy / mild / chronic cascade and the severity rule's cut fitted for tiles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.baselines.severity_rule import NO_PREDICTION, apply_rule_cut, fit_rule_cut
from benchmarks.evaluation.cascade import cascade_calls, cascade_scores, cascade_truth
from benchmarks.evaluation.scoring import read_predictions, score_predictions
from rbc_dataset.errors import DataError

ANAEMIC = 0  # AneRBC's class order puts "anaemic" first: the cascade must not assume class 1 is anaemic


def test_truth_and_calls_follow_module_one_then_module_two():
    labels = np.array([1, 0, 0, 0])  # healthy, then three anaemic
    severity = np.array([-1, 0, 1, -1])  # mild, chronic, unknown
    assert cascade_truth(labels, severity, anaemic=ANAEMIC).tolist() == [0, 1, 2, -1]
    module1 = np.array([0, 1, 0, 0])  # a healthy sample called anaemic, an anaemic one called healthy
    chronic = np.array([1, 1, 0, 1])
    assert cascade_calls(module1, chronic, anaemic=ANAEMIC).tolist() == [2, 0, 1, 2]


def test_the_cascade_scores_three_recalls_and_a_group_interval():
    truth = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    pred = np.array([0, 0, 0, 1, 0, 0, 2, 2])  # every mild sample called healthy by Module I
    groups = np.repeat(["a", "b", "c", "d"], 2)
    scores = cascade_scores(truth, pred, groups=groups, n_resamples=200)
    assert scores["recall_0"] == 0.75 and scores["recall_1"] == 0.0 and scores["recall_2"] == 1.0
    assert scores["balanced_accuracy"] == pytest.approx((0.75 + 0 + 1) / 3)
    assert scores["accuracy"] == pytest.approx(5 / 8)
    low, high = scores["balanced_accuracy_ci_low"], scores["balanced_accuracy_ci_high"]
    assert low <= scores["balanced_accuracy"] <= high or np.isnan(low)


def test_cascade_rows_are_read_and_scored_but_a_class_two_elsewhere_is_refused(tmp_path):
    rows = []
    for k, (truth, pred) in enumerate([(0, 0), (1, 1), (2, 2), (2, 1), (0, 0), (1, 0)]):
        rows.append(("cascade", "learned", f"s{k}", f"p{k}", f"g{k}", truth, 0.5, pred))
    columns = ["task", "head", "sample_id", "parent_id", "group_id", "label", "prob", "pred"]
    path = tmp_path / "seed0_test.csv"
    pd.DataFrame(rows, columns=columns).to_csv(path, index=False)
    scored = score_predictions(read_predictions(path), n_resamples=50).iloc[0]
    assert scored["task"] == "cascade" and scored["n"] == 6
    assert scored["recall_2"] == 0.5 and scored["recall_1"] == 0.5 and scored["recall_0"] == 1.0
    assert np.isnan(scored["roc_auc"])
    bad = pd.DataFrame([("module1", "global", "s0", "p0", "g0", 2, 0.5, 1)], columns=columns)
    bad.to_csv(path, index=False)
    with pytest.raises(DataError, match="cascade rows"):
        read_predictions(path)


def test_the_rule_cut_is_fitted_where_the_rule_is_applied():
    shares = np.array([0.02, 0.05, 0.06, 0.08, 0.12, 0.15, np.nan])
    chronic = np.array([0, 0, 0, 1, 1, 1, 1])
    fitted = fit_rule_cut(shares, chronic)
    assert fitted["balanced_accuracy"] == 1.0 and 0.06 < fitted["cut"] <= 0.08 and fitted["n"] == 6
    assert np.isnan(fit_rule_cut(shares, np.zeros(7, int))["cut"])  # one severity: nothing to fit
    rule = pd.DataFrame({"sample_id": list("abcdefg"), "abnormal_share": shares, "prob": shares, "pred": 1})
    recut = apply_rule_cut(rule, fitted["cut"])
    assert recut["pred"].tolist() == [0, 0, 0, 1, 1, 1, NO_PREDICTION]
    assert rule["pred"].tolist() == [1] * 7  # the input table is left alone
