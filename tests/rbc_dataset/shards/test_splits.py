"""Split invariants: whole groups, target shares per stratum, determinism, folds, imported splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli import dataset_app
from rbc_dataset.errors import DataError, UsageError
from rbc_dataset.shards.config import BuildConfig
from rbc_dataset.shards.splits import (
    check_feasible,
    import_plan,
    join_groups,
    make_plan,
    normalise_split_name,
    parent_units,
    split_report,
)


def _units(n_parents: int = 200, seed: int = 0, group_size: int = 3) -> pd.DataFrame:
    """Parents in groups of up to ``group_size`` of one class; three strata of unequal size."""
    rng = np.random.default_rng(seed)
    strata = rng.choice(["healthy", "anemic/mild", "anemic/chronic"], size=n_parents, p=[0.5, 0.3, 0.2])
    groups = [f"g{i // group_size:04d}" for i in range(n_parents)]
    frame = pd.DataFrame({"parent_id": [f"p{i:04d}" for i in range(n_parents)], "group_id": groups})
    frame["stratum"] = frame.groupby("group_id")["group_id"].transform(lambda g: strata[int(g.iloc[0][1:]) % n_parents])
    frame["class_name"] = frame["stratum"].str.split("/").str[0]
    frame["n_samples"] = 13
    return frame


def test_groups_never_cross_splits_or_folds():
    plan = make_plan(_units(), (0.8, 0.1, 0.1), seed=1, folds=5)
    units = plan.units
    assert (units.groupby("group_id")["split"].nunique() == 1).all()
    assert (units.groupby("group_id")["fold"].nunique() == 1).all()
    assert set(units.loc[units["split"] == "test", "fold"]) == {-1}
    assert set(units.loc[units["split"] != "test", "fold"]) == set(range(5))


def test_shares_per_stratum_are_close_to_the_targets():
    plan = make_plan(_units(600), (0.7, 0.15, 0.15), seed=0, folds=0)
    report = split_report(plan)
    assert report["max_deviation_pp"] <= 2.0
    for row in report["strata"]:
        assert abs(row["share"]["train"] - 0.7) <= 0.02


def test_same_seed_same_plan_other_seed_other_plan():
    first = make_plan(_units(), (0.8, 0.1, 0.1), seed=7, folds=5).units
    again = make_plan(_units(), (0.8, 0.1, 0.1), seed=7, folds=5).units
    other = make_plan(_units(), (0.8, 0.1, 0.1), seed=8, folds=5).units
    pd.testing.assert_frame_equal(first, again)
    assert not first["split"].equals(other["split"])


def test_a_zero_share_leaves_the_split_empty():
    plan = make_plan(_units(60), (0.8, 0.2, 0.0), seed=0, folds=0)
    assert "test" not in set(plan.units["split"])


def test_too_few_groups_for_the_folds_is_a_usage_error():
    with pytest.raises(UsageError, match="--folds 5 needs at least 5"):
        make_plan(_units(9, group_size=3), (0.8, 0.1, 0.1), seed=0, folds=5)


def _rows() -> pd.DataFrame:
    """Manifest-like rows: 4 full images, two tiles of the first, one shared CBC report, one given group."""
    ids = ["anerbc1_a_001", "anerbc1_a_002", "anerbc1_h_001", "anerbc1_h_002"]
    rows = pd.DataFrame(
        {
            "sample_id": ids + ["anerbc2_a_0001_01", "anerbc2_a_0001_02"],
            "parent_id": ids + ["anerbc1_a_001", "anerbc1_a_001"],
            "group_id": [None, None, "patient7", "patient7", None, None],
            "class_name": ["anemic", "anemic", "healthy", "healthy", "anemic", "anemic"],
            "severity": ["mild", "chronic", None, None, "mild", "mild"],
            "tile_index": [None, None, None, None, 1, 2],
        }
    )
    return rows.astype({"tile_index": "Int64"})


def test_join_groups_follows_shared_reports_duplicates_and_given_groups():
    rows = _rows()
    units = parent_units(rows)
    shared = [{"sample_ids": ["anerbc1_a_002", "anerbc2_a_0001_01"]}]  # a report shared with a tile's parent
    groups = join_groups(units, rows, duplicates=[], shared_cbc=shared).tolist()
    by_parent = dict(zip(units["parent_id"], groups, strict=True))
    assert by_parent["anerbc1_a_001"] == by_parent["anerbc1_a_002"] == "anerbc1_a_001"
    assert by_parent["anerbc1_h_001"] == by_parent["anerbc1_h_002"]
    assert units.set_index("parent_id").loc["anerbc1_a_001", "n_samples"] == 3
    assert units.set_index("parent_id").loc["anerbc1_a_001", "stratum"] == "anemic/mild"


def test_a_group_is_named_by_its_smallest_parent_whatever_the_join_order():
    ids = ["p1", "p2", "p3", "p4", "p5"]
    units = pd.DataFrame({"parent_id": ids, "given_group": [None, None, None, "g", "g"]})
    rows = pd.DataFrame({"sample_id": ids, "parent_id": ids, "group_id": [None] * 5})
    chain = [{"sample_ids": ["p5", "p3"]}, {"sample_ids": ["p3", "p1", "p3"]}]  # p4-p5 (given), p5-p3, p3-p1
    groups = join_groups(units, rows, duplicates=chain, shared_cbc=[]).tolist()
    assert groups == ["p1", "p2", "p1", "p1", "p1"]
    assert join_groups(units, rows, duplicates=chain[::-1], shared_cbc=[]).tolist() == groups


def test_a_left_out_tile_still_joins_its_parent_to_the_one_it_duplicates():
    # A release tile with a defect is left out of the build, but it copies another class's tile: its parent and the
    # copied tile's parent must share a split, or the leakage check (which reads every row) finds a leak.
    rows = _rows()
    kept = rows[rows["sample_id"] != "anerbc2_a_0001_02"]
    units = parent_units(kept)
    duplicates = [{"sample_ids": ["anerbc2_a_0001_02", "anerbc1_h_002"]}]
    groups = dict(zip(units["parent_id"], join_groups(units, rows, duplicates=duplicates, shared_cbc=[]), strict=True))
    assert groups["anerbc1_a_001"] == groups["anerbc1_h_002"]
    alone = dict(zip(units["parent_id"], join_groups(units, kept, duplicates=duplicates, shared_cbc=[]), strict=True))
    assert alone["anerbc1_a_001"] != alone["anerbc1_h_002"]  # what the build did when it passed only kept rows


def test_imported_splits_refuse_a_parent_in_two_splits():
    rows = _rows()
    units = parent_units(rows).assign(group_id=lambda u: u["parent_id"])
    table = pd.DataFrame(
        {
            "sample_id": ["anerbc2_a_0001_01", "anerbc2_a_0001_02", "anerbc1_a_002", "anerbc1_h_001", "anerbc1_h_002"],
            "split": ["train", "test", "train", "val", "test"],
        }
    )
    with pytest.raises(DataError, match="groups in several splits"):
        import_plan(units, rows, table=table, source="splits.csv", folds=0, seed=0)


def test_imported_splits_let_tiles_follow_their_parent_and_name_missing_parents():
    rows = _rows()
    units = parent_units(rows).assign(group_id=lambda u: u["parent_id"])
    table = pd.DataFrame({"sample_id": ["anerbc1_a_001", "anerbc1_a_002", "anerbc1_h_001"], "split": ["train"] * 3})
    with pytest.raises(DataError, match="anerbc1_h_002"):
        import_plan(units, rows, table=table, source="splits.csv", folds=0, seed=0)
    full = pd.concat([table, pd.DataFrame({"sample_id": ["anerbc1_h_002"], "split": ["VAL"]})])
    plan = import_plan(units, rows, table=full, source="splits.csv", folds=0, seed=0)
    assert plan.split_of_samples(rows).tolist() == ["train", "train", "train", "validation", "train", "train"]


def test_split_names_are_normalised_or_refused():
    assert normalise_split_name(" Valid ", "f.csv") == "validation"
    with pytest.raises(DataError, match="holdout"):
        normalise_split_name("holdout", "f.csv")


def test_an_open_split_left_empty_is_refused_with_the_counts_and_shares_that_work():
    units = _units(4, group_size=1)
    with pytest.raises(UsageError, match="gives train 3, validation 1, test 0 parents") as caught:
        make_plan(units, (0.8, 0.1, 0.1), seed=0, folds=0)
    message = str(caught.value)
    assert "so test would be empty" in message and "--split-ratios 1,0,0" in message
    suggested = tuple(float(v) for v in message.split("e.g. --split-ratios ")[1].split(")")[0].split(","))
    plan = make_plan(units, suggested, seed=0, folds=0)  # the suggestion really works on this data
    assert set(plan.units["split"]) == {"train", "validation", "test"}


def test_empty_split_and_too_many_folds_are_reported_together():
    with pytest.raises(UsageError, match="would be empty.*and --folds 5 needs at least 5 split groups"):
        make_plan(_units(4, group_size=1), (0.8, 0.1, 0.1), seed=0, folds=5)


# ---------------------------------------------------------------- feasibility before any work (rbc-dataset build)


@pytest.fixture(scope="module")
def tiny_manifest(synthetic_root, tmp_path_factory) -> Path:
    """The manifest of ``synthetic_root``: 4 parent images (2 anaemic, 2 healthy) and their 48 tiles."""
    from rbc_dataset.ingestion import ingest

    out = tmp_path_factory.mktemp("tiny_manifest") / "manifest.parquet"
    ingest(synthetic_root, out=out, workers=1, show_progress=False)
    return out


def _never_validate(*args, **kwargs):
    raise AssertionError("validation ran although the options cannot work on this data")


@pytest.mark.parametrize(
    ("options", "phrases"),
    [
        ([], ["gives train 4, validation 0, test 0 parents", "--folds 5 needs at least 5 split groups"]),
        (["--folds", "0"], ["validation and test would be empty", "--split-ratios 1,0,0"]),
        (["--folds", "5", "--split-ratios", "0.4,0.3,0.3"], ["--folds 5 needs at least 5 split groups"]),
    ],
)
def test_build_refuses_impossible_splits_before_validation(tiny_manifest, tmp_path, monkeypatch, options, phrases):
    monkeypatch.setattr("rbc_dataset.shards.run.validate_masks", _never_validate)
    out = tmp_path / "dataset"
    args = ["build", str(tiny_manifest), "--out", str(out), "--data-configs", "model", "--workers", "1", "-q", *options]
    result = CliRunner().invoke(dataset_app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and str(tiny_manifest) in " ".join(result.output.split())
    for phrase in phrases:
        assert phrase in " ".join(result.output.split())
    assert not out.exists()


def test_imported_splits_with_too_few_groups_for_the_folds_fail_before_validation(tiny_manifest, tmp_path, monkeypatch):
    monkeypatch.setattr("rbc_dataset.shards.run.validate_masks", _never_validate)
    rows = pd.read_parquet(tiny_manifest)
    full = rows[rows["tile_index"].isna()]
    table = pd.DataFrame({"sample_id": full["sample_id"], "split": ["train", "train", "validation", "test"]})
    table.to_csv(tmp_path / "splits.csv", index=False)
    args = ["build", str(tiny_manifest), "--out", str(tmp_path / "d"), "--splits", str(tmp_path / "splits.csv")]
    result = CliRunner().invoke(dataset_app, [*args, "--folds", "4", "-q"])
    assert result.exit_code == 2 and "--folds 4 needs at least 4 split groups in train+validation, found 3" in (
        " ".join(result.output.split())
    )


def test_feasible_options_pass_the_early_check(tiny_manifest):
    rows = pd.read_parquet(tiny_manifest)
    check_feasible(rows, BuildConfig(split_ratios=(0.4, 0.3, 0.3), folds=0), source=str(tiny_manifest))
    check_feasible(rows, BuildConfig(split_ratios=(1.0, 0.0, 0.0), folds=2), source=str(tiny_manifest))
