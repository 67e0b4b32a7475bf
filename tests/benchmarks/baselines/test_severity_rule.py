"""Tests for benchmarks/baselines/severity_rule.py on the tiny build."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from benchmarks.baselines.severity_rule import RULE_COLUMNS, anaemic_label, rule_severity
from benchmarks.training.data import SplitView, open_split
from rbc_dataset.errors import DataError, UsageError


@pytest.fixture(scope="module")
def validation(bench_build: Path) -> SplitView:
    return open_split(bench_build, split="validation")


@pytest.fixture(scope="module")
def anaemic_rows(validation: SplitView) -> pd.DataFrame:
    return rule_severity(validation)


def test_one_row_per_anaemic_sample(validation: SplitView, anaemic_rows: pd.DataFrame) -> None:
    anaemic = validation.table[validation.table["label"] == anaemic_label(validation)]
    assert anaemic_label(validation) == validation.class_names.index("anemic")
    assert tuple(anaemic_rows.columns) == RULE_COLUMNS
    assert anaemic_rows["sample_id"].tolist() == anaemic["sample_id"].tolist()
    assert set(anaemic_rows["pred"]) <= {-1, 0, 1} and (anaemic_rows["n_cells"] > 0).all()
    assert (anaemic_rows["prob"] == anaemic_rows["abnormal_share"]).all()
    assert anaemic_rows["prob"].between(0, 1).all()


def test_requested_indices_in_order_and_in_parallel(validation: SplitView, anaemic_rows: pd.DataFrame) -> None:
    anaemic = validation.table["label"].to_numpy() == anaemic_label(validation)
    healthy, first = int(np.flatnonzero(~anaemic)[0]), int(np.flatnonzero(anaemic)[0])
    rows = rule_severity(validation, indices=[healthy, first], workers=2)
    assert rows["sample_id"].tolist() == [validation.table["sample_id"][healthy], anaemic_rows["sample_id"][0]]
    # Close, not bit-equal: see test_features.test_morphometric_table_needs_masks (torchvision vs workers).
    pd.testing.assert_series_equal(rows.iloc[1], anaemic_rows.iloc[0], check_names=False, check_exact=False, rtol=0.05)
    assert rows["pred"].dtype == np.int64
    assert rule_severity(validation, indices=[]).columns.tolist() == list(RULE_COLUMNS)


def test_bad_requests_are_clear_errors(validation: SplitView) -> None:
    with pytest.raises(UsageError, match=r"indices \[24\] are outside"):
        rule_severity(validation, indices=[0, len(validation)])
    with pytest.raises(DataError, match="canonical cell masks.*severity rule"):
        rule_severity(dataclasses.replace(validation, has_masks=False))
    with pytest.raises(DataError, match="an anaemic class"):
        anaemic_label(dataclasses.replace(validation, class_names=["a", "b"]))


class _OneSampleView(SplitView):
    """A split whose dataset is one in-memory sample (to plant a mask without cells)."""

    sample: dict | None = None

    def dataset(self, with_mask=None, transform=None, cache_dir=None):
        return [self.sample]


def test_sample_without_cells_gets_no_prediction(validation: SplitView) -> None:
    fields = {f.name: getattr(validation, f.name) for f in dataclasses.fields(validation)}
    view = _OneSampleView(**{**fields, "table": validation.table.iloc[:1]})
    image = torch.full((3, 64, 64), 210, dtype=torch.uint8)
    view.sample = {"image": image, "mask": torch.zeros((1, 64, 64), dtype=torch.uint8)}
    rows = rule_severity(view, indices=[0])
    assert rows["pred"].tolist() == [-1] and rows["prob"].isna().all() and rows["n_cells"].tolist() == [0]
