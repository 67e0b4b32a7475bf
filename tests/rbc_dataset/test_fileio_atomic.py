"""Atomic outputs: two runs to one output, leftovers of killed runs, failed writes, outputs that belong together."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rbc_dataset.errors import UsageError
from rbc_dataset.faults import unfinished_outputs
from rbc_dataset.fileio import atomic_directory, atomic_write_bytes, remove_stale_partials, removed_on_error


def _dead_pid() -> int:
    """The id of a process that has ended (and, right after, is not reused)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_the_later_of_two_interleaved_runs_fails_and_the_earlier_output_is_kept(tmp_path):
    out = tmp_path / "dataset"
    first, second = atomic_directory(out), atomic_directory(out)
    a, b = first.__enter__(), second.__enter__()  # both started while `out` did not exist
    assert a != b
    (a / "owner.txt").write_text("first")
    (b / "owner.txt").write_text("second")
    first.__exit__(None, None, None)
    with pytest.raises(UsageError, match="written by another run") as caught:
        second.__exit__(None, None, None)
    assert "--overwrite" in str(caught.value)
    assert (out / "owner.txt").read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset"]  # the loser's folder is gone


def test_with_overwrite_the_later_run_replaces_the_earlier(tmp_path):
    out = tmp_path / "dataset"
    first, second = atomic_directory(out, overwrite=True), atomic_directory(out, overwrite=True)
    a, b = first.__enter__(), second.__enter__()
    (a / "owner.txt").write_text("first")
    (b / "owner.txt").write_text("second")
    first.__exit__(None, None, None)
    second.__exit__(None, None, None)
    assert (out / "owner.txt").read_text() == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset"]


def test_an_empty_output_folder_made_ahead_is_used(tmp_path):
    out = tmp_path / "dataset"
    out.mkdir()
    with atomic_directory(out) as tmp:
        (tmp / "x.txt").write_text("x")
    assert (out / "x.txt").is_file()


def test_a_failed_block_removes_its_folder_and_names_the_output_on_the_exception(tmp_path):
    out = tmp_path / "dataset"
    with pytest.raises(OSError) as caught, atomic_directory(out) as tmp:
        (tmp / "half.bin").write_bytes(b"x")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert unfinished_outputs(caught.value) == [out]
    assert list(tmp_path.iterdir()) == []


def test_leftovers_of_ended_processes_are_removed_and_those_of_running_ones_kept(tmp_path):
    out = tmp_path / "dataset"
    dead = tmp_path / f".dataset.partial-{_dead_pid()}-0a1b2c3d"
    old_style = tmp_path / f".dataset.partial-{_dead_pid()}"  # names written before the token was added
    live = tmp_path / f".dataset.partial-{os.getpid()}-0a1b2c3d"
    other = tmp_path / f".other.partial-{_dead_pid()}"
    for folder in (dead, old_style, live, other):
        (folder / "hdf5").mkdir(parents=True)
    with atomic_directory(out) as tmp:
        (tmp / "x.txt").write_text("x")
    assert not dead.exists() and not old_style.exists()
    assert live.exists() and other.exists()  # a running build's folder, another output's leftovers
    assert remove_stale_partials(out) == []


def test_atomic_write_bytes_leaves_nothing_when_the_write_fails(tmp_path, monkeypatch):
    target = tmp_path / "report.json"
    target.write_bytes(b"previous")

    def full_disk(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]
    assert target.read_bytes() == b"previous"


def test_removed_on_error_removes_what_the_block_wrote_and_keeps_the_rest(tmp_path):
    untouched, rewritten, new, thumbs = (tmp_path / n for n in ("old.md", "r.json", "r.md", "r_thumbs"))
    untouched.write_text("earlier run")
    rewritten.write_text("earlier run")
    with pytest.raises(KeyboardInterrupt), removed_on_error(untouched, rewritten, new, thumbs):
        atomic_write_bytes(rewritten, b"this run")
        new.write_text("this run")
        thumbs.mkdir()
        (thumbs / "a.png").write_bytes(b"png")
        raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.md"]
    with removed_on_error(new):
        new.write_text("kept when the block succeeds")
    assert new.is_file()


def test_a_run_killed_without_cleanup_is_cleaned_by_the_next(tmp_path):
    """The real thing: a process dies inside atomic_directory; the next run for the output removes its folder."""
    out = tmp_path / "dataset"
    code = (
        "import os, sys\nfrom pathlib import Path\nfrom rbc_dataset.fileio import atomic_directory\n"
        "with atomic_directory(Path(sys.argv[1])) as tmp:\n    (tmp / 'half').write_text('x')\n    os._exit(9)\n"
    )
    root = Path(__file__).resolve().parents[2]
    process = subprocess.run([sys.executable, "-c", code, str(out)], cwd=root, check=False)
    assert process.returncode == 9
    assert len(list(tmp_path.glob(".dataset.partial-*"))) == 1
    with atomic_directory(out) as tmp:
        (tmp / "whole").write_text("x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset"]
