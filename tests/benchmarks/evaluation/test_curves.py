"""Learning curves in `rbc-bench report`: per-epoch records of summary.json, early stops, older runs."""

from __future__ import annotations

import json

from benchmarks.evaluation.curves import case_curves, plot_learning_curves
from benchmarks.evaluation.report import write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CLASSIFIER = {
    "name": "classifier",
    "train_accuracy": [0.5, 0.6, 0.7, 0.8],
    "train_loss": [0.9, 0.6, 0.5, 0.45],
    "validation_score": [0.5, 0.7, 0.65, 0.6],
    "selected_epoch": 2,
    "selected_on": "balanced accuracy",
    "stopped_early": True,
    "learning_rate": [0.002, 0.0015, 0.001, 0.0005],
}
TIERED = [
    {"name": "tier1", "train_loss": [0.8, 0.6], "validation_score": [], "threshold": 0.8, "reached_threshold": True},
    {"name": "tier2", "train_loss": [0.8, 0.7, 0.7], "threshold": 0.8, "reached_threshold": False},
    {"name": "fusion", "train_loss": [0.7, 0.5], "validation_score": [0.6, 0.8], "selected_epoch": 2},
]


def test_learning_curves_and_early_stops(make_run, tmp_path):
    stages = {"resnet18": [CLASSIFIER], "3tier": TIERED}
    run = make_run("20250501-000000_fff0001", {"resnet18": 0.9, "3tier": 0.8, "morph": 0.5}, stages=stages)
    result = write_report([run], tmp_path / "report")
    assert (tmp_path / "report" / "learning_curves.png").read_bytes()[:8] == PNG_MAGIC
    assert "learning_curves.png" in result["files"]
    markdown = (tmp_path / "report" / "leaderboard.md").read_text()
    section = markdown[markdown.index("## Learning curves") :]
    assert "![Learning curves, one panel per model](learning_curves.png)" in section
    assert "Stopped early: `resnet18` seed0 classifier after 4 epochs (kept 2); `resnet18` seed1" in section
    assert "| `resnet18` | seed0 | classifier | 4 | 2 (on balanced accuracy) | **early stop**" in section
    assert "| 0.002 → 0.0005 |" in section
    # An older record (no learning_rate, selected_on or stopped_early) still reports.
    assert "| `3tier` | seed1 | tier2 | 3 | last | last epoch (0.8 not reached) | not recorded |" in section
    assert "| `3tier` | seed0 | tier1 | 2 | last | training accuracy reached 0.8 | not recorded |" in section
    assert "`morph`" not in section  # a feature baseline has no epochs
    training = json.loads((tmp_path / "report" / "report.json").read_text())["training"]
    assert {(row["model"], row["stage"]): row["stopped_early"] for row in training}[("resnet18", "classifier")]


def test_a_run_without_per_epoch_records(make_run, tmp_path):
    run = make_run("20250501-000000_fff0002", {"resnet18": 0.9})
    result = write_report([run], tmp_path / "report")
    assert "learning_curves.png" not in result["files"]
    assert (
        "No per-epoch training records in these runs' summary.json"
        in (tmp_path / "report" / "leaderboard.md").read_text()
    )


def test_case_curves_skip_baselines_and_malformed_records(tmp_path):
    summary = {
        "cases": [
            {"case": "resnet18/seed0", "stages": [CLASSIFIER]},
            {"case": "morph/seed0", "chosen": {"C": 1.0}},
            {"case": "broken/seed0", "stages": [{"name": "x", "train_loss": "not a list"}, 3]},
            "not a case",
        ]
    }
    curves = case_curves(summary)
    assert list(curves) == ["resnet18"] and curves["resnet18"][0].case == "seed0"
    assert case_curves(None) == {} and case_curves({"cases": None}) == {}
    path = plot_learning_curves(
        {**curves, "3tier": case_curves({"cases": [{"case": "3tier/seed0", "stages": TIERED}]})["3tier"]},
        tmp_path / "c.png",
        title="t",
    )
    assert path.read_bytes()[:8] == PNG_MAGIC
