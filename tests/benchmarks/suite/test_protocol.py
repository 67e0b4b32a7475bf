"""The test-split guard: no look before selection is closed, one look per case, every look recorded."""

from __future__ import annotations

import pytest

from benchmarks.suite.protocol import ProtocolError, TestSplitGuard
from benchmarks.suite.run_folder import RunFolder, case_name
from rbc_dataset.errors import DataError, UsageError


def test_the_test_split_opens_once_per_case_and_only_after_selection():
    opened = []
    guard = TestSplitGuard(lambda: opened.append(1) or "test data")
    with pytest.raises(ProtocolError, match="before model selection was closed"):
        guard.final_test("resnet18/seed0")
    assert opened == []  # a refused look does not even open the split
    guard.close_selection("resnet18/seed0")
    assert guard.final_test("resnet18/seed0") == "test data"
    with pytest.raises(ProtocolError, match="already used once"):
        guard.final_test("resnet18/seed0")
    guard.close_selection("resnet18/seed1")
    assert guard.final_test("resnet18/seed1") == "test data"
    assert opened == [1]  # opened lazily, once for all cases
    assert [entry["case"] for entry in guard.accesses] == ["resnet18/seed0", "resnet18/seed1"]
    assert isinstance(ProtocolError("x"), UsageError)


def test_accesses_survive_an_interruption_and_block_a_second_look(tmp_path):
    record = tmp_path / "test_accesses.jsonl"
    first = TestSplitGuard(lambda: "test data", record)
    first.close_selection("3tier/seed0")
    first.final_test("3tier/seed0")
    resumed = TestSplitGuard(lambda: "test data", record)
    assert [entry["case"] for entry in resumed.accesses] == ["3tier/seed0"]
    resumed.close_selection("3tier/seed0")
    with pytest.raises(ProtocolError, match="start a new run"):
        resumed.final_test("3tier/seed0")


def test_run_folders_are_hidden_until_finished_and_resume_only_a_partial_folder(tmp_path):
    run = RunFolder.create(tmp_path, "3tier")
    assert run.path.name.startswith(".") and run.path.name.endswith(".partial") and not run.final.exists()
    assert run.predictions_path("3tier", 1, fold=2, split="test").name == "seed1_fold2_test.csv"
    resumed = RunFolder.resume(run.path)
    assert resumed.final == run.final
    final = run.finish()
    assert final.is_dir() and not final.name.startswith(".")
    with pytest.raises(DataError, match="unfinished run folder"):
        RunFolder.resume(final)
    assert case_name("3tier", 0) == "3tier/seed0" and case_name("3tier", 0, fold=1) == "3tier/seed0_fold1"
