"""Progress bars count what the user knows (pairs, files, parents), never the chunks the workers get."""

from __future__ import annotations

import ast
import io
import re
import shutil
from pathlib import Path

import pytest
from rich.console import Console

import rbc_dataset.progress
from rbc_dataset.progress import library_bars, track

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bar_text(monkeypatch) -> io.StringIO:
    """What the bars print: a non-terminal console writes each bar's final state once."""
    buffer = io.StringIO()
    monkeypatch.setattr(rbc_dataset.progress, "_console", lambda: Console(file=buffer, width=120))
    return buffer


def test_a_bar_over_chunks_advances_by_their_sizes(bar_text) -> None:
    chunks = [list(range(16)), list(range(16)), list(range(2))]
    assert list(track(iter(chunks), 34, description="validate pairs", sizes=map(len, chunks))) == chunks
    assert "validate pairs" in bar_text.getvalue() and "34/34" in bar_text.getvalue()
    bar_text.truncate(0)
    list(track(iter(chunks), 3, description="one per item"))  # without sizes: one step per item, as before
    assert "3/3" in bar_text.getvalue()


def test_quiet_draws_nothing(bar_text) -> None:
    assert list(track([1, 2], 2, description="x", show=False)) == [1, 2] and bar_text.getvalue() == ""


def _track_calls() -> list[tuple[str, ast.Call]]:
    calls = []
    for folder in ("rbc_dataset", "annotation", "benchmarks"):
        for path in sorted((PROJECT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "track":
                    calls.append((f"{path.relative_to(PROJECT)}:{node.lineno}", node))
    return calls


def test_no_bar_counts_chunks() -> None:
    """The total of every bar is not a count of chunks, and a bar over chunk results says their sizes."""
    calls = _track_calls()
    assert len(calls) >= 10  # the scan finds the bars (ingest, validate, audit, tiles, shards, annotate, ...)
    for where, call in calls:
        total = call.args[1] if len(call.args) > 1 else next(k.value for k in call.keywords if k.arg == "total")
        assert "chunk" not in ast.unparse(total), f"{where}: the bar's total counts chunks ({ast.unparse(total)})"
        if "chunk" in ast.unparse(call.args[0]):
            assert any(k.arg == "sizes" for k in call.keywords), f"{where}: a bar over chunks needs sizes="


def test_ingest_and_validate_bars_count_files_and_pairs(synthetic_root: Path, tmp_path: Path, bar_text) -> None:
    from rbc_dataset.ingestion import ingest
    from rbc_dataset.validate import ValidateConfig, validate_masks

    result = ingest(synthetic_root, out=tmp_path / "m.parquet", workers=1, show_progress=True)
    done, total = map(int, re.search(r"ingest files\D*(\d+)/(\d+)", bar_text.getvalue()).groups())
    assert result.n_samples == 52 and done == total > 3 * 52  # each file (image, masks, reports), not 64-file chunks
    part = tmp_path / "part" / "AneRBC_dataset" / "AneRBC-I"
    shutil.copytree(synthetic_root / "AneRBC_dataset" / "AneRBC-I", part)
    bar_text.truncate(0)
    validate_masks(part.parents[1], out_dir=tmp_path / "r", config=ValidateConfig(workers=1), show_progress=True)
    assert "validate pairs" in bar_text.getvalue() and "4/4" in bar_text.getvalue()


def test_library_bars_are_hidden_inside_and_restored_after() -> None:
    import datasets

    assert not datasets.are_progress_bars_disabled()
    with library_bars(show=False):
        assert datasets.are_progress_bars_disabled()
    assert not datasets.are_progress_bars_disabled()
    with library_bars(show=True):
        assert not datasets.are_progress_bars_disabled()
