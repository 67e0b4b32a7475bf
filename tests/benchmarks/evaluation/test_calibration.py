"""Calibration in `rbc-bench report`: reliability diagrams, ECE and Brier per model; metrics.csv without Brier."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.evaluation.calibration import plot_reliability_diagrams
from benchmarks.evaluation.report import write_report
from benchmarks.evaluation.scoring import compare_with_recorded, score_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _toy(table: pd.DataFrame, *, model: str, seed: int) -> np.ndarray:
    """``calibrated``: 0.99 on anaemic, 0.01 on healthy tiles (right and sure); ``timid``: right but only 0.6 sure."""
    anaemic = table["label"].to_numpy() == 1
    sure = 0.99 if model == "calibrated" else 0.6
    return np.where(anaemic, sure, 1.0 - sure)


def test_a_calibrated_toy_has_low_ece_and_brier_and_comes_first(make_run, tmp_path):
    run = make_run("20250301-000000_ccc0001", {"timid": 0.9, "calibrated": 0.9}, predict=_toy)
    result = write_report([run], tmp_path / "report")
    assert (tmp_path / "report" / "reliability.png").read_bytes()[:8] == PNG_MAGIC
    rows = {row["model"]: row for row in result["leaderboard"]}
    assert rows["calibrated"]["ece_mean"] == pytest.approx(0.01) and rows["calibrated"]["brier_mean"] == pytest.approx(
        1e-4
    )
    assert rows["timid"]["ece_mean"] == pytest.approx(0.4) and rows["timid"]["brier_mean"] == pytest.approx(0.16)
    board = pd.read_csv(tmp_path / "report" / "leaderboard.csv").set_index("model")
    assert board.loc["timid", "brier_mean"] == pytest.approx(0.16)
    markdown = (tmp_path / "report" / "leaderboard.md").read_text()
    section = markdown[markdown.index("## Calibration") :]
    assert "![Reliability diagrams, one panel per model](reliability.png)" in section
    assert "| `calibrated` | 0.010 ± 0.000 | 0.000 ± 0.000 | 2 |" in section
    assert section.index("`calibrated`") < section.index("`timid`")  # the lower Brier first


def test_metrics_csv_without_brier_still_reports_and_rescores(make_run, tmp_path):
    """A run scored before ``brier`` existed: the report says not recorded; `rbc-bench score` compares the rest."""
    run = make_run("20250301-000000_ccc0002", {"resnet18": 0.8})
    metrics = pd.read_csv(run / "metrics.csv")
    metrics.drop(columns=["brier"]).to_csv(run / "metrics.csv", index=False)
    result = write_report([run], tmp_path / "report")
    assert np.isnan(result["leaderboard"][0]["brier_mean"])
    markdown = (tmp_path / "report" / "leaderboard.md").read_text()
    assert "| `resnet18` | " in markdown and "| not recorded | 2 |" in markdown
    rescored = score_run(run, n_resamples=100)
    assert "brier" in rescored.columns and compare_with_recorded(run, rescored) == []
    tampered = metrics.assign(brier=metrics["brier"] + 0.01)
    tampered.to_csv(run / "metrics.csv", index=False)
    assert any("brier recorded" in line for line in compare_with_recorded(run, rescored))


def test_reliability_diagram_of_a_one_class_model(tmp_path):
    curves = {"all anaemic": (np.ones(5, dtype=int), np.linspace(0.1, 0.9, 5)), "mixed": (np.array([0, 1]), [0.2, 0.7])}
    path = plot_reliability_diagrams(curves, tmp_path / "r.png", title="test")
    assert path.read_bytes()[:8] == PNG_MAGIC
