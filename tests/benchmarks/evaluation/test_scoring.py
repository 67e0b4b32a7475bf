"""`rbc-bench score`: reading predictions, re-scoring a run folder, comparing with its metrics.csv."""

from __future__ import annotations

import pandas as pd
import pytest

from benchmarks.evaluation.scoring import (
    SCORE_COLUMNS,
    compare_with_recorded,
    list_prediction_files,
    read_predictions,
    score_predictions,
    score_run,
)
from rbc_dataset.errors import DataError
from tests.helpers.fake_runs import N_RESAMPLES, fake_predictions


def test_score_run_reproduces_recorded_metrics(make_run):
    run = make_run("20250101-000000_abc1234", {"resnet18": 0.8, "3tier": 0.6}, tiered=("3tier",), module2=("3tier",))
    rescored = score_run(run, n_resamples=N_RESAMPLES)
    assert compare_with_recorded(run, rescored) == []
    cases = rescored.set_index(["model", "seed", "split", "task", "head"])
    assert len(rescored) == 2 * 2 * (1 + 4 + 2)  # (seeds x splits) x (resnet18 global + 3tier 4 heads + 2 module2)
    assert ("3tier", 1, "test", "module2", "rule") in cases.index
    assert set(rescored["fold"]) == {-1}
    assert list(rescored.columns[6:]) == list(SCORE_COLUMNS)


def test_compare_finds_a_tampered_value(make_run):
    run = make_run("20250101-000000_abc1234", {"resnet18": 0.8})
    recorded = pd.read_csv(run / "metrics.csv")
    recorded.loc[(recorded["seed"] == 1) & (recorded["split"] == "test"), "balanced_accuracy"] += 1e-6
    recorded.to_csv(run / "metrics.csv", index=False)
    differences = compare_with_recorded(run, score_run(run, n_resamples=N_RESAMPLES))
    assert len(differences) == 1
    assert "resnet18 seed 1 test module1/global: balanced_accuracy" in differences[0]


def test_compare_finds_other_bootstrap_settings_and_missing_cases(make_run):
    run = make_run("20250101-000000_abc1234", {"resnet18": 0.8})
    assert any("_ci_" in line for line in compare_with_recorded(run, score_run(run, n_resamples=N_RESAMPLES, seed=1)))
    recorded = pd.read_csv(run / "metrics.csv")
    recorded[recorded["seed"] == 0].to_csv(run / "metrics.csv", index=False)
    differences = compare_with_recorded(run, score_run(run, n_resamples=N_RESAMPLES))
    assert differences and all("in predictions/ but not in metrics.csv" in line for line in differences)


def test_compare_names_a_case_recorded_twice(make_run):
    run = make_run("20250101-000000_abc1234", {"resnet18": 0.8}, seeds=(0,))
    recorded = pd.read_csv(run / "metrics.csv")
    pd.concat([recorded, recorded.iloc[[0]]]).to_csv(run / "metrics.csv", index=False)
    differences = compare_with_recorded(run, score_run(run, n_resamples=N_RESAMPLES))
    assert differences == ["resnet18 seed 0 validation module1/global: recorded more than once in metrics.csv"]


def test_folds_are_parsed_from_the_file_name(make_run):
    run = make_run("20250101-000000_abc1234", {"resnet18": 0.8}, seeds=(3,), folds=True)
    items = list_prediction_files(run)
    assert [(item.model, item.seed, item.fold, item.split) for item in items] == [
        ("resnet18", 3, 1, "validation"),
        ("resnet18", 3, 1, "test"),
    ]
    assert compare_with_recorded(run, score_run(run, n_resamples=N_RESAMPLES)) == []


def test_not_a_run_folder(tmp_path):
    with pytest.raises(DataError, match="no predictions/.*rbc-bench run"):
        score_run(tmp_path)


def test_a_stray_file_in_predictions(make_run):
    run = make_run("20250101-000000_abc1234", {"resnet18": 0.8})
    (run / "predictions" / "resnet18" / "seed0_train.csv").write_text("task\n")
    with pytest.raises(DataError, match="seed0_train.csv"):
        score_run(run)


