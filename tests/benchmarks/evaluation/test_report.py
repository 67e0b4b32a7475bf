"""`rbc-bench report`: leaderboards, the shortcut flag, figures, atomic output."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from rich.console import Console

from benchmarks.evaluation.report import find_shortcuts, leaderboard_rows, write_report
from benchmarks.evaluation.scoring import score_run
from benchmarks.evaluation.terminal import print_leaderboard, print_module2
from rbc_dataset.errors import DataError, UsageError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def two_runs(make_run):
    confounded = make_run(
        "20250101-000000_aaa1111",
        {"3tier": 0.8, "resnet18": 0.9, "shortcut-background": 1.0},
        tiered=("3tier",),
        module2=("3tier",),
    )
    clean = make_run("20250102-000000_bbb2222", {"mobilenet_v2": 0.7, "shortcut-cbc": 0.2})
    return confounded, clean


def test_write_report_on_two_runs(two_runs, tmp_path):
    out = tmp_path / "report"
    result = write_report(list(two_runs), out, command="rbc-bench report A B --out report")
    expected = {"leaderboard.csv", "leaderboard.md", "module2.csv", "report.json", "severity_recall.csv"}
    expected |= {"ablations.csv", "comparisons.csv", "shortcuts.csv"}
    expected |= {"confusion_matrices.png", "roc_curves.png", "tier_accuracy.png", "reliability.png"}
    errors = {f"parent_errors/3tier_{run.name}__{model}.csv" for run, model in _models_of(two_runs)}
    assert set(result["files"]) == expected | errors
    assert {path.name for path in out.iterdir()} == expected | {"parent_errors"}  # nothing half-written beside them
    assert {f"parent_errors/{path.name}" for path in (out / "parent_errors").iterdir()} == errors
    for name in ("confusion_matrices.png", "roc_curves.png", "tier_accuracy.png", "reliability.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC
    leaderboard = pd.read_csv(out / "leaderboard.csv")
    # Only each model's result head is ranked; 3tier's tier heads go to the ablation table, beside its global head.
    assert len(leaderboard) == 5 and set(leaderboard["head"]) == {"global"}
    ablations = pd.read_csv(out / "ablations.csv")
    assert list(zip(ablations["model"], ablations["head"], strict=True)) == [
        ("3tier", h) for h in ("global", "tier1", "tier2", "tier3")
    ]
    assert leaderboard["balanced_accuracy_mean"].is_monotonic_decreasing
    assert (leaderboard["n_seeds"] == 2).all() and (leaderboard["n_test"] == 24).all()
    assert set(leaderboard["device"]) == {"cpu (test)"}
    assert set(pd.read_csv(out / "module2.csv")["head"]) == {"learned", "rule"}
    assert json.loads((out / "report.json").read_text())["schema_version"] == 1


def _models_of(runs) -> list[tuple]:
    return [(run, path.name) for run in runs for path in (run / "predictions").iterdir()]


def test_markdown_flags_the_confounding_shortcut_only(two_runs, tmp_path):
    result = write_report(list(two_runs), tmp_path / "report", command="rbc-bench report")
    markdown = (tmp_path / "report" / "leaderboard.md").read_text()
    assert "## Shortcut baselines" in markdown
    assert "the dataset is confounded on these 8 test parents (the 95 % interval of ROC-AUC" in markdown
    assert "shortcut-background separates the classes from the background colour alone" in markdown
    assert "| `shortcut-cbc` | the CBC values |" in markdown and "| not flagged |" in markdown  # below 0.7, at chance
    assert len(result["shortcuts"]) == 1
    verdicts = {check.model: check.verdict for check in result["shortcut_checks"]}
    assert verdicts == {"shortcut-background": "confounded", "shortcut-cbc": "not flagged"}
    assert pd.read_csv(tmp_path / "report" / "shortcuts.csv").set_index("model").loc["shortcut-cbc", "n_seeds"] == 2
    saved = json.loads((tmp_path / "report" / "report.json").read_text())["shortcuts"]
    assert {row["model"]: row["verdict"] for row in saved} == verdicts
    for phrase in ("Split: **test**", "data `/data/20250101-000000_aaa1111`", "device `cpu (test)`", "## Module II"):
        assert phrase in markdown
    assert "command `rbc-bench run 3tier # 20250102-000000_bbb2222`" in markdown
    assert "`vit`: no GPU" in markdown  # skipped models from summary.json
    module2 = markdown[markdown.index("## Module II") :]
    assert "Labels: the severity the dataset gives (`labels` `dataset`; on a synthetic build, the synthetic truth)" in (
        module2
    )
    assert "| `3tier` | learned |" in module2 and "| dataset |" in module2


def test_shortcut_threshold_is_configurable(make_run, tmp_path):
    run = make_run("20250102-000000_bbb2222", {"mobilenet_v2": 0.7, "shortcut-cbc": 0.2})
    quiet = write_report([run], tmp_path / "quiet")
    assert quiet["shortcuts"] == []
    assert (
        "No shortcut baseline's interval lies above chance, and none reaches 0.70"
        in (tmp_path / "quiet" / "leaderboard.md").read_text()
    )
    loud = write_report([run], tmp_path / "loud", shortcut_threshold=0.3)  # the mean reaches 0.3, the interval not 0.5
    assert loud["shortcuts"][0].startswith("the dataset may be confounded, not shown (the 95 % intervals include")
    assert "shortcut-cbc reaches the 0.30 mark from the CBC values alone" in loud["shortcuts"][0]


def test_find_shortcuts_ignores_other_models_and_heads():
    base = {"run": "r", "balanced_accuracy_mean": 0.9}
    rows = [
        {**base, "model": "resnet18", "head": "global"},
        {**base, "model": "shortcut-mask", "head": "tier1"},
        {**base, "model": "shortcut-mask", "head": "global", "balanced_accuracy_mean": float("nan")},
    ]
    assert find_shortcuts(rows) == []
    assert find_shortcuts([{**base, "model": "shortcut-mask", "head": "global"}])


def test_report_refuses_to_overwrite(two_runs, tmp_path):
    out = tmp_path / "report"
    write_report([two_runs[1]], out)
    with pytest.raises(UsageError, match="already exists.*--overwrite"):
        write_report([two_runs[1]], out)
    result = write_report(list(two_runs), out, overwrite=True)
    assert "shortcut-background" in set(pd.read_csv(result["files"]["leaderboard.csv"])["model"])


def test_report_output_inside_a_run_is_refused(two_runs):
    with pytest.raises(UsageError, match="inside the input"):
        write_report([two_runs[0]], two_runs[0] / "report")


def test_report_without_predictions_still_writes_tables(make_run, tmp_path):
    run = make_run("20250102-000000_bbb2222", {"mobilenet_v2": 0.7})
    for path in sorted((run / "predictions").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (run / "predictions").rmdir()
    result = write_report([run], tmp_path / "report")
    assert "leaderboard.md" in result["files"] and "roc_curves.png" not in result["files"]
    assert any("no predictions/" in note for note in result["notes"])


def test_report_needs_a_metrics_csv(tmp_path):
    run = tmp_path / "runs" / "3tier" / "broken"
    run.mkdir(parents=True)
    with pytest.raises(DataError, match="metrics.csv"):
        write_report([run], tmp_path / "report")
    assert not (tmp_path / "report").exists()


def test_print_leaderboard(two_runs, tmp_path, capsys):
    result = write_report([two_runs[1]], tmp_path / "report")
    print_leaderboard(result["leaderboard"], console=Console(width=300))
    printed = capsys.readouterr().out
    assert "mobilenet_v2" in printed and "bal.acc" in printed


def test_leaderboard_rows_from_run_folders(two_runs):
    rows = leaderboard_rows([two_runs[1]])  # defaults: module1, global and tier heads, test split
    assert [row["model"] for row in rows] == ["mobilenet_v2", "shortcut-cbc"]
    assert rows[0]["balanced_accuracy_ci_low"] <= rows[0]["balanced_accuracy_mean"]


def _segmentation_run(root):
    run = root / "runs" / "segmentation" / "20250103-000000_ccc3333"
    (run / "predictions" / "unet").mkdir(parents=True)
    (run / "predictions" / "unet" / "seed0_test_masks.npz").write_bytes(b"not read by the report")
    rows = [
        {"model": model, "seed": seed, "split": "test", "task": "segmentation", "dice": dice + seed / 100, "iou": 0.8}
        for model, dice in (("unet", 0.9), ("propose", 0.7))
        for seed in (0, 1)
    ]
    pd.DataFrame(rows).assign(n=24).to_csv(run / "metrics.csv", index=False)
    return run


def test_report_of_a_segmentation_run(tmp_path):
    run = _segmentation_run(tmp_path)
    result = write_report([run], tmp_path / "report")
    assert [row["model"] for row in result["segmentation"]] == ["unet", "propose"]
    assert result["segmentation"][0]["dice_mean"] == pytest.approx(0.905)
    assert set(pd.read_csv(tmp_path / "report" / "segmentation.csv")["model"]) == {"unet", "propose"}
    markdown = (tmp_path / "report" / "leaderboard.md").read_text()
    assert "## Segmentation: cell class (1) only" in markdown and "No Module-I test results" in markdown
    assert set(result["paths"]) == set(result["files"].values())
    with pytest.raises(DataError, match="does not re-score"):
        score_run(run)


def test_small_test_splits_are_shown_and_warned_about_everywhere(make_run, tmp_path):
    """A 2-parent test split: parents next to samples in every table, the warning first in leaderboard.md."""
    run = make_run("20250104-000000_ddd4444", {"resnet18": 0.9}, n_parents=2)
    result = write_report([run], tmp_path / "report")
    board = pd.read_csv(tmp_path / "report" / "leaderboard.csv")
    assert board.loc[0, ["n_test", "n_test_parents", "n_test_groups"]].tolist() == [6, 2, 2]
    assert len(result["warnings"]) == 1 and "2 parent images" in result["warnings"][0]
    assert "at most 3 distinct resamples" in result["warnings"][0]
    assert json.loads((tmp_path / "report" / "report.json").read_text())["warnings"] == result["warnings"]
    markdown = (tmp_path / "report" / "leaderboard.md").read_text()
    assert markdown.index("## Read this first") < markdown.index("## Module I")
    assert "test samples (parents)" in markdown and "| 6 (2) |" in markdown
    large = write_report([make_run("20250105-000000_eee5555", {"resnet18": 0.9}, n_parents=10)], tmp_path / "r2")
    assert large["warnings"] == [] and "Read this first" not in (tmp_path / "r2" / "leaderboard.md").read_text()


def test_rule_derived_module2_rows_are_marked_and_not_ranked(make_run, tmp_path, capsys):
    run = make_run("20250106-000000_fff6666", {"3tier": 0.8}, tiered=("3tier",), module2=("3tier",), rule_labels=True)
    result = write_report([run], tmp_path / "report")
    assert [row["labels"] for row in result["module2"]] == ["rule-derived labels"]
    assert set(pd.read_csv(tmp_path / "report" / "module2.csv")["labels"]) == {"rule-derived labels"}
    assert set(pd.read_csv(tmp_path / "report" / "leaderboard.csv")["labels"]) == {"dataset"}
    markdown = (tmp_path / "report" / "leaderboard.md").read_text()
    module2 = markdown[markdown.index("## Module II") :]
    assert "No row scored on the dataset's labels." in module2 and "(not ranked)" in module2
    assert "| - | `3tier` | learned |" in module2 and "| rule-derived labels |" in module2
    assert any("derived by the project's own severity rule" in w for w in result["warnings"])
    print_module2(result["module2"], console=Console(width=120))
    printed = capsys.readouterr().out
    assert "rule-derived labels (circular: not a result, not ranked)" in printed and "rule-derived labels" in printed


def test_rows_of_a_run_before_label_sources_are_marked_from_its_summary(make_run, tmp_path):
    run = make_run("20250107-000000_aaa7777", {"3tier": 0.8}, tiered=("3tier",), module2=("3tier",), rule_labels=True)
    metrics = pd.read_csv(run / "metrics.csv")
    metrics.drop(columns=["n_rule_labels", "n_parents", "n_groups"]).to_csv(run / "metrics.csv", index=False)
    (run / "summary.json").write_text(json.dumps({"severity_labels": {"test": {"known": 0, "derived": 12}}}))
    result = write_report([run], tmp_path / "report")
    assert [row["labels"] for row in result["module2"]] == ["rule-derived labels"]
    assert result["leaderboard"][0]["n_test_parents"] == -1
    assert "| 24 (?) |" in (tmp_path / "report" / "leaderboard.md").read_text()


def test_terminal_leaderboard_names_parents_and_never_cuts_model_names(make_run, tmp_path, capsys):
    run = make_run("20250108-000000_bbb8888", {"shortcut-background": 0.9, "efficientnet_b0": 0.5}, n_parents=2)
    rows = write_report([run], tmp_path / "report")["leaderboard"]
    print_leaderboard(rows, console=Console(width=80))
    printed = capsys.readouterr().out
    assert "Module I, test split: 6 samples from 2 parents" in printed
    assert "shortcut-background" in printed and "efficientnet_b0" in printed and "…" not in printed


def test_the_leaderboard_says_how_each_network_started(two_runs):
    run = two_runs[1]
    summary_path = run / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    summary["cases"] = [{"case": "mobilenet_v2/seed0", "weights": "from scratch"}]
    summary_path.write_text(json.dumps(summary))
    rows = {row["model"]: row for row in leaderboard_rows([run])}
    assert rows["mobilenet_v2"]["weights"] == "from scratch" and rows["shortcut-cbc"]["weights"] == "-"
