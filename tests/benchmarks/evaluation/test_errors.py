"""Per-parent errors in `rbc-bench report`: one CSV per model, the worst test parents named in the Markdown."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.evaluation.errors import parent_errors
from benchmarks.evaluation.report import write_report
from benchmarks.evaluation.run_tables import CaseTable


def _wrong_on_p3(table: pd.DataFrame, *, model: str, seed: int) -> np.ndarray:
    """Right everywhere (0.8 sure) except: every tile of anaemic p3 called healthy, and in seed 0 one tile of p2."""
    label = table["label"].to_numpy()
    prob = np.where(label == 1, 0.8, 0.2)
    prob = np.where(table["parent_id"] == "p3", 0.1, prob)
    return np.where((table["sample_id"] == "p2_t0") & (seed == 0), 0.7, prob)


def test_a_parent_with_every_tile_wrong_is_listed_first(make_run, tmp_path):
    run = make_run("20250401-000000_eee0001", {"resnet18": 0.9, "morph": 0.9}, severity=True, predict=_wrong_on_p3)
    result = write_report([run], tmp_path / "report")
    assert "parent_errors/resnet18.csv" in result["files"]
    errors = pd.read_csv(tmp_path / "report" / "parent_errors" / "resnet18.csv")
    assert errors["parent_id"].tolist()[:2] == ["p3", "p2"] and len(errors) == 8
    worst = errors.iloc[0]
    assert worst[["label", "severity", "tiles", "seeds", "tiles_wrong", "share_wrong"]].tolist() == [
        1,
        "chronic",
        3,
        2,
        3.0,
        1.0,
    ]
    assert worst["mean_prob"] == pytest.approx(0.1)
    second = errors.iloc[1]  # one tile of three wrong in one seed of two
    assert second["tiles_wrong"] == 0.5 and second["share_wrong"] == pytest.approx(1 / 6)
    assert second["mean_prob"] == pytest.approx((0.7 + 5 * 0.2) / 6) and second["severity"] == "-"
    assert (errors["share_wrong"].iloc[2:] == 0).all()
    markdown = (tmp_path / "report" / "leaderboard.md").read_text()
    line = next(line for line in markdown.splitlines() if line.startswith("- `resnet18`:"))
    assert line.startswith("- `resnet18`: `p3` (anaemic, chronic: 3 of 3 tiles wrong, mean p(anaemic) 0.100); `p2`")
    assert "2 of 8 parents have a wrong tile (`parent_errors/resnet18.csv`)" in line


def test_parent_errors_of_an_older_run_and_a_parent_of_mixed_labels():
    table = pd.DataFrame(
        {
            "sample_id": ["a1", "a2", "b1"],
            "parent_id": ["a", "a", "b"],
            "group_id": ["a", "a", "b"],
            "label": [0, 1, 1],
            "prob": [0.9, 0.9, 0.9],
            "pred": [1, 1, 1],
        }
    )
    errors = parent_errors([CaseTable("m", 0, fold=-1, table=table)])
    assert errors["parent_id"].tolist() == ["a", "b"]
    assert errors.loc[0, "label"] == -1 and set(errors["severity"]) == {"not recorded"}
    assert errors.loc[1, "share_wrong"] == 0.0


def test_several_runs_get_one_errors_file_per_run_and_model(make_run, tmp_path):
    first = make_run("20250401-000000_eee0002", {"resnet18": 0.9})
    second = make_run("20250401-000000_eee0003", {"resnet18": 0.9})
    result = write_report([first, second], tmp_path / "report")
    files = sorted(name for name in result["files"] if name.startswith("parent_errors/"))
    assert files == [
        "parent_errors/3tier_20250401-000000_eee0002__resnet18.csv",
        "parent_errors/3tier_20250401-000000_eee0003__resnet18.csv",
    ]
    assert all((tmp_path / "report" / name).is_file() for name in files)
