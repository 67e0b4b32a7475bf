"""Faults at the command boundary: a full disk and a termination signal, each answered by one clear message.

Every command runs inside ``signals_as_interrupt`` (``cli_options.fail_cleanly``): SIGTERM, like Ctrl-C, raises an
``Interrupted``, which is a ``KeyboardInterrupt`` so that the cleanup every output already has for Ctrl-C
(``atomic_directory``, the shard writers, the worker pools) runs for both. ``disk_full_error`` recognises a
full disk whatever library reported it and names what was left, so one check at the boundary serves every
command. ``atomic_directory`` records the outputs it removed on the exception (``note_unfinished``), which
lets the message say what was not written.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

from rbc_dataset.errors import DataError

DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# h5py raises RuntimeError for errors in HDF5's close path, with the errno only in the text ("errno = 28");
# pyarrow puts the C library's message in its own text; both are matched on what they say.
DISK_FULL_TEXT = ("No space left on device", "Disk quota exceeded", "errno = 28,", "errno = 122,")
_UNFINISHED = "rbc_unfinished_outputs"


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM received by a command (a KeyboardInterrupt, so every Ctrl-C cleanup runs for it)."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(signal.Signals(signum).name)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM


@contextlib.contextmanager
def signals_as_interrupt() -> Iterator[None]:
    """Raise ``Interrupted`` in this (main) thread on SIGINT and SIGTERM while the block runs.

    After the first signal both are ignored until the block ends, so the cleanup that follows is not cut
    short and the user sees one message. A SIGINT that the parent process set to be ignored (``nohup``, a
    background job) stays ignored. Outside the main thread (where Python cannot install handlers) nothing
    changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wanted = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.getsignal(s) for s in wanted}

    def handler(signum, frame):
        for s in wanted:
            signal.signal(s, signal.SIG_IGN)
        raise Interrupted(signum)

    for s in wanted:
        if previous[s] is not signal.SIG_IGN or s == signal.SIGTERM:
            signal.signal(s, handler)
    try:
        yield
    finally:
        for s, action in previous.items():
            signal.signal(s, action if action is not None else signal.SIG_DFL)


def note_unfinished(exc: BaseException, out: Path) -> None:
    """Record on ``exc`` that the unfinished ``out`` was removed while it propagated."""
    exc.__dict__.setdefault(_UNFINISHED, []).append(Path(out))


def unfinished_outputs(exc: BaseException) -> list[Path]:
    """The outputs whose unfinished copies were removed while ``exc`` propagated (``note_unfinished``)."""
    return list(exc.__dict__.get(_UNFINISHED, []))


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def disk_full_cause(exc: BaseException) -> BaseException | None:
    """The exception in ``exc``'s chain (causes and contexts) that reports a full disk, or ``None``."""
    for item in _chain(exc):
        if isinstance(item, OSError) and item.errno in DISK_FULL_ERRNOS:
            return item
        if isinstance(item, OSError | RuntimeError) and any(text in str(item) for text in DISK_FULL_TEXT):
            return item
    return None


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "..."


def disk_full_error(
    exc: BaseException, *, outputs: list[Path] = (), expected: str = "free disk space to write the output"
) -> DataError | None:
    """A ``DataError`` naming the output for a full disk anywhere in ``exc``'s chain; ``None`` for anything else.

    Args:
        exc: what a command raised.
        outputs: the command's output paths, named when the exception does not say which file it was writing.
        expected: what the message says was needed.
    """
    cause = disk_full_cause(exc)
    if cause is None:
        return None
    removed = [p for item in _chain(exc) for p in unfinished_outputs(item)]
    path = (removed or [None])[0] or getattr(cause, "filename", None) or next(iter(outputs), None)
    left = (
        f"the unfinished {', '.join(str(p) for p in removed)} was removed"
        if removed
        else "files written before the disk filled up may be incomplete: delete them"
    )
    return DataError(
        path,
        expected,
        f"a full disk ({_first_line(cause)})",
        f"free space or write to another disk, then run the command again ({left}; earlier complete "
        "outputs are unchanged)",
    )


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (one of another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
