"""The interval of the mean over seeds, paired comparisons on the same test samples, and the ablation table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from rich.console import Console
from sklearn.metrics import balanced_accuracy_score

from benchmarks.evaluation.comparisons import CI_METHOD_BOUNDS, CI_METHOD_SEED_MEAN
from benchmarks.evaluation.report import leaderboard_rows, write_report
from benchmarks.evaluation.terminal import ABLATION_TITLE, print_ablations
from benchmarks.suite.listing import print_run_leaderboard
from rbc_dataset.stats import group_resamples


def _set_resamples(run, resamples: int, data: str | None = None) -> None:
    """Record the run's bootstrap resamples (and optionally its build) in config.yaml, as a real run does."""
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["preset"] = {"bootstrap_resamples": resamples}
    if data is not None:
        config["data"] = data
    (run / "config.yaml").write_text(yaml.safe_dump(config))


def _by_skill(table: pd.DataFrame, *, model: str, seed: int) -> np.ndarray:
    """``strong`` ranks and calls every tile right; ``weak`` gets every other parent wrong; noise varies by seed."""
    anaemic = table["label"].to_numpy() == 1
    parent = table["parent_id"].str.removeprefix("p").astype(int).to_numpy()
    noise = np.random.default_rng(seed).uniform(-0.05, 0.05, size=len(table))
    right = np.ones(len(table), dtype=bool) if model == "strong" else (parent // 2) % 2 == 0
    return np.where(anaemic == right, 0.8, 0.2) + noise


def test_the_interval_is_that_of_the_mean_over_seeds(make_run):
    """Each resample draws the parent groups once, scores every seed on it and averages: checked against sklearn."""
    run = make_run("20250401-000000_aaa0001", {"resnet18": 0.6}, seeds=(0, 1, 2))
    _set_resamples(run, 200)
    row = leaderboard_rows([run])[0]
    assert row["ci_method"] == CI_METHOD_SEED_MEAN
    tables = [
        pd.read_csv(run / "predictions" / "resnet18" / f"seed{s}_test.csv").sort_values("sample_id") for s in (0, 1, 2)
    ]
    groups = tables[0]["group_id"].to_numpy()
    means = [
        np.mean([balanced_accuracy_score(t["label"], t["pred"], sample_weight=weights) for t in tables])
        for block in group_resamples(groups, 200, seed=0)
        for weights in block
    ]
    assert (row["balanced_accuracy_ci_low"], row["balanced_accuracy_ci_high"]) == pytest.approx(
        tuple(np.percentile(means, [2.5, 97.5])), abs=1e-12
    )
    per_seed = pd.read_csv(run / "metrics.csv").query("split == 'test'")
    assert row["balanced_accuracy_ci_low"] != pytest.approx(per_seed["balanced_accuracy_ci_low"].mean())


def test_one_seeds_interval_is_its_own_and_a_run_without_predictions_keeps_the_mean_of_bounds(make_run):
    run = make_run("20250401-000000_aaa0002", {"resnet18": 0.6}, seeds=(0,))
    _set_resamples(run, 100)  # what the fake run's metrics.csv was scored with
    row = leaderboard_rows([run])[0]
    recorded = pd.read_csv(run / "metrics.csv").query("split == 'test'").iloc[0]
    for column in ("balanced_accuracy_ci_low", "balanced_accuracy_ci_high", "roc_auc_ci_low", "accuracy_ci_high"):
        assert row[column] == pytest.approx(recorded[column], abs=1e-12), column
    for path in sorted((run / "predictions").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    assert leaderboard_rows([run])[0]["ci_method"] == CI_METHOD_BOUNDS


def test_seeds_scored_on_different_samples_keep_the_mean_of_bounds_and_say_so(make_run, tmp_path):
    run = make_run("20250401-000000_aaa0003", {"resnet18": 0.6})
    path = run / "predictions" / "resnet18" / "seed1_test.csv"
    pd.read_csv(path).iloc[3:].to_csv(path, index=False)
    result = write_report([run], tmp_path / "report")
    assert result["leaderboard"][0]["ci_method"] == CI_METHOD_BOUNDS
    assert any("its seeds were scored on different test samples" in note for note in result["notes"])


def test_paired_comparisons_on_the_same_test_samples(make_run, tmp_path):
    run = make_run("20250401-000000_aaa0004", {"weak": 0.5, "strong": 0.5, "twin": 0.5}, predict=_by_skill)
    result = write_report([run], tmp_path / "report")
    rows = pd.read_csv(tmp_path / "report" / "comparisons.csv")
    first = rows[(rows["model_b"] == "weak") & (rows["metric"] == "balanced_accuracy")].iloc[0]
    assert first["model_a"] == "strong" and first["difference"] == pytest.approx(0.5)  # 1.0 against 0.5
    assert first["ci_low"] > 0 and first["share_a_ahead"] == 1.0 and first["share_b_ahead"] == 0.0
    assert first["n_test_parents"] == 8 and first["n_seeds_a"] == 2
    # twin predicts as weak does (same rule, same noise): a difference of 0 in every resample, neither ahead.
    tie = rows[(rows["model_a"] == "twin") & (rows["model_b"] == "weak") | (rows["model_a"] == "weak")]
    assert set(tie["difference"].round(12)) == {0.0} and set(tie["share_a_ahead"]) == {0.0}
    markdown = (tmp_path / "report" / "leaderboard.md").read_text()
    section = markdown[markdown.index("## Paired comparisons") :]
    assert "| `strong` | `weak` | +0.500 [+0.167, +0.861], 100% / 0% | +0.483 [+0.140, +0.852], 100% / 0% |" in section
    assert len(result["comparisons"]) == 3 * 2  # three pairs, two metrics


def test_runs_on_different_builds_are_never_paired(make_run, tmp_path):
    first = make_run("20250401-000000_aaa0005", {"resnet18": 0.9, "vgg16": 0.5})
    second = make_run("20250401-000000_aaa0006", {"resnet50": 0.9})  # the same sample ids, another build
    result = write_report([first, second], tmp_path / "report")
    assert {(row["run_a"], row["run_b"]) for row in result["comparisons"]} == {(f"3tier/{first.name}",) * 2}
    markdown = (tmp_path / "report" / "leaderboard.md").read_text()
    assert "Models scored on different test samples (or builds) are not compared:" in markdown
    assert f"/data/{second.name}): resnet50" in markdown
    _set_resamples(second, 1000, data=f"/data/{first.name}")  # now the same build: paired across runs
    paired = write_report([first, second], tmp_path / "again")
    assert any(row["run_a"] != row["run_b"] for row in paired["comparisons"])


def test_tier_heads_and_3tier_variants_are_an_unranked_ablation_table(make_run, tmp_path, capsys):
    models = {"3tier-outputs": 0.95, "3tier": 0.7, "resnet18": 0.8, "3tier-rgb": 0.9}
    run = make_run("20250401-000000_aaa0007", models, tiered=("3tier", "3tier-outputs"))
    result = write_report([run], tmp_path / "report")
    assert [(row["model"], row["head"]) for row in result["leaderboard"]] == [
        ("resnet18", "global"),
        ("3tier", "global"),
    ]
    ablation = [(row["model"], row["head"]) for row in result["ablations"]]
    assert ablation == [
        *(("3tier", head) for head in ("global", "tier1", "tier2", "tier3")),
        *(("3tier-outputs", head) for head in ("global", "tier1", "tier2", "tier3")),
        ("3tier-rgb", "global"),
    ]
    assert set(pd.read_csv(tmp_path / "report" / "leaderboard.csv")["model"]) == {"resnet18", "3tier"}
    markdown = (tmp_path / "report" / "leaderboard.md").read_text()
    board = markdown[markdown.index("## Module I") : markdown.index("## Ablations")]
    assert "tier1" not in board.split("|---|")[-1] and "3tier-outputs" not in board
    assert "**no head or variant is chosen on the test split**" in markdown
    assert {row["model_b"] for row in result["comparisons"]} >= {"3tier-outputs", "3tier-rgb"}  # variants compared
    calibration = markdown[markdown.index("## Calibration") :]
    assert "`3tier-rgb`" in calibration
    print_ablations(result["ablations"], console=Console(width=200))
    assert ABLATION_TITLE in " ".join(capsys.readouterr().out.split())
    print_run_leaderboard(run)
    printed = capsys.readouterr().out
    ranked = printed[: printed.index("Ablations")]
    assert "resnet18" in ranked and "tier1" not in ranked and "3tier-rgb" not in ranked
    assert "3tier-rgb" in printed[printed.index("Ablations") :]
