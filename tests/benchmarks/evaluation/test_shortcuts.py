"""The confounded verdict rests on the 95 % intervals of ROC-AUC and balanced accuracy, and says how sure it is."""

from __future__ import annotations

import numpy as np
import pandas as pd
from rich.console import Console

from benchmarks.evaluation.report import find_shortcuts, write_report
from benchmarks.evaluation.shortcuts import CONFOUNDED, NOT_FLAGGED, POSSIBLE, check_shortcut
from benchmarks.evaluation.terminal import print_shortcut_checks


def _row(model: str, *, ba: tuple, auc: tuple, parents: int = 12, seeds: int = 2) -> dict:
    return {
        "run": "3tier/r",
        "model": model,
        "head": "global",
        **{f"balanced_accuracy_{end}": value for end, value in zip(("mean", "ci_low", "ci_high"), ba, strict=True)},
        **{f"roc_auc_{end}": value for end, value in zip(("mean", "ci_low", "ci_high"), auc, strict=True)},
        "n_test_parents": parents,
        "n_seeds": seeds,
        "ci_method": "group bootstrap of the mean over seeds",
    }


def test_chance_with_a_high_mean_is_possible_not_confounded():
    """Issue 16's case: background 0.750 [0.50, 1.00] on 4 test parents fired the old 0.7 flag."""
    check = check_shortcut(_row("shortcut-background", ba=(0.75, 0.5, 1.0), auc=(0.75, 0.375, 1.0), parents=4))
    assert check.verdict == POSSIBLE and check.evidence == ""
    assert check.sentence.startswith("the dataset may be confounded, not shown (the 95 % intervals include chance")
    assert "balanced accuracy 0.750 [0.500, 1.000], ROC-AUC 0.750 [0.375, 1.000], on 4 test parents" in check.sentence


def test_a_probe_with_a_wrong_threshold_is_caught_by_roc_auc():
    """Issue 16's raw-mask case on AneRBC-I: balanced accuracy 0.500, ROC-AUC 1.000; the old flag missed it."""
    check = check_shortcut(_row("shortcut-raw-mask", ba=(0.5, 0.5, 0.5), auc=(1.0, 1.0, 1.0), parents=20))
    assert check.verdict == CONFOUNDED and check.evidence == "ROC-AUC"
    assert check.sentence.startswith("the dataset is confounded (sure: the 95 % interval of ROC-AUC lies above chance")
    assert (
        "from the raw mask intensity alone" in check.sentence
        and "on 20 test parents, mean over 2 seeds" in check.sentence
    )


def test_few_parents_say_the_verdict_is_less_sure():
    check = check_shortcut(_row("shortcut-cbc", ba=(1.0, 1.0, 1.0), auc=(1.0, 1.0, 1.0), parents=4))
    assert check.verdict == CONFOUNDED
    assert "confounded on these 4 test parents" in check.sentence and "less sure than it reads" in check.sentence


def test_no_interval_above_chance_and_low_means_is_not_flagged():
    check = check_shortcut(_row("shortcut-cbc", ba=(0.6, 0.45, 0.75), auc=(0.65, 0.49, 0.8)))
    assert (
        check.verdict == NOT_FLAGGED
        and find_shortcuts([_row("shortcut-cbc", ba=(0.6, 0.45, 0.75), auc=(0.65, 0.49, 0.8))]) == []
    )


def _ranked_not_called(table: pd.DataFrame, *, model: str, seed: int) -> np.ndarray:
    """Every tile called anaemic (balanced accuracy 0.5), anaemic tiles ranked above healthy ones (ROC-AUC 1.0)."""
    return np.where(table["label"].to_numpy() == 1, 0.9, 0.6)


def test_a_run_whose_mask_probe_ranks_but_does_not_call_is_flagged(make_run, tmp_path, capsys):
    run = make_run("20250501-000000_aaa0001", {"shortcut-raw-mask": 0.5}, n_parents=12, predict=_ranked_not_called)
    result = write_report([run], tmp_path / "report")
    (check,) = result["shortcut_checks"]
    assert (check.balanced_accuracy, check.roc_auc, check.roc_auc_ci_low) == (0.5, 1.0, 1.0)
    assert check.verdict == CONFOUNDED and check.n_test_parents == 12 and check.n_seeds == 2
    saved = pd.read_csv(tmp_path / "report" / "shortcuts.csv")
    assert saved.loc[0, "verdict"] == CONFOUNDED and saved.loc[0, "evidence"] == "ROC-AUC"
    markdown = (tmp_path / "report" / "leaderboard.md").read_text()
    assert (
        "| `shortcut-raw-mask` | the raw mask intensity | 0.500 [0.500, 0.500] | 1.000 [1.000, 1.000] | 12 | 2 |"
        in (markdown)
    )
    print_shortcut_checks(result["shortcut_checks"], console=Console(width=400))
    assert "shortcut: the dataset is confounded (sure:" in capsys.readouterr().out
