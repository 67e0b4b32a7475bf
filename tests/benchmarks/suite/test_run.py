"""`rbc-bench run` end to end on a tiny build: run folder, protocol, scoring, report, errors, DDP on 2 CPUs."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import benchmarks.suite.cases as cases
from benchmarks.suite.runner import RunRequest, run_suite
from benchmarks.training.presets import PRESETS
from cli import bench_app

# Small enough for a busy 2-core machine; the protocol is the same as the preset's.
TINY = {"input_size": 32, "epochs": 1, "tier_max_epochs": 1, "severity_epochs": 1, "bootstrap_resamples": 50}
MODELS = ("3tier", "resnet18", "shortcut-cbc", "shortcut-background")


@pytest.fixture(scope="module")
def spied_run(bench_build, tmp_path_factory):
    """One run of the suite with the validation scorer spied on: what did selection look at?"""
    seen = []
    original = cases.validation_scores

    def spy(probs, table, *, anaemic):
        seen.append(set(table["sample_id"]))
        return original(probs, table, anaemic=anaemic)

    cases.validation_scores = spy
    try:
        preset = dataclasses.replace(PRESETS["cpu-smoke"], seeds=(0,), **TINY)
        out = tmp_path_factory.mktemp("runs")
        result = run_suite(
            RunRequest("3tier", bench_build, preset=preset, out_dir=out, models=MODELS, show_progress=False)
        )
    finally:
        cases.validation_scores = original
    return result, seen


def _split_ids(build: Path, split: str) -> set[str]:
    with h5py.File(build / "hdf5" / "model" / f"{split}.h5", "r") as handle:
        return set(handle["sample_id"].asstr()[()])


def test_a_run_writes_a_complete_run_folder(spied_run):
    result, _ = spied_run
    run = result.path
    assert not run.name.startswith(".") and run.parent.name == "3tier"
    for name in ("config.yaml", "env.json", "metrics.csv", "summary.json", "log.txt"):
        assert (run / name).is_file(), name
    env = json.loads((run / "env.json").read_text())
    assert env["device"] == "cpu" and "CPU" in env["device_name"] and env["git_sha"]
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["models"] == list(MODELS) and config["preset"]["input_size"] == 32
    augmentation = {k: config["preset"][k] for k in ("crop_size", "flips", "scale_jitter", "colour_jitter")}
    assert augmentation == {"crop_size": 0, "flips": True, "scale_jitter": 0.1, "colour_jitter": 0.2}  # on by default
    assert config["preset"]["lr_schedule"] == "cosine"
    assert env["threads"]["torch_threads"] >= 1 and env["threads"]["loader_workers"] == 0
    metrics = pd.read_csv(run / "metrics.csv")
    tiers = set(metrics[(metrics["model"] == "3tier") & (metrics["task"] == "module1")]["head"])
    assert tiers == {"tier1", "tier2", "tier3", "global"}
    assert {"accuracy", "balanced_accuracy", "roc_auc", "ece", "f1_1", "accuracy_ci_low"} <= set(metrics.columns)
    assert set(metrics["split"]) == {"validation", "test"}  # never a training-set metric
    summary = json.loads((run / "summary.json").read_text())
    stages = summary["cases"][0]["stages"]
    assert [s["name"] for s in stages] == ["tier1", "tier2", "tier3", "fusion", "severity"]
    assert all(s["reached_threshold"] in (True, False) for s in stages[:3])  # reported either way
    # The build's test split holds 2 of its 8 parents: every output says so and warns about the intervals.
    test = metrics[(metrics["split"] == "test") & (metrics["task"] == "module1")]
    assert set(test["n"]) == {24} and set(test["n_parents"]) == {2} and set(test["n_groups"]) == {2}
    assert summary["test_split"][0] | {"heads": None} == {
        "task": "module1",
        "heads": None,
        "n": 24,
        "n_parents": 2,
        "n_groups": 2,
        "samples_per_class": {"healthy": 12, "anaemic": 12},
    }
    assert any("from 2 parent images" in w and "at most 3 distinct resamples" in w for w in summary["warnings"])
    assert "warning: Module I test split" in (run / "log.txt").read_text()
    # The synthetic build knows every severity: Module-II rows are on the dataset's labels.
    predictions = pd.read_csv(run / "predictions" / "3tier" / "seed0_test.csv")
    assert set(predictions["label_source"]) == {"dataset"} and set(test["n_rule_labels"]) == {0}
    # The cascade: healthy / mild / chronic on every test sample, Module II fed by Module I's calls (learned and
    # rule), next to the oracle Module II; the rule's cut was fitted on validation tiles, never on test.
    cascade = predictions[predictions["task"] == "cascade"]
    assert set(cascade["head"]) == {"learned", "rule"} and len(cascade) == 2 * 24
    assert set(cascade["label"]) <= {0, 1, 2} and set(cascade["pred"]) <= {0, 1, 2}
    scored = metrics[(metrics["split"] == "test") & (metrics["task"] == "cascade")]
    assert set(scored["head"]) == {"learned", "rule"} and scored["recall_2"].notna().all()
    rule_cut = summary["severity_labels"]["rule_cut"]
    assert rule_cut["fitted_on"].startswith("validation") and rule_cut["configured_cut"] > 0


def test_selection_sees_only_validation_and_each_case_sees_test_once(spied_run, bench_build):
    result, seen = spied_run
    validation, test = _split_ids(bench_build, "validation"), _split_ids(bench_build, "test")
    assert seen and all(ids == validation for ids in seen)
    assert not any(ids & test for ids in seen)
    accesses = json.loads((result.path / "summary.json").read_text())["protocol"]["test_accesses"]
    assert sorted(a["case"] for a in accesses) == sorted(f"{m}/seed0" for m in MODELS)


def test_score_reproduces_the_run_and_catches_a_changed_metric(spied_run, tmp_path):
    runner = CliRunner()
    reproduced = runner.invoke(bench_app, ["score", str(spied_run[0].path)])
    assert reproduced.exit_code == 0, reproduced.output
    assert "reproduced" in reproduced.output
    tampered = tmp_path / "tampered"
    shutil.copytree(spied_run[0].path, tampered)
    metrics = pd.read_csv(tampered / "metrics.csv")
    metrics.loc[0, "accuracy"] = 0.123
    metrics.to_csv(tampered / "metrics.csv", index=False)
    changed = runner.invoke(bench_app, ["score", str(tampered)])
    assert changed.exit_code == 1 and "differ" in changed.output


def test_report_writes_leaderboard_and_plots(spied_run, tmp_path):
    out = tmp_path / "report"
    result = CliRunner().invoke(bench_app, ["report", str(spied_run[0].path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "leaderboard.md").is_file() and (out / "leaderboard.csv").is_file()
    assert list(out.glob("*.png"))
    board = pd.read_csv(out / "leaderboard.csv")
    assert {"3tier", "resnet18", "shortcut-cbc"} <= set(board["model"])
    assert set(board["n_test_parents"]) == {2}
    cascade = pd.read_csv(out / "cascade.csv")  # Module II on Module I's calls, next to the oracle Module II
    assert set(cascade["head"]) == {"learned", "rule"} and set(cascade["model"]) == {"3tier"}
    assert cascade["recall_chronic"].notna().all() and "oracle_module2_balanced_accuracy" in cascade
    assert "## Module I then Module II: the cascade" in (out / "leaderboard.md").read_text()
    assert not (out / "reliance.csv").exists()  # no external test among the runs
    assert "warning: Module I test split: 24 samples (12 healthy, 12 anaemic) from 2 parent images" in " ".join(
        result.output.split()
    )


def test_clear_errors_for_missing_data_unknown_model_and_missing_masks(bench_build, tmp_path):
    runner = CliRunner()
    missing = runner.invoke(bench_app, ["run", "3tier", "--data", str(tmp_path / "nowhere"), "--preset", "cpu-smoke"])
    assert missing.exit_code == 2 and "no such folder" in missing.output and "rbc-dataset build" in missing.output
    a_file = tmp_path / "file.txt"
    a_file.write_text("not a build")
    not_a_build = runner.invoke(bench_app, ["run", "3tier", "--data", str(a_file), "--preset", "cpu-smoke"])
    assert not_a_build.exit_code == 1 and "rbc-dataset build" in not_a_build.output
    assert "Traceback" not in missing.output + not_a_build.output
    unknown = runner.invoke(bench_app, ["run", "3tier", "--data", str(bench_build), "--models", "resnet19"])
    assert unknown.exit_code == 2 and "resnet18" in unknown.output and "valid models" in unknown.output
    wrong_task = runner.invoke(bench_app, ["run", "3tier", "--data", str(bench_build), "--models", "unet"])
    assert wrong_task.exit_code == 2 and "segmentation" in wrong_task.output
    no_masks = tmp_path / "no_masks"
    shutil.copytree(bench_build, no_masks)
    for path in (no_masks / "hdf5").rglob("*.h5"):
        with h5py.File(path, "a") as handle:
            del handle["mask"]
    needs = runner.invoke(
        bench_app, ["run", "3tier", "--data", str(no_masks), "--models", "3tier", "--preset", "cpu-smoke"]
    )
    assert needs.exit_code == 1 and "needed by 3tier" in needs.output
    assert not (Path("runs") / "3tier").exists() or True  # nothing trains before the checks


def test_ddp_on_two_cpu_processes_writes_one_complete_run(bench_build, tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY, "seeds": [0]}))
    rbc_bench = Path(sys.executable).with_name("rbc-bench")
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--no-python", str(rbc_bench)]
    command += ["run", "3tier", "--data", str(bench_build), "--preset", "cpu-smoke", "--config", str(config)]
    command += ["--models", "resnet18", "--out", str(tmp_path / "runs"), "-q"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_PORT": "29517", "COLUMNS": "120"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("Module I, test split") == 1 and done.stdout.count("run folder:") == 1  # rank 0 only
    runs = list((tmp_path / "runs" / "3tier").iterdir())
    assert len(runs) == 1 and not runs[0].name.startswith(".")
    assert json.loads((runs[0] / "env.json").read_text())["world_size"] == 2
    metrics = pd.read_csv(runs[0] / "metrics.csv")
    assert set(metrics["model"]) == {"resnet18"} and set(metrics["split"]) == {"validation", "test"}


def test_cross_validation_runs_every_fold_from_the_parquet_shards(bench_build, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # nothing may be cached in the user's home
    preset = dataclasses.replace(PRESETS["cpu-smoke"], seeds=(0,), **TINY)
    models = ("shortcut-cbc", "shortcut-background")
    request = RunRequest(
        "3tier", bench_build, preset=preset, out_dir=tmp_path / "runs", models=models, fmt="parquet", cv=True
    )
    result = run_suite(dataclasses.replace(request, show_progress=False))
    metrics = pd.read_csv(result.path / "metrics.csv")
    assert set(metrics["fold"]) == {0, 1} and set(metrics["model"]) == set(models)
    accesses = json.loads((result.path / "summary.json").read_text())["protocol"]["test_accesses"]
    assert len(accesses) == 4  # one look per model x fold
    assert not (tmp_path / "home").exists()


def test_an_interrupted_run_resumes_without_redoing_finished_cases(bench_build, tmp_path, monkeypatch):
    preset = dataclasses.replace(PRESETS["cpu-smoke"], seeds=(0,), **TINY)
    request = RunRequest(
        "3tier", bench_build, preset=preset, out_dir=tmp_path, models=("shortcut-cbc", "resnet18"), show_progress=False
    )
    original = cases.run_torch_case

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("benchmarks.suite.classification.run_torch_case", killed)
    with pytest.raises(KeyboardInterrupt):
        run_suite(request)
    partial = next((tmp_path / "3tier").glob(".*.partial"))
    assert (partial / "predictions" / "shortcut-cbc" / "seed0_test.csv").is_file()
    monkeypatch.setattr("benchmarks.suite.classification.run_torch_case", original)
    result = run_suite(dataclasses.replace(request, resume=partial))
    assert "shortcut-cbc/seed0: done in the resumed run, skipped" in (result.path / "log.txt").read_text()
    assert set(pd.read_csv(result.path / "metrics.csv")["model"]) == {"shortcut-cbc", "resnet18"}
    assert not partial.exists() and not result.path.name.startswith(".")
    accesses = json.loads((result.path / "summary.json").read_text())["protocol"]["test_accesses"]
    assert [a["case"] for a in accesses] == ["shortcut-cbc/seed0", "resnet18/seed0"]  # the one before the stop too


def test_list_shows_models_suites_and_presets():
    result = CliRunner().invoke(bench_app, ["list"])
    assert result.exit_code == 0
    for name in ("3tier", "vgg16", "morphometric", "shortcut-cbc", "unet", "segmentation", "cpu-smoke"):
        assert name in result.output, name
    narrowed = CliRunner().invoke(bench_app, ["list", "res*"])
    assert "resnet50" in narrowed.output and "DenseNet-121 (torchvision)" not in narrowed.output  # not a model row


def test_segmentation_suite_scores_the_cell_class_with_one_recorded_test_look(bench_build, tmp_path):
    preset = dataclasses.replace(PRESETS["cpu-smoke"], seeds=(0,), input_size=32, epochs=1, batch_size=8)
    request = RunRequest(
        "segmentation", bench_build, preset=preset, out_dir=tmp_path, models=("unet", "propose"), show_progress=False
    )
    result = run_suite(request)
    metrics = pd.read_csv(result.path / "metrics.csv")
    assert set(metrics["model"]) == {"unet", "propose"} and set(metrics["split"]) == {"test"}
    assert metrics["dice"].between(0, 1).all() and "ap50" in metrics
    accesses = json.loads((result.path / "summary.json").read_text())["protocol"]["test_accesses"]
    assert [a["case"] for a in accesses] == ["segmentation/all"]


def test_a_baseline_without_its_input_is_skipped_with_a_reason_for_its_user(bench_build, tmp_path):
    """The CBC baseline on a build without CBC values: a user-facing reason in the terminal and summary.json."""
    no_cbc = tmp_path / "no_cbc"
    shutil.copytree(bench_build, no_cbc)
    for path in (no_cbc / "hdf5").rglob("*.h5"):
        with h5py.File(path, "a") as handle:
            del handle["cbc"]
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY, "seeds": [0]}))
    args = ["run", "3tier", "--data", str(no_cbc), "--preset", "cpu-smoke", "--config", str(config), "-q"]
    args += ["--models", "shortcut-cbc,shortcut-background", "--out", str(tmp_path / "runs")]
    result = CliRunner().invoke(bench_app, args)
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    reason = "no CBC values in this build's training split: it needs the CBC reports of the release"
    assert f"[skipped] shortcut-cbc: {reason}" in output
    assert "or leave shortcut-cbc out with --models" in output
    run = next((tmp_path / "runs" / "3tier").iterdir())
    skipped = json.loads((run / "summary.json").read_text())["skipped"]
    assert skipped["shortcut-cbc"].startswith(reason)
    assert not any(word in skipped["shortcut-cbc"] for word in ("NaN", "extract()", "column"))


def test_list_never_cuts_a_name_at_80_columns(capsys):
    from rich.console import Console

    from benchmarks.catalog import list_models
    from benchmarks.suite.listing import print_listing

    print_listing(console=Console(width=80))
    printed = capsys.readouterr().out
    assert "…" not in printed and max(len(line) for line in printed.splitlines()) <= 80
    words = set(printed.split())
    assert {spec.name for spec in list_models()} <= words  # each name whole, on one line ("efficientnet_b0")
