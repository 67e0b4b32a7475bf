"""`rbc-bench explain` on a finished tiny run: the gallery, the two numbers, what it refuses, what it never writes."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import benchmarks.explain.run as explain_module
from benchmarks.explain import explain_run
from cli import bench_app
from rbc_dataset.errors import DataError, UsageError
from tests.helpers import tree_hashes


@pytest.fixture(scope="module")
def gallery(finished_run, tmp_path_factory):
    """One explanation of the run, written outside it, with the run's checksums before and after."""
    before = tree_hashes(finished_run)
    out = tmp_path_factory.mktemp("gallery") / "explain"
    result = explain_run(finished_run, out=out, examples=2, max_items=8)
    return result, before


def test_the_gallery_shows_correct_and_wrong_tiles_per_class(gallery, finished_run):
    result, _ = gallery
    page = (result.out / "index.html").read_text(encoding="utf-8")
    summary = json.loads((result.out / "explain.json").read_text())
    assert set(summary["models"]) == {"3tier", "resnet18"}
    for model, entry in summary["models"].items():
        decisions = pd.read_csv(finished_run / "predictions" / model / "seed0_test.csv")
        decisions = decisions[(decisions["task"] == "module1") & (decisions["head"] == "global")]
        for label in (0, 1):
            for kind, same in (("correct", True), ("wrong", False)):
                available = int(((decisions["label"] == label) & ((decisions["pred"] == label) == same)).sum())
                shown = [e for e in entry["examples"] if e["label"] == label and e["kind"] == kind]
                assert len(shown) == min(2, available), (model, label, kind)
        assert {e["kind"] for e in entry["examples"]} == {"correct", "wrong"}  # both kinds occur in this run
        for example in entry["examples"]:
            assert (result.out / example["overlay"]).stat().st_size > 1000
            assert example["overlay"] in page
        assert entry["prob_difference_max"] < 1e-3  # inputs made as training made them: the run's probabilities
    assert "already scored once" in page and "<script" not in page
    assert "correct (" in page and "wrong (" in page


def test_both_sanity_numbers_are_reported(gallery):
    result, _ = gallery
    for entry in result.summary["models"].values():
        check = entry["randomisation"]
        assert check["n_tiles"] == 8 and check["passed"] in (True, False)
        assert -1.0 <= check["spearman_mean"] <= 1.0
        mass = entry["abnormal_mass"]  # the bench build is synthetic and its source lies beside it
        assert mass["n_tiles"] > 0 and 0.0 <= mass["mass_on_abnormal"] <= 1.0 and 0.0 < mass["abnormal_area"] < 1.0
        assert mass["class_explained"] == "anemic"


def test_nothing_is_written_into_the_run_when_out_is_elsewhere(gallery, finished_run):
    _, before = gallery
    assert tree_hashes(finished_run) == before


