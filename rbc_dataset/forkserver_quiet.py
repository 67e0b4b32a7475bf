"""Imported only inside multiprocessing's forkserver process (``parallel.process_pool`` preloads it there).

When the main process is interrupted (SIGTERM, Ctrl-C) while its pool is still starting, a worker the server has
just forked finds the pipe that should bring its task already closed and dies with ``EOFError`` (or cannot
rebuild a semaphore the parent has already unlinked: ``FileNotFoundError`` in ``synchronize.py``); the server then
prints that worker's traceback to the user's terminal, under the toolkit's one-line "interrupted" message. A
worker whose parent went away has nothing to report, so this hook keeps such ends quiet and passes every other
error to Python's own hook. The main process never imports this module: its own hook stays as it is.

Ctrl-C reaches the whole process group. A worker ignores SIGINT once its initializer has run, but one forked in
the moment before printed "Process ForkServerProcess-1:" under the one-line message (seen under load in CI).
The server hands its children the SIGINT handling it had after its preloads, so ignoring SIGINT here makes
every worker ignore it from birth; the main process alone answers Ctrl-C and stops its workers.
"""

from __future__ import annotations

import signal
import sys

_PARENT_GONE = (EOFError, BrokenPipeError, ConnectionResetError)


def _lock_of_a_gone_parent(kind, traceback) -> bool:
    """A worker that cannot rebuild its parent's semaphore: the parent exited and unlinked it."""
    if not issubclass(kind, FileNotFoundError):
        return False
    while traceback.tb_next is not None:
        traceback = traceback.tb_next
    return traceback.tb_frame.f_code.co_filename.endswith("synchronize.py")


def _hook(kind, value, traceback) -> None:
    if issubclass(kind, _PARENT_GONE) or (traceback is not None and _lock_of_a_gone_parent(kind, traceback)):
        return
    sys.__excepthook__(kind, value, traceback)


sys.excepthook = _hook
signal.signal(signal.SIGINT, signal.SIG_IGN)
