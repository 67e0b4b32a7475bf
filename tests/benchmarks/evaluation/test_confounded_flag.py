"""End to end: the confounded flag fires on a `--shortcut colour` build and not on its clean twin.

Paired builds: `rbc-dataset synth --shortcut colour` and the same synth without it (same seed: same cells, same
parents, only the white balance tied to the class), each built and run with the background-colour baseline
(`rbc-bench run`; a feature baseline is deterministic, so one seed), then `rbc-bench report` on both runs. 10 images
per class split 0.3/0.2/0.5 gives 10 test parents, enough for the verdict to speak without the few-parents caveat.
Measured with this seed: colour build balanced accuracy and ROC-AUC 1.000 [1.000, 1.000]; clean build balanced
accuracy 0.525 [0.27, 0.77], ROC-AUC 0.56 [0.21, 0.86] (seeds 3 and 5 behave alike: 1.000 on colour, intervals
containing 0.5 on clean).
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from benchmarks.api import run_benchmark
from benchmarks.evaluation.shortcuts import CONFOUNDED
from benchmarks.suite.listing import print_run_leaderboard
from cli import bench_app, dataset_app
from rbc_dataset.shards.config import BuildConfig
from rbc_dataset.shards.run import build

SEED = 11


@pytest.fixture(scope="module")
def paired_runs(tmp_path_factory) -> dict:
    """Run folders of shortcut-background on the colour build and on the clean build."""
    root = tmp_path_factory.mktemp("confounded_flag")
    runs = {}
    for name, shortcut in (("colour", ["--shortcut", "colour"]), ("clean", [])):
        source = root / name / "source"
        args = ["synth", "--out", str(source), "--n-images", "10", "--seed", str(SEED), "--no-tiles", "--quiet"]
        synth = CliRunner().invoke(dataset_app, [*args, "--workers", "2", *shortcut])
        assert synth.exit_code == 0, synth.output
        config = BuildConfig(
            configs=("model",), formats=("hdf5",), split_ratios=(0.3, 0.2, 0.5), folds=0, audit=False, workers=2
        )
        build(source, out=root / name / "dataset", config=config, show_progress=False)
        result = run_benchmark(
            "3tier", root / name / "dataset", preset="cpu-smoke", models=("shortcut-background",), out_dir=root / name
        )
        runs[name] = result.path
    return runs


def test_the_flag_fires_on_the_colour_build_and_not_on_the_clean_one(paired_runs, tmp_path):
    out = tmp_path / "report"
    cli = CliRunner().invoke(
        bench_app, ["report", str(paired_runs["colour"]), str(paired_runs["clean"]), "--out", str(out)]
    )
    assert cli.exit_code == 0, cli.output
    checks = {row["run"].split("/")[-1]: row for row in json.loads((out / "report.json").read_text())["shortcuts"]}
    colour, clean = checks[paired_runs["colour"].name], checks[paired_runs["clean"].name]
    assert colour["verdict"] == CONFOUNDED and colour["n_test_parents"] == 10
    assert colour["roc_auc_ci_low"] > 0.5 and colour["balanced_accuracy_ci_low"] > 0.5
    assert colour["sentence"].startswith("the dataset is confounded (sure: the 95 % interval of ROC-AUC and of")
    assert clean["verdict"] != CONFOUNDED  # its intervals include chance
    assert clean["balanced_accuracy_ci_low"] <= 0.5 <= clean["balanced_accuracy_ci_high"]
    assert clean["roc_auc_ci_low"] <= 0.5 <= clean["roc_auc_ci_high"]
    printed = " ".join(cli.output.split())
    assert printed.count("shortcut check: the dataset is confounded") == 1 and "from the background colour" in printed
    # The two builds share sample ids but not images: their runs are never paired.
    assert (
        "Models scored on different test samples (or builds) are not compared" in (out / "leaderboard.md").read_text()
    )


def test_the_run_end_leaderboard_says_the_same(paired_runs, capsys):
    print_run_leaderboard(paired_runs["colour"])
    assert "shortcut: the dataset is confounded (sure:" in " ".join(capsys.readouterr().err.split())
    print_run_leaderboard(paired_runs["clean"])
    assert "confounded (sure" not in capsys.readouterr().err