def test_the_default_gallery_is_a_new_folder_of_the_run_and_the_rest_is_unchanged(finished_run, bench_build, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    before = tree_hashes(run)
    result = explain_run(run, models=("resnet18",), examples=1, max_items=4)
    assert result.out == run / "explain" and (run / "explain" / "index.html").is_file()
    after = {k: v for k, v in tree_hashes(run).items() if not k.startswith("explain/")}
    assert after == before
    with pytest.raises(UsageError, match="already exists"):
        explain_run(run, models=("resnet18",), examples=1, max_items=4)
    explain_run(run, models=("resnet18",), examples=1, max_items=4, overwrite=True)  # an earlier gallery: replaced
    with pytest.raises(UsageError, match="part of the run, not an earlier gallery"):
        explain_run(run, out=run / "predictions", overwrite=True)
    with pytest.raises(UsageError, match="would replace the run folder"):
        explain_run(run, out=run.parent, overwrite=True)
    with pytest.raises(UsageError, match="inside the input"):
        explain_run(run, out=bench_build / "explain")
    assert not (bench_build / "explain").exists()


def test_an_error_leaves_no_half_written_gallery(finished_run, tmp_path, monkeypatch):
    def broken(_summary):
        raise RuntimeError("disk gone")

    monkeypatch.setattr(explain_module, "render_html", broken)
    with pytest.raises(RuntimeError, match="disk gone"):
        explain_run(finished_run, out=tmp_path / "g", models=("resnet18",), examples=1, max_items=4)
    assert list(tmp_path.iterdir()) == []


def test_real_data_reports_the_truth_as_not_available(finished_run, bench_build, tmp_path):
    """A build whose source is not beside it, like a build of real data: the number is n/a with a reason, not 0."""
    moved = tmp_path / "elsewhere" / "dataset"
    shutil.copytree(bench_build, moved)
    result = explain_run(finished_run, out=tmp_path / "g", data=moved, models=("resnet18",), examples=1, max_items=4)
    mass = result.summary["models"]["resnet18"]["abnormal_mass"]
    assert "mass_on_abnormal" not in mass and "source folder is not available" in mass["reason"]
    assert "not available" in (tmp_path / "g" / "index.html").read_text()


def _cli(*args: str):
    result = CliRunner().invoke(bench_app, ["explain", *args])
    assert "Traceback" not in result.output
    return result


def test_cli_writes_the_gallery(finished_run, tmp_path):
    result = _cli(str(finished_run), "--out", str(tmp_path / "g"), "--models", "3tier", "--max-items", "4")
    assert result.exit_code == 0, result.output
    assert "randomisation rho" in result.output and (tmp_path / "g" / "index.html").is_file()


def test_cli_refuses_a_folder_that_is_not_a_run(bench_build, tmp_path):
    result = _cli(str(bench_build), "--out", str(tmp_path / "g"))
    assert result.exit_code == 1
    assert "expected a finished run folder" in result.output and "without config.yaml" in result.output
    assert str(bench_build) in result.output.replace("\n", "") and not (tmp_path / "g").exists()


def test_cli_refuses_a_run_without_checkpoints(finished_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run, ignore=shutil.ignore_patterns("checkpoints"))
    result = _cli(str(run), "--out", str(tmp_path / "g"))
    assert result.exit_code == 1
    assert "checkpoints/3tier_seed<S>.pt" in result.output and "no such folder" in result.output
    assert not (tmp_path / "g").exists()


def test_unfinished_runs_unknown_models_and_moved_builds(finished_run, tmp_path):
    partial = tmp_path / f".{finished_run.name}.partial"
    shutil.copytree(finished_run, partial)
    with pytest.raises(DataError, match="unfinished run.*--resume"):
        explain_run(partial, out=tmp_path / "g")
    assert _cli(str(finished_run), "--models", "morphometric").exit_code == 2
    with pytest.raises(UsageError, match="valid choices: 3tier, resnet18"):
        explain_run(finished_run, out=tmp_path / "g", models=("vgg16",))
    with pytest.raises(DataError, match="pass --data DIR"):
        explain_run(finished_run, out=tmp_path / "g", data=tmp_path)
    assert not (tmp_path / "g").exists()


def test_a_run_of_the_leaky_demonstration_is_refused(finished_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run, ignore=shutil.ignore_patterns("checkpoints", "predictions"))
    config = yaml.safe_load((run / "config.yaml").read_text())
    (run / "config.yaml").write_text(yaml.safe_dump(config | {"protocol": "leaky-tiles"}))
    with pytest.raises(DataError, match="leaky demonstration.*without --protocol"):
        explain_run(run, out=tmp_path / "g")
    assert not (tmp_path / "g").exists()


def test_a_suite_folder_means_its_newest_finished_run(finished_run, tmp_path):
    suite = tmp_path / "3tier"
    shutil.copytree(finished_run, suite / "20250101-000000_old", ignore=shutil.ignore_patterns("checkpoints"))
    shutil.copytree(finished_run, suite / finished_run.name, ignore=shutil.ignore_patterns("checkpoints"))
    (suite / ".29991231-000000_new.partial").mkdir()  # unfinished: never chosen
    from benchmarks.explain.run_reader import read_run

    assert read_run(suite).path == suite / finished_run.name
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="without config.yaml"):
        read_run(empty)
