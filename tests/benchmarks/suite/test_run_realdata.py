"""rbc-bench on the real AneRBC-I sample (skips without ../shared/realdata): severity is unknown there, so
Module-II trains on rule-derived labels (marked in the report) and the rule itself is not scored; the raw release
masks are found; the 2-parent test split is warned about."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest

from benchmarks.evaluation.report import write_report
from benchmarks.suite.runner import RunRequest, run_suite
from benchmarks.training.presets import PRESETS
from rbc_dataset.shards.config import BuildConfig
from rbc_dataset.shards.run import build
from tests.helpers import REALDATA

pytestmark = pytest.mark.realdata


def test_real_anerbc1_runs_with_derived_severity_and_the_raw_mask_probe(tmp_path, monkeypatch):
    monkeypatch.chdir(REALDATA)  # the build names its source "AneRBC-I" only: the raw-mask probe finds it from here
    built = tmp_path / "real"
    config = BuildConfig(configs=("model",), formats=("hdf5",), split_ratios=(0.5, 0.25, 0.25), folds=0)
    build(
        REALDATA / "AneRBC-I",
        out=built,
        config=dataclasses.replace(config, allow_invalid=True, workers=2),
        show_progress=False,
    )
    small = {"input_size": 32, "epochs": 1, "tier_max_epochs": 1, "severity_epochs": 1, "bootstrap_resamples": 50}
    preset = dataclasses.replace(PRESETS["cpu-smoke"], seeds=(0,), **small)
    models = ("3tier", "shortcut-raw-mask", "shortcut-background")
    result = run_suite(
        RunRequest("3tier", built, preset=preset, out_dir=tmp_path / "runs", models=models, show_progress=False)
    )
    summary = json.loads((result.path / "summary.json").read_text())
    assert summary["skipped"] == {}
    derived = summary["severity_labels"]
    assert derived["train"]["known"] == 0 and derived["train"]["derived"] > 0  # no severity in the release
    metrics = pd.read_csv(result.path / "metrics.csv")
    module2 = metrics[metrics["task"] == "module2"]
    assert "rule" not in set(module2["head"])  # scoring the rule against its own labels would be circular
    assert {"shortcut-raw-mask", "shortcut-background"} <= set(metrics["model"])
    # The learned head is trained and scored on the rule's labels: marked, and kept out of the ranking.
    learned = module2[(module2["head"] == "learned") & (module2["split"] == "test")]
    assert len(learned) and (learned["n_rule_labels"] == learned["n"]).all()
    # 2 of the 8 real parents are the test split: the leaderboard says so before any number.
    report = write_report([result.path], tmp_path / "report")
    markdown = (tmp_path / "report" / "leaderboard.md").read_text()
    assert "Module I test split: 24 samples (12 healthy, 12 anaemic) from 2 parent images" in markdown
    assert "at most 3 distinct resamples" in markdown and markdown.index("Read this first") < markdown.index("| # |")
    assert [row["labels"] for row in report["module2"]] == ["rule-derived labels"]
    assert "Scored on **rule-derived labels** (not ranked)" in markdown
    assert summary["warnings"] == report["warnings"]
