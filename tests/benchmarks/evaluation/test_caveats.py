"""What a score rests on: small test splits, a single class, rule-derived labels (benchmarks/evaluation/caveats.py)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from benchmarks.evaluation.bootstrap import bootstrap_distribution
from benchmarks.evaluation.caveats import (
    MIN_PARENTS,
    describe_test_samples,
    distinct_resamples,
    labels_mark,
    rule_label_warnings,
    sample_warnings,
)


def _metrics(parents: int, negatives: int, positives: int, task: str = "module1", head: str = "global", **extra):
    row = {"model": "m", "seed": 0, "fold": -1, "split": "test", "task": task, "head": head}
    row |= {"n": negatives + positives, "n_parents": parents, "n_groups": parents}
    row |= {"tn": negatives, "fp": 0, "fn": 0, "tp": positives}
    return pd.DataFrame([row | extra])


@pytest.mark.parametrize("groups", [1, 2, 3, 4])
def test_distinct_resamples_is_what_a_bootstrap_can_draw(groups):
    draws = {tuple(sorted(c)) for c in itertools.product(range(groups), repeat=groups)}
    assert distinct_resamples(groups) == len(draws)
    assert distinct_resamples(2) == 3 and distinct_resamples(10) == 92378


def test_two_parents_give_at_most_three_distinct_intervals_values():
    """The number the warning quotes holds for the bootstrap the runs use: 2 groups, 1000 resamples, 3 values."""
    labels = np.repeat([0, 1], 12)
    prob = np.linspace(0.1, 0.9, 24)
    values = bootstrap_distribution(
        labels, prob, pred=prob >= 0.5, groups=np.repeat(["a", "b"], 12), metrics=("accuracy",), n_resamples=1000
    )
    assert len(np.unique(values["accuracy"])) <= distinct_resamples(2)


def test_a_two_parent_test_split_is_warned_about_with_what_it_means():
    warnings = sample_warnings(_metrics(parents=2, negatives=12, positives=12))
    assert len(warnings) == 1
    sentence = warnings[0]
    start = "Module I test split: 24 samples (12 healthy, 12 anaemic) from 2 parent images in 2 bootstrap groups."
    assert sentence.startswith(start)
    for phrase in ("Fewer than 10 parents", "at most 3 distinct resamples", "[1.000, 1.000]", "anecdotes"):
        assert phrase in sentence, phrase


def test_a_single_class_test_split_is_warned_about_even_when_large():
    warnings = sample_warnings(_metrics(parents=40, negatives=480, positives=0))
    assert len(warnings) == 1 and "One class only (healthy)" in warnings[0]
    assert "balanced accuracy and ROC-AUC are undefined" in warnings[0] and "Fewer than" not in warnings[0]


def test_a_large_two_class_test_split_needs_no_warning():
    assert sample_warnings(_metrics(parents=MIN_PARENTS, negatives=60, positives=60)) == []
    few_groups = _metrics(parents=MIN_PARENTS, negatives=60, positives=60).assign(n_groups=3)
    assert "bootstrap over 3 groups" in sample_warnings(few_groups)[0]  # the bootstrap unit counts too


def test_heads_on_different_samples_are_named_and_old_runs_say_parents_are_unknown():
    both = pd.concat(
        [_metrics(2, 6, 6, "module2", "learned"), _metrics(1, 0, 12, "module2", "rule")], ignore_index=True
    )
    warnings = sample_warnings(both)
    heads = [w.split(":")[0] for w in warnings]
    assert heads == ["Module II test split (head learned)", "Module II test split (head rule)"]
    assert "One class only (chronic)" in warnings[1]
    assert "1 possible resample, the sample itself, so each 95 % interval is a single value" in warnings[1]
    old = _metrics(2, 0, 12).drop(columns=["n_parents", "n_groups"])
    records = describe_test_samples(old)
    assert records[0]["n_parents"] is None and "parents not recorded" in sample_warnings(old)[0]
    assert describe_test_samples(pd.DataFrame()) == []
    assert sample_warnings(_metrics(2, 6, 6).assign(split="validation")) == []  # the test split only


def test_rule_derived_labels_are_marked_and_explained():
    assert labels_mark(0, 24) == "dataset"
    assert labels_mark(24, 24) == "rule-derived labels"
    assert labels_mark(6, 24) == "rule-derived labels (6 of 24)"
    assert labels_mark(float("nan"), 24) is None
    circular = _metrics(2, 6, 6, "module2", "learned", n_rule_labels=12)
    warnings = rule_label_warnings(circular)
    assert len(warnings) == 1 and "12 of 12 test labels were derived by the project's own severity rule" in warnings[0]
    assert "circular" in warnings[0]
    assert rule_label_warnings(circular.assign(n_rule_labels=0)) == []
