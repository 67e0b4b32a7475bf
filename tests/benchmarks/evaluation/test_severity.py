"""Module-I recall per severity in `rbc-bench report`: mild vs chronic anaemic test tiles, older runs without it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from benchmarks.evaluation.report import write_report
from benchmarks.evaluation.severity import group_recall
from tests.helpers.fake_runs import fake_severity


def _misses_mild(table: pd.DataFrame, *, model: str, seed: int) -> np.ndarray:
    """``blind``: healthy right, chronic right, every mild tile called healthy; other models right everywhere."""
    severity = fake_severity(table["parent_id"].str.removeprefix("p").astype(int))
    anaemic = table["label"].to_numpy() == 1
    if model == "blind":
        return np.where(anaemic & (severity == 1), 0.9, 0.1)
    return np.where(anaemic, 0.9, 0.1)


def _rows(path) -> dict[tuple[str, str], pd.Series]:
    table = pd.read_csv(path)
    return {(row["model"], row["severity"]): row for _, row in table.iterrows()}


def test_a_model_blind_to_mild_anaemia_has_mild_recall_0_and_chronic_recall_1(make_run, tmp_path):
    run = make_run("20250201-000000_aaa0001", {"blind": 0.9, "sharp": 0.9}, severity=True, predict=_misses_mild)
    result = write_report([run], tmp_path / "report")
    rows = _rows(tmp_path / "report" / "severity_recall.csv")
    blind_mild, blind_chronic = rows[("blind", "mild")], rows[("blind", "chronic")]
    assert blind_mild["recall_mean"] == 0.0 and blind_chronic["recall_mean"] == 1.0
    assert (blind_mild["recall_ci_low"], blind_mild["recall_ci_high"]) == (0.0, 0.0)
    assert rows[("blind", "anaemic (all)")]["recall_mean"] == 0.5
    # Parents 1 and 5 are mild, 3 and 7 chronic: 3 tiles each, in each of 2 seeds.
    assert blind_mild[["n_test", "n_test_parents", "n_seeds"]].tolist() == [6, 2, 2]
    assert rows[("sharp", "mild")]["recall_mean"] == 1.0 and rows[("sharp", "mild")]["status"] == "recorded"
    markdown = (tmp_path / "report" / "leaderboard.md").read_text()
    section = markdown[markdown.index("## Module I recall per severity") :]
    sharp, blind = section.index("| `sharp` |"), section.index("| `blind` |")
    assert sharp < blind  # the lowest mild recall last
    assert "| `blind` | 0.000 ± 0.000 [0.000, 0.000], 6 (2) | 1.000 ± 0.000 [1.000, 1.000], 6 (2) |" in section
    assert len(result["severity_recall"]) == 6  # mild, chronic, all anaemic of two models
    saved = json.loads((tmp_path / "report" / "report.json").read_text())["severity_recall"]
    assert {(row["model"], row["severity"]): row["recall_mean"] for row in saved}[("blind", "mild")] == 0.0


def test_a_run_without_the_severity_column_says_not_recorded(make_run, tmp_path):
    run = make_run("20250201-000000_aaa0002", {"resnet18": 0.9})
    assert "severity" not in pd.read_csv(run / "predictions" / "resnet18" / "seed0_test.csv").columns
    write_report([run], tmp_path / "report")
    rows = _rows(tmp_path / "report" / "severity_recall.csv")
    assert rows[("resnet18", "mild")]["status"] == "not recorded"
    assert np.isnan(rows[("resnet18", "mild")]["recall_mean"])
    markdown = (tmp_path / "report" / "leaderboard.md").read_text()
    assert "| `resnet18` | not recorded | not recorded | not recorded | 2 |" in markdown
    assert "Not recorded: the run's predictions have no `severity` column" in markdown


def test_rule_derived_severities_count_as_unknown(make_run, tmp_path):
    """Where the rule labelled the severity (Module-II rows marked ``rule``), Module-I recall is not split by it."""
    run = make_run(
        "20250201-000000_aaa0003",
        {"3tier": 0.9, "resnet18": 0.9},
        tiered=("3tier",),
        module2=("3tier",),
        rule_labels=True,
        severity=True,
    )
    write_report([run], tmp_path / "report")
    rows = _rows(tmp_path / "report" / "severity_recall.csv")
    for model in ("3tier", "resnet18"):  # one test split: the rule's labels are known run-wide
        assert rows[(model, "mild")]["status"] == "no anaemic test tile with a known severity"
        assert rows[(model, "mild")]["n_test"] == 0 and rows[(model, "anaemic (all)")]["n_test"] == 12
    markdown = (tmp_path / "report" / "leaderboard.md").read_text()
    assert "12 anaemic test tiles whose severity the project's rule derived count as unknown" in markdown


def test_group_recall_resamples_groups():
    hit = np.array([1, 1, 1, 0, 0, 0], dtype=float)
    recall, low, high = group_recall(hit, np.array(["a", "a", "a", "b", "b", "b"]), n_resamples=200)
    assert recall == 0.5 and (low, high) == (0.0, 1.0)  # whole groups: a resample is all-a, all-b or both
    many = np.tile(hit, 10)  # 60 groups of one tile: a narrower interval around 0.5
    recall, low, high = group_recall(many, np.arange(60), n_resamples=500)
    assert recall == 0.5 and 0.2 < low < 0.5 < high < 0.8
    assert all(np.isnan(group_recall(np.array([]), np.array([]))))
