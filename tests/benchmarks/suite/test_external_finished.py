"""External test of a finished run: trained on a `--shortcut colour` build, scored on its clean twin's test split.

The paired builds come from the same synth seed and the same split seed (same parents in the same splits); only
the planted colour shortcut differs. The run folder must stay byte-for-byte as it was.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from benchmarks.evaluation.scoring import compare_with_recorded, read_metrics, score_run
from benchmarks.suite.external import external_test
from benchmarks.suite.runner import RunRequest, run_suite
from benchmarks.training.data import open_split
from benchmarks.training.presets import PRESETS
from cli import bench_app
from rbc_dataset.errors import DataError, UsageError
from rbc_dataset.shards.config import BuildConfig
from rbc_dataset.shards.run import build
from rbc_dataset.synth.config import SynthConfig
from rbc_dataset.synth.generate import synthesize

TINY = {"input_size": 32, "epochs": 1, "bootstrap_resamples": 20}
# bench_build's split settings (HDF5 only: the run reads nothing else), so both builds split the parents alike.
SPLIT = {"configs": ("model",), "formats": ("hdf5",), "split_ratios": (0.5, 0.25, 0.25), "folds": 2, "workers": 2}


@pytest.fixture(scope="module")
def shortcut_build(tmp_path_factory) -> Path:
    """The colour-shortcut twin of ``bench_source`` (synth seed 5), built with the clean build's split seed 0."""
    root = tmp_path_factory.mktemp("external_finished")
    synthesize(SynthConfig(n_images=4, seed=5, shortcuts=("colour",), workers=2), root / "data", show_progress=False)
    build(root / "data", out=root / "colour", config=BuildConfig(seed=0, **SPLIT), show_progress=False)
    return root / "colour"


@pytest.fixture(scope="module")
def shortcut_run(shortcut_build, tmp_path_factory) -> Path:
    """A finished run of resnet18 (seed 0, one epoch at 32 px) and shortcut-background on the colour build."""
    preset = dataclasses.replace(PRESETS["cpu-smoke"], seeds=(0,), **TINY)
    out = tmp_path_factory.mktemp("external_runs")
    models = ("resnet18", "shortcut-background")
    return run_suite(
        RunRequest("3tier", shortcut_build, preset=preset, out_dir=out, models=models, show_progress=False)
    ).path


def _hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


def test_a_finished_run_is_scored_on_the_clean_twin_and_left_untouched(shortcut_run, bench_build, tmp_path):
    before = _hashes(shortcut_run)
    out = external_test(shortcut_run, test_data=bench_build, show_progress=False)
    assert _hashes(shortcut_run) == before  # the run folder is only read
    assert out == shortcut_run.parent / "external" / f"{shortcut_run.name}_on_{bench_build.name}"
    predictions = pd.read_csv(out / "predictions" / "resnet18" / "seed0_test.csv")
    clean_test = open_split(bench_build, split="test").table
    assert set(predictions["sample_id"]) == set(clean_test["sample_id"])
    assert {"module1"} <= set(predictions["task"]) and not (out / "predictions" / "shortcut-background").exists()
    assert compare_with_recorded(out, score_run(out, n_resamples=20)) == []  # `rbc-bench score` reproduces it
    summary = json.loads((out / "summary.json").read_text())
    entry = summary["models"]["resnet18"]
    internal = read_metrics(shortcut_run).query("model == 'resnet18' and split == 'test' and head == 'global'")
    assert entry["internal_balanced_accuracy"] == pytest.approx(internal["balanced_accuracy"].mean())
    assert entry["shortcut_reliance"] == pytest.approx(
        entry["internal_balanced_accuracy"] - entry["external_balanced_accuracy"]
    )
    low, high = entry["external_ci"]  # undefined (NaN) where too few resamples hold both classes (2 test parents)
    assert (np.isnan(low) and np.isnan(high)) or low <= entry["external_balanced_accuracy"] <= high
    assert summary["source_run"] == str(shortcut_run.resolve()) and summary["test_build"] == str(bench_build.resolve())
    assert "shortcut-background" in summary["skipped"]
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["test_data"] == str(bench_build.resolve()) and config["external_test_of"] == str(
        shortcut_run.resolve()
    )
    with pytest.raises(UsageError, match="already exists"):
        external_test(shortcut_run, test_data=bench_build, show_progress=False)
    # The report puts the reliance next to the internal and external scores.
    from benchmarks.evaluation.report import write_report

    write_report([shortcut_run, out], tmp_path / "report")
    reliance = pd.read_csv(tmp_path / "report" / "reliance.csv")
    assert reliance["model"].tolist() == ["resnet18"]
    row = reliance.iloc[0]
    assert row["shortcut_reliance"] == pytest.approx(
        row["internal_balanced_accuracy"] - row["external_balanced_accuracy"]
    )
    assert "## Shortcut reliance (external tests)" in (tmp_path / "report" / "leaderboard.md").read_text()


