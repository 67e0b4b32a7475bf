"""The leaky-split demonstration (`rbc-bench run --protocol leaky-tiles`): refused unless named, marked everywhere."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from benchmarks.evaluation.report import leaderboard_rows, write_report
from benchmarks.suite.leaky import (
    MARKER,
    REPORT_LABEL,
    WARNING,
    check_protocol,
    leak_counts,
    leaky_split,
)
from rbc_dataset.errors import UsageError
from tests.helpers.fake_runs import write_fake_run


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
