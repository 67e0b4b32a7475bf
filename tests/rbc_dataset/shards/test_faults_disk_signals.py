"""A full disk and SIGTERM/SIGINT/SIGKILL during build and validate-masks --fix: one clear line, nothing left over."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import dataset_app
from rbc_dataset.errors import DataError
from rbc_dataset.shards import hdf5_shards, parquet_shards
from rbc_dataset.shards.config import BuildConfig
from rbc_dataset.shards.run import build
from tests.helpers import PROJECT_ROOT, tree_hashes

CONFIG = BuildConfig(configs=("model",), split_ratios=(0.4, 0.3, 0.3), folds=0, workers=1, audit=False)
CLI = [sys.executable, "-c", "from cli import dataset_app; dataset_app()"]
BUILD_ARGS = ["--data-configs", "model", "--folds", "0", "--split-ratios", "0.4,0.3,0.3", "--no-audit", "-q"]

# The HDF5 writer's file, filling up after a number of bytes like a full disk (run in a child process: a
# write error that reached HDF5 crashed the interpreter at exit, exit code 139).
_HDF5_SCRIPT = """
import errno, sys
from pathlib import Path
from types import SimpleNamespace
import numpy as np
from rbc_dataset.shards.hdf5_shards import HDF5Layout, HDF5ShardWriter

class Quota:
    def __init__(self, handle, left):
        self.handle, self.left = handle, left
    def __getattr__(self, name):
        return getattr(self.handle, name)
    def write(self, data):
        self.left -= len(data)
        if self.left < 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.handle.write(data)

side = int(sys.argv[2])
layout = HDF5Layout("model", "train", 12, side, side, True, ("healthy", "anemic"), ("mild",), ("HGB",), {})
writer = HDF5ShardWriter(Path(sys.argv[1]), layout, codec="gzip", gzip_level=1)
writer.sink.handle = Quota(writer.sink.handle, 100_000)
rng = np.random.default_rng(0)
fields = {"label": 0, "severity": 0, "fold": 0, "group_id": "g"}
try:
    for i in range(12):
        image = rng.integers(0, 255, (side, side, 3), dtype=np.uint8)
        mask = np.zeros((side, side), np.uint8)
        writer.add(SimpleNamespace(image=image, mask=mask, fields=fields, sample_id=f"s{i}", parent_id="p",
                                   sha256="0" * 64))
    writer.close()
except OSError as exc:
    assert exc.errno == errno.ENOSPC, exc
    writer.abort()
    print("full disk reported", "while adding" if writer.count < 12 else "while closing")