def test_missing_metrics_csv(make_run):
    run = make_run("20250101-000000_abc1234", {"resnet18": 0.8})
    (run / "metrics.csv").unlink()
    with pytest.raises(DataError, match="metrics.csv.*no such file"):
        compare_with_recorded(run, score_run(run, n_resamples=N_RESAMPLES))


def test_read_predictions_accepts_a_good_file(tmp_path):
    path = tmp_path / "seed0_test.csv"
    fake_predictions(0.8, 0).to_csv(path, index=False)
    table = read_predictions(path)
    assert table["label"].dtype == "int64" and table["prob"].dtype == "float64"
    assert table["group_id"].map(type).eq(str).all()
    scored = score_predictions(table, n_resamples=N_RESAMPLES)
    assert list(scored[["task", "head"]].itertuples(index=False, name=None)) == [("module1", "global")]
    assert scored.loc[0, "accuracy_ci_low"] <= scored.loc[0, "accuracy"] <= scored.loc[0, "accuracy_ci_high"]


def _broken(table: pd.DataFrame, defect: str) -> pd.DataFrame:
    table = table.copy()
    if defect == "missing column":
        return table.drop(columns="group_id")
    if defect == "label not 0/1":
        table.loc[3, "label"] = 2
    elif defect == "label a name":
        table["label"] = table["label"].map({0: "healthy", 1: "anaemic"})
    elif defect == "prob above 1":
        table.loc[5, "prob"] = 1.2
    elif defect == "prob missing":
        table["prob"] = table["prob"].astype(object)
        table.loc[5, "prob"] = ""
    elif defect == "unknown task":
        table.loc[0, "task"] = "module3"
    elif defect == "sample twice":
        table = pd.concat([table, table.iloc[[0]]])
    elif defect == "no rows":
        table = table.iloc[:0]
    return table


@pytest.mark.parametrize(
    ("defect", "phrase"),
    [
        ("missing column", "no group_id"),
        ("label not 0/1", r"'label' holding 0 or 1.*lines \[5\]"),
        ("label a name", "'label' holding 0 or 1.*'healthy'"),
        ("prob above 1", r"'prob' in \[0, 1\].*1.2"),
        ("prob missing", r"'prob' in \[0, 1\]"),
        ("unknown task", "module3"),
        ("sample twice", "once per task and head"),
        ("no rows", "no rows"),
    ],
)
def test_read_predictions_rejects_bad_files(tmp_path, defect, phrase):
    path = tmp_path / "seed0_test.csv"
    _broken(fake_predictions(0.8, 0), defect).to_csv(path, index=False)
    with pytest.raises(DataError, match=phrase) as caught:
        read_predictions(path)
    assert str(path) in str(caught.value) and "Fix:" in str(caught.value)


def test_read_predictions_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_predictions(tmp_path / "seed0_test.csv")


def test_scores_say_how_many_parents_groups_and_rule_labels_they_rest_on(tmp_path):
    table = fake_predictions(0.8, seed=0, n_parents=4, tiles=3)
    table["group_id"] = table["parent_id"].map({"p0": "a", "p1": "a", "p2": "b", "p3": "b"})  # 2 patients
    table.loc[table["label"] == 1, "label_source"] = "rule"
    row = score_predictions(table, n_resamples=N_RESAMPLES).iloc[0]
    assert (row["n"], row["n_parents"], row["n_groups"], row["n_rule_labels"]) == (12, 4, 2, 6)
    older = score_predictions(table.drop(columns=["label_source"]), n_resamples=N_RESAMPLES).iloc[0]
    assert pd.isna(older["n_rule_labels"])  # written before label sources existed: unknown, not zero


def test_an_unknown_label_source_is_refused(tmp_path):
    path = tmp_path / "seed0_test.csv"
    fake_predictions(0.8, seed=0).assign(label_source="guessed").to_csv(path, index=False)
    with pytest.raises(DataError, match="label_source.*'guessed'.*Fix: write dataset or rule"):
        read_predictions(path)
