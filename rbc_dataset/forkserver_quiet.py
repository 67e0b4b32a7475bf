"""Imported only inside multiprocessing's forkserver process (``parallel.process_pool`` preloads it there).

When the main process is interrupted (SIGTERM, Ctrl-C) while its pool is still starting, a worker the server has
just forked finds the pipe that should bring its task already closed and dies with ``EOFError``; the server then
prints that worker's traceback to the user's terminal, under the toolkit's one-line "interrupted" message. A
worker whose parent went away has nothing to report, so this hook keeps such ends quiet and passes every other
error to Python's own hook. The main process never imports this module: its own hook stays as it is.
"""

from __future__ import annotations

import sys

_PARENT_GONE = (EOFError, BrokenPipeError, ConnectionResetError)


def _hook(kind, value, traceback) -> None:
    if issubclass(kind, _PARENT_GONE):
        return
    sys.__excepthook__(kind, value, traceback)


sys.excepthook = _hook