"""


# 64 px: every chunk waits in HDF5's chunk cache until close; 600 px: the cache spills while samples are added.
@pytest.mark.parametrize(("side", "when"), [(64, "while closing"), (600, "while adding")])
def test_a_write_error_never_reaches_hdf5(side, when, tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", _HDF5_SCRIPT, str(tmp_path / "x.h5"), str(side)],
        capture_output=True, text=True, cwd=PROJECT_ROOT, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"full disk reported {when}" in done.stdout and "Traceback" not in done.stderr


def _h5py_close_failure(self):
    raise RuntimeError(
        "Can't decrement id ref count (file write failed: time = Thu Dec  3 10:15:39 2026\n, filename = "
        f"'{self.path}', file descriptor = 3, errno = 28, error message = 'No space left on device')"
    )


def _pyarrow_write_failure(self, sample):
    raise OSError("Error writing bytes to file. Detail: [errno 28] No space left on device")


@pytest.mark.parametrize(
    ("owner", "name", "fake"),
    [(hdf5_shards.HDF5ShardWriter, "close", _h5py_close_failure),
     (parquet_shards.ParquetSplitWriter, "add", _pyarrow_write_failure)],
)  # fmt: skip
def test_a_full_disk_reported_by_h5py_or_pyarrow_is_a_clear_error(
    owner, name, fake, synthetic_root, tmp_path, monkeypatch
):
    monkeypatch.setattr(owner, name, fake)
    out = tmp_path / "builds" / "dataset"
    with pytest.raises(DataError, match="full disk") as caught:
        build(synthetic_root, out=out, config=CONFIG, show_progress=False)
    assert caught.value.path == out and "was removed" in str(caught.value)
    assert list((tmp_path / "builds").iterdir()) == []


def test_validate_fix_on_a_full_disk_leaves_neither_masks_nor_report(synthetic_root, tmp_path, monkeypatch):
    from rbc_dataset.validate import run as validate_run

    def thumbnails_then_full(document, rows, report_path, limit):
        folder = report_path.with_name(report_path.stem + "_thumbs")
        folder.mkdir()
        (folder / "first.png").write_bytes(b"\x89PNG")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(validate_run, "write_summaries", thumbnails_then_full)
    before = tree_hashes(synthetic_root)
    args = ["validate-masks", str(synthetic_root), "--fix", str(tmp_path / "fixed"), "--out", str(tmp_path / "r")]
    result = CliRunner().invoke(dataset_app, args + ["--workers", "1", "-q"])
    assert result.exit_code == 1 and "full disk" in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"] and list((tmp_path / "r").iterdir()) == []
    assert tree_hashes(synthetic_root) == before


@contextlib.contextmanager
def _small_disk(folder: Path, size: str):
    """A tmpfs of ``size`` mounted on ``folder`` (skips the test where mounting is not allowed)."""
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True, check=False)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode(errors='replace').strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


@pytest.mark.parametrize(("command", "size"), [("build", "4m"), ("validate-masks", "600k")])
def test_a_real_full_disk_gives_one_line_and_leaves_nothing(command, size, synthetic_root, tmp_path):
    with _small_disk(tmp_path / "small", size) as small:
        if command == "build":
            # 4 MB fills up while the HDF5 shards are written (the crash with exit code 139 before).
            args = ["build", str(synthetic_root), "--out", str(small / "dataset"), "--formats", "hdf5", *BUILD_ARGS]
            args += ["--workers", "2"]
        else:
            args = ["validate-masks", str(synthetic_root), "--fix", str(small / "fixed"), "--out", str(small)]
            args += ["--workers", "2", "-q"]
        done = subprocess.run(CLI + args, capture_output=True, text=True, cwd=PROJECT_ROOT, check=False, timeout=300)
        left = sorted(p.name for p in small.rglob("*"))
    assert done.returncode == 1, done.stderr  # 139 was HDF5 crashing at exit
    assert "full disk" in done.stderr and "Traceback" not in done.stderr + done.stdout
    assert left == [], left


NEEDS_PROC = pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="processes are found through /proc")


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (the forkserver's workers are its grandchildren), from /proc."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def _running(pid: int) -> bool:
    with contextlib.suppress(OSError, IndexError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return False


def _start_build(source: Path, out: Path) -> tuple[subprocess.Popen, list[int]]:
    """A build with two workers, once its partial folder and its workers exist."""
    args = ["build", str(source), "--out", str(out), "--workers", "2", *BUILD_ARGS]
    process = subprocess.Popen(CLI + args, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        workers = _descendants(process.pid)
        if any(out.parent.glob(f".{out.name}.partial-*")) and len(workers) >= 3:  # tracker, server, a worker
            return process, workers
        time.sleep(0.05)
    process.kill()
    pytest.fail(f"the build never started its workers: {process.communicate()}")


def _all_ended(pids: list[int], seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while any(_running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not any(_running(p) for p in pids)


@NEEDS_PROC
@pytest.mark.parametrize(("how", "code", "name"), [("SIGTERM", 143, "SIGTERM"), ("Ctrl-C", 130, "SIGINT")])
def test_an_interrupted_build_prints_one_line_and_leaves_nothing(how, code, name, synthetic_root, tmp_path):
    out = tmp_path / "dataset"
    process, workers = _start_build(synthetic_root, out)
    if how == "Ctrl-C":
        os.killpg(process.pid, signal.SIGINT)  # the terminal sends it to the whole process group
    else:
        process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == code, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"interrupted by {name}" in lines[0] and "nothing was written" in lines[0], stderr
    assert "Traceback" not in stdout + stderr
    assert _all_ended(workers), [p for p in workers if _running(p)]
    assert list(tmp_path.iterdir()) == []


@NEEDS_PROC
def test_the_workers_of_a_killed_build_end_and_the_next_build_cleans_up(synthetic_root, tmp_path):
    out = tmp_path / "dataset"
    process, workers = _start_build(synthetic_root, out)
    process.kill()
    process.communicate(timeout=60)
    assert _all_ended(workers), [p for p in workers if _running(p)]
    assert len(list(tmp_path.glob(".dataset.partial-*"))) == 1  # SIGKILL: nobody could clean up
    build(synthetic_root, out=out, config=CONFIG, show_progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset"]
