"""External tests: a run trained on one build and scored on another build's test split (shortcut reliance)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from benchmarks.api import run_benchmark
from cli import bench_app
from rbc_dataset.errors import DataError
from rbc_dataset.shards.config import BuildConfig
from rbc_dataset.shards.run import build

FAST = {"preset": "cpu-smoke", "models": ("shortcut-background",), "progress": False}


def _build(source, out, *, seed: int):
    config = BuildConfig(configs=("model",), formats=("hdf5",), split_ratios=(0.5, 0.25, 0.25), folds=0, seed=seed)
    build(source, out=out, config=config, show_progress=False)
    return out


@pytest.fixture(scope="module")
def paired_build(bench_source):
    """A second build of the same source split the same way: its test parents are the training build's."""
    return _build(bench_source, bench_source.parent / "paired", seed=0)


def test_a_run_is_scored_on_another_builds_test_split_and_says_so(bench_build, paired_build, tmp_path):
    result = run_benchmark("3tier", bench_build, out_dir=tmp_path, test_data=paired_build, **FAST)
    config = yaml.safe_load((result.path / "config.yaml").read_text())
    assert config["test_data"] == str(paired_build.resolve()) and config["test"].startswith("external")
    summary = json.loads((result.path / "summary.json").read_text())
    assert summary["protocol"]["test"] == f"external: the test split of {paired_build.resolve()}"
    predictions = pd.read_csv(result.path / "predictions" / "shortcut-background" / "seed0_test.csv")
    with_paired = pd.read_csv(paired_build / "splits.csv") if (paired_build / "splits.csv").is_file() else None
    assert len(predictions) == 24
    if with_paired is not None:
        assert set(predictions["sample_id"]) <= set(with_paired["sample_id"])
    assert "external test" in (result.path / "log.txt").read_text()


def test_an_external_test_sharing_training_parents_is_refused(bench_build, bench_source, tmp_path):
    other_split = _build(bench_source, tmp_path / "other_split", seed=3)
    with pytest.raises(DataError, match="shared parents"):
        run_benchmark("3tier", bench_build, out_dir=tmp_path / "runs", test_data=other_split, **FAST)
    assert not (tmp_path / "runs").exists()  # refused before a run folder was made


def test_the_cli_takes_test_data_and_refuses_a_missing_one(bench_build, tmp_path):
    missing = CliRunner().invoke(
        bench_app, ["run", "3tier", "--data", str(bench_build), "--test-data", str(tmp_path / "nowhere")]
    )
    assert missing.exit_code == 2 and "no such file or folder" in missing.output
    assert "Traceback" not in missing.output
