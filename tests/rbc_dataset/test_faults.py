"""A full disk recognised whatever library reports it; SIGTERM and SIGINT turned into one interrupt."""

from __future__ import annotations

import errno
import os
import signal
import time
from pathlib import Path

import pytest

from rbc_dataset.faults import (
    Interrupted,
    disk_full_cause,
    disk_full_error,
    note_unfinished,
    pid_alive,
    signals_as_interrupt,
)

# What the libraries actually raised on a 3 MB tmpfs (messages shortened).
H5PY_CLOSE = RuntimeError(
    "Can't decrement id ref count (file write failed: time = Thu Dec  3 10:15:39 2026\n, filename = "
    "'small/.b.partial-6646/hdf5/model/train.h5', file descriptor = 3, errno = 28, error message = 'No space "
    "left on device', buf = 0x561a81f26cba, total write size = 97717)"
)
PYARROW_WRITE = OSError("Error writing bytes to file. Detail: [errno 28] No space left on device")


@pytest.mark.parametrize(
    "exc",
    [OSError(errno.ENOSPC, "No space left on device"), OSError(errno.EDQUOT, "Disk quota exceeded"), H5PY_CLOSE,
     PYARROW_WRITE],
)  # fmt: skip
def test_a_full_disk_is_recognised_from_every_library(exc):
    assert disk_full_cause(exc) is exc


def test_a_full_disk_is_found_behind_the_exception_it_caused():
    try:
        try:
            raise H5PY_CLOSE
        except RuntimeError as inner:
            raise ValueError("while closing a shard") from inner
    except ValueError as outer:
        assert disk_full_cause(outer) is H5PY_CLOSE


@pytest.mark.parametrize(
    "exc", [OSError(errno.EACCES, "Permission denied"), RuntimeError("Can't decrement id ref count"), ValueError("x")]
)
def test_other_errors_are_not_a_full_disk(exc):
    assert disk_full_cause(exc) is None and disk_full_error(exc) is None


def test_the_message_names_the_removed_output(tmp_path):
    exc = OSError(errno.ENOSPC, "No space left on device")
    note_unfinished(exc, tmp_path / "dataset")
    error = disk_full_error(exc, outputs=[tmp_path / "other"])
    assert error.path == tmp_path / "dataset" and error.exit_code == 1
    assert "full disk" in str(error) and "unfinished" in str(error) and "was removed" in str(error)
    named = disk_full_error(OSError(errno.ENOSPC, "No space left on device"), outputs=[Path("out")])
    assert named.path == Path("out") and "may be incomplete" in str(named)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_and_sigint_raise_one_interrupt_and_the_handlers_come_back(signum, code):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with pytest.raises(Interrupted) as caught, signals_as_interrupt():
        os.kill(os.getpid(), signum)
        time.sleep(5)  # the handler raises at once
    assert caught.value.exit_code == code and isinstance(caught.value, KeyboardInterrupt)
    assert {s: signal.getsignal(s) for s in before} == before


def test_pid_alive():
    assert pid_alive(os.getpid()) and not pid_alive(2**22 + 12345)