def test_on_its_own_build_it_reproduces_the_runs_test_predictions(shortcut_run, shortcut_build, tmp_path):
    out = external_test(shortcut_run, test_data=shortcut_build, out=tmp_path / "self", show_progress=False)
    again = pd.read_csv(out / "predictions" / "resnet18" / "seed0_test.csv").query("task == 'module1'")
    recorded = pd.read_csv(shortcut_run / "predictions" / "resnet18" / "seed0_test.csv").query("task == 'module1'")
    merged = recorded.merge(again, on=["head", "sample_id"], suffixes=("_run", "_again"))
    assert len(merged) == len(recorded) > 0
    assert (merged["prob_run"] - merged["prob_again"]).abs().max() < 1e-5
    reliance = json.loads((out / "summary.json").read_text())["models"]["resnet18"]["shortcut_reliance"]
    assert reliance == pytest.approx(0.0, abs=1e-9)


def _train_split_as_test(build_dir: Path, out: Path) -> Path:
    """A build whose test shard is another build's training shard (a copy: the source build is left as it is)."""
    (out / "hdf5" / "model").mkdir(parents=True)
    shutil.copyfile(build_dir / "dataset.json", out / "dataset.json")
    shutil.copyfile(build_dir / "hdf5" / "model" / "train.h5", out / "hdf5" / "model" / "test.h5")
    return out


def test_refuses_a_folder_that_is_not_a_run_and_a_build_sharing_training_parents(shortcut_run, bench_build, tmp_path):
    with pytest.raises(DataError, match="finished run folder"):
        external_test(bench_build, test_data=bench_build, out=tmp_path / "a", show_progress=False)
    leaky = _train_split_as_test(bench_build, tmp_path / "leaky")  # its test parents are the run's training parents
    with pytest.raises(DataError, match="shared parents"):
        external_test(shortcut_run, test_data=leaky, out=tmp_path / "b", show_progress=False)
    assert not (tmp_path / "b").exists() and not list(tmp_path.glob(".b*"))


def test_refuses_a_run_without_checkpoints(shortcut_run, bench_build, tmp_path):
    copy = tmp_path / "3tier" / shortcut_run.name
    for path in shortcut_run.rglob("*"):
        if path.is_file() and "checkpoints" not in path.parts:
            (copy / path.relative_to(shortcut_run)).parent.mkdir(parents=True, exist_ok=True)
            (copy / path.relative_to(shortcut_run)).write_bytes(path.read_bytes())
    with pytest.raises(DataError, match="checkpoints"):
        external_test(copy, test_data=bench_build, show_progress=False)


def test_the_cli_writes_the_folder_and_prints_the_reliance(shortcut_run, bench_build, tmp_path):
    result = CliRunner().invoke(
        bench_app,
        ["external-test", str(shortcut_run), "--test-data", str(bench_build), "--out", str(tmp_path / "x"), "-q"],
    )
    assert result.exit_code == 0, result.output
    assert "shortcut reliance" in result.output and (tmp_path / "x" / "metrics.csv").is_file()
    missing = CliRunner().invoke(bench_app, ["external-test", str(shortcut_run), "--test-data", str(tmp_path / "no")])
    assert missing.exit_code == 2 and "Traceback" not in missing.output
