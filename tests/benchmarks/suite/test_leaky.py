"""The leaky-split demonstration (`rbc-bench run --protocol leaky-tiles`): refused unless named, marked everywhere."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from benchmarks.api import run_benchmark
from benchmarks.evaluation.report import leaderboard_rows, write_report
from benchmarks.suite.leaky import (
    MARKER,
    REPORT_LABEL,
    WARNING,
    check_protocol,
    leak_counts,
    leaky_split,
)
from benchmarks.suite.protocol import ProtocolError
from cli import bench_app
from rbc_dataset.errors import UsageError
from tests.helpers.fake_runs import write_fake_run

FAST = {"preset": "cpu-smoke", "models": ("morphometric", "shortcut-background"), "progress": False}


@pytest.mark.parametrize("name", ["leaky", "LEAKY-TILES", "leaky_tiles", "leaky-tiles ", "tiles", ""])
def test_only_the_whole_name_turns_the_leaky_protocol_on(name):
    with pytest.raises(UsageError, match="choices: parents, leaky-tiles"):
        check_protocol(name)
    assert check_protocol("leaky-tiles") == "leaky-tiles" and check_protocol("parents") == "parents"


def test_the_tile_level_split_keeps_the_sizes_and_the_classes_and_leaks_parents():
    parents = pd.Series(np.repeat([f"p{i}" for i in range(8)], 12))
    labels = np.repeat(np.arange(8) % 2, 12)
    split = leaky_split(labels, validation_size=24, test_size=24)
    assert (len(split.train), len(split.validation), len(split.test)) == (48, 24, 24)
    assert sorted(np.concatenate([split.train, split.validation, split.test])) == list(range(96))
    assert labels[split.test].sum() == 12 and labels[split.validation].sum() == 12  # stratified by class
    again = leaky_split(labels, validation_size=24, test_size=24)
    assert np.array_equal(split.test, again.test)  # seeded: one split for every model and seed
    leak = leak_counts({name: parents.iloc[getattr(split, name)] for name in ("train", "validation", "test")})
    assert leak["test_parents_with_train_tiles"] == leak["test_parents"] == 8
    honest = leak_counts({"train": parents[:48], "validation": parents[48:72], "test": parents[72:]})
    assert honest["test_parents_with_train_or_validation_tiles"] == 0 and honest["test_parents"] == 2


def _leaky_fake_run(root, name: str):
    run = write_fake_run(root, name, {"resnet18": 1.0, "shortcut-cbc": 0.9})
    config = {"suite": "3tier", "data": "/data", "protocol": "leaky-tiles", "protocol_warning": WARNING}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    return run


def test_the_report_labels_leaky_rows_and_never_ranks_them_with_honest_ones(tmp_path):
    honest = write_fake_run(tmp_path / "runs", "20250101-000000_aaa1111", {"mobilenet_v2": 0.5})
    leaky = _leaky_fake_run(tmp_path / "runs", f"20250102-000000_bbb2222_{MARKER}")
    rows = leaderboard_rows([leaky, honest])
    assert [REPORT_LABEL in row["run"] for row in rows] == [False, True, True]  # last, though they score higher
    result = write_report([honest, leaky], tmp_path / "report", command="rbc-bench report")
    assert all(REPORT_LABEL in run for run in pd.read_csv(tmp_path / "report" / "leaderboard.csv")["run"][1:])
    assert [s for s in result["warnings"] if WARNING in s] == [f"3tier/{leaky.name} {REPORT_LABEL}: {WARNING}"]
    markdown = (tmp_path / "report" / "leaderboard.md").read_text()
    ranked = markdown.split("## Module I")[1].split("Sources:")[0]
    assert "mobilenet_v2" in ranked and "resnet18" not in ranked  # not ranked next to the honest run
    apart = markdown.split(f"## {REPORT_LABEL}")[1]
    assert "resnet18" in apart and "| - |" in apart and WARNING in apart


@pytest.fixture(scope="module")
def both_runs(bench_build, tmp_path_factory):
    """The same request under the honest protocol (the default) and under ``leaky-tiles``."""
    out = tmp_path_factory.mktemp("runs")
    honest = run_benchmark("3tier", bench_build, out_dir=out / "honest", **FAST)
    leaky = run_benchmark("3tier", bench_build, out_dir=out / "leaky", protocol="leaky-tiles", **FAST)
    return honest.path, leaky.path


def test_the_default_run_is_honest_and_unmarked(both_runs):
    honest, _ = both_runs
    assert MARKER not in honest.name and "LEAKY" not in (honest / "log.txt").read_text()
    assert yaml.safe_load((honest / "config.yaml").read_text())["protocol"] == "train / validation / test"
    summary = json.loads((honest / "summary.json").read_text())
    assert summary["protocol"]["name"] == "parents" and "warning" not in summary["protocol"]
    assert summary["protocol"]["leak"]["test_parents_with_train_or_validation_tiles"] == 0
    assert "protocol" not in pd.read_csv(honest / "metrics.csv").columns


def test_every_output_of_a_leaky_run_says_so(both_runs, tmp_path):
    _, leaky = both_runs
    assert leaky.name.endswith(f"_{MARKER}")
    config = yaml.safe_load((leaky / "config.yaml").read_text())
    assert config["protocol"] == "leaky-tiles" and config["protocol_warning"] == WARNING
    assert config["leaky_split"]["tiles"] == {"train": 48, "validation": 24, "test": 24}  # the build's sizes
    summary = json.loads((leaky / "summary.json").read_text())
    assert summary["protocol"]["name"] == "leaky-tiles" and summary["protocol"]["warning"] == WARNING
    leak = summary["protocol"]["leak"]
    assert leak["test_parents_with_train_tiles"] > 0 and leak["test_parents"] > 2  # the build's test has 2
    log = (leaky / "log.txt").read_text().splitlines()
    assert WARNING in log[1] and WARNING in log[-1]  # at the start and at the end
    for path in [leaky / "metrics.csv", *sorted((leaky / "predictions").rglob("*.csv"))]:
        assert set(pd.read_csv(path)["protocol"]) == {"leaky-tiles"}, path
    report = CliRunner().invoke(bench_app, ["report", str(leaky), "--out", str(tmp_path / "report")])
    assert report.exit_code == 0, report.output
    assert WARNING in " ".join(report.output.split())
    assert all(REPORT_LABEL in run for run in pd.read_csv(tmp_path / "report" / "leaderboard.csv")["run"])
    assert f"## {REPORT_LABEL}" in (tmp_path / "report" / "leaderboard.md").read_text()
    rescored = CliRunner().invoke(bench_app, ["score", str(leaky)])
    assert rescored.exit_code == 0, rescored.output


def test_the_leaky_run_draws_tiles_of_one_parent_into_train_and_test(both_runs, bench_build):
    _, leaky = both_runs
    test = pd.read_csv(leaky / "predictions" / "morphometric" / "seed0_test.csv")
    validation = pd.read_csv(leaky / "predictions" / "morphometric" / "seed0_validation.csv")
    assert len(test) == 24 and set(test["sample_id"]).isdisjoint(validation["sample_id"])
    accesses = json.loads((leaky / "summary.json").read_text())["protocol"]["test_accesses"]
    assert [entry["case"] for entry in accesses] == ["morphometric/seed0", "shortcut-background/seed0"]


def test_the_guard_still_allows_one_look_per_case(bench_build, tmp_path):
    from benchmarks.suite.protocol import TestSplitGuard
    from benchmarks.suite.split_data import leaky_partition
    from benchmarks.training.data import open_split
    from benchmarks.training.presets import PRESETS

    views = [open_split(bench_build, split=name) for name in ("train", "validation", "test")]
    leaky = leaky_partition(views, PRESETS["cpu-smoke"])
    guard = TestSplitGuard(lambda: leaky.test)
    with pytest.raises(ProtocolError, match="before model selection"):
        guard.final_test("m/seed0")
    guard.close_selection("m/seed0")
    assert guard.final_test("m/seed0") is leaky.test
    with pytest.raises(ProtocolError, match="already used"):
        guard.final_test("m/seed0")


@pytest.mark.parametrize("name", ["leaky", "LEAKY-TILES"])
def test_the_cli_refuses_anything_but_the_whole_name(bench_build, tmp_path, name):
    args = ["run", "3tier", "--data", str(bench_build), "--preset", "cpu-smoke", "--models", "shortcut-background"]
    result = CliRunner().invoke(bench_app, [*args, "--protocol", name, "--out", str(tmp_path)])
    assert result.exit_code == 2 and "choices: parents, leaky-tiles" in " ".join(result.output.split())
    assert not any(tmp_path.iterdir())  # refused before a run folder exists


@pytest.mark.parametrize(
    ("options", "refusal"),
    [
        ({"cv": True}, "--cv"),
        ({"models": ("3tier",)}, "3tier are not supported"),
        ({"data_mode": "loader"}, "--data-mode loader"),
    ],
)
def test_leaky_tiles_with_an_option_it_cannot_honour_is_refused(bench_build, tmp_path, options, refusal):
    with pytest.raises(UsageError, match=refusal):
        run_benchmark("3tier", bench_build, out_dir=tmp_path, protocol="leaky-tiles", **(FAST | options))
    assert not any(tmp_path.iterdir())


def test_a_resume_keeps_the_protocol_the_run_started_with():
    from benchmarks.suite.request import compare_configs

    lines, fixes = compare_configs({"protocol": "leaky-tiles"}, {"protocol": "train / validation / test"})
    assert lines == ["protocol was leaky-tiles, requested train / validation / test"]
    assert fixes == ["--protocol leaky-tiles"]
    _, fixes = compare_configs({"protocol": "train / validation / test"}, {"protocol": "leaky-tiles"})
    assert fixes == ["no --cv and no --protocol leaky-tiles"]
