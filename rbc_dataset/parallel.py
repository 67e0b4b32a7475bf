"""Worker pools that are safe to start from any process.

Plain ``fork`` copies a parent that may hold OpenCV's or BLAS's thread-pool locks (after any image was
decoded in it) and the children then deadlock. ``forkserver`` forks workers from a clean, single-threaded
server process instead, and is still much cheaper than ``spawn`` per task.

Workers never outlive the command: they ignore SIGINT (a Ctrl-C reaches the whole process group; only the
main process reports it), end as soon as the process that started them does (even when it is SIGKILLed),
and a pool left by an exception or an interrupt is stopped at once instead of first running every queued
task.

A library runs inside someone else's process, so nothing here changes that process for good: OpenCV runs on
one thread only inside a task (``opencv_single_thread``), and a pool is never started where its workers would
re-run the caller's script (``pool_refusal``); the work then runs in this process, with a warning saying why.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import inspect
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def worker_count(requested: int | None) -> int:
    """``requested`` processes, or every core for 0/None; 1 where no pool can start here (``pool_refusal``)."""
    workers = requested or os.cpu_count() or 1
    if workers > 1 and _refused(workers):
        return 1
    return workers


@contextlib.contextmanager
def opencv_single_thread() -> Iterator[None]:
    """OpenCV on one thread inside the block (or the decorated function); the caller's setting is restored after.

    Pool tasks decorate themselves with it: with one process per core, OpenCV's own threads on top only contend,
    and some operations give slightly different values with several threads. Restoring matters when a task runs
    in the caller's process (one worker): it must not leave the caller's OpenCV on one thread.
    """
    import cv2

    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(previous)


# ------------------------------------------------------------------- where a pool cannot start


def _main_code_line(main) -> int | None:
    """The line of the main module's top-level code that is running now (None when none is on the stack)."""
    frame = inspect.currentframe()
    while frame is not None:
        if frame.f_globals is vars(main) and frame.f_code.co_name == "<module>":
            return frame.f_lineno
        frame = frame.f_back
    return None


def _is_main_check(test: ast.expr) -> bool:
    """Whether an ``if`` test holds ``__name__ == "__main__"``."""
    for node in ast.walk(test):
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq):
            sides = [node.left, *node.comparators]
            names = {side.id for side in sides if isinstance(side, ast.Name)}
            values = {side.value for side in sides if isinstance(side, ast.Constant)}
            if names == {"__name__"} and values == {"__main__"}:
                return True
    return False


@functools.lru_cache(maxsize=16)
def _guarded_lines(path: str, mtime_ns: int) -> tuple[tuple[int, int], ...] | None:
    """(first, last) line of every ``if __name__ == "__main__":`` block of a Python file; None if unreadable."""
    try:
        tree = ast.parse(Path(path).read_bytes(), filename=path)
    except (OSError, SyntaxError, ValueError):
        return None
    blocks = (node for node in ast.walk(tree) if isinstance(node, ast.If) and _is_main_check(node.test))
    return tuple((node.lineno, node.end_lineno or node.lineno) for node in blocks)


def _refusal() -> tuple[str, str, str, int] | None:
    """Why worker processes would fail from here, the fix, and the main program's file and line; None if they work.

    Every worker (forkserver and spawn alike) first loads the caller's main program again, as ``__mp_main__``,
    unless it has no file (``python -c``, a notebook, the REPL) or is a package's ``__main__``. A script that
    starts the work outside an ``if __name__ == "__main__":`` block would then start it again in every worker,
    which fails (``BrokenProcessPool``); a program read from standard input cannot be loaded at all.
    """
    main = sys.modules.get("__main__")
    spec_name = getattr(getattr(main, "__spec__", None), "name", None) or ""
    path = getattr(main, "__file__", None)
    if main is None or path is None or spec_name == "__main__" or spec_name.endswith(".__main__"):
        return None
    line = _main_code_line(main)
    if not spec_name and not os.path.isfile(path):
        why = f"the main program ({path}) is not a file that worker processes can load"
        return why, "save the program as a file and run that to use worker processes", path, line or 0
    if line is None:  # started outside the main program's top-level code (a thread, an import): not re-run
        return None
    try:
        guarded = _guarded_lines(path, os.stat(path).st_mtime_ns)
    except OSError:
        return None
    if guarded is None or any(first <= line <= last for first, last in guarded):
        return None
    name = os.path.basename(path)
    guard = '`if __name__ == "__main__":`'
    why = f"{name} starts it outside an {guard} block and every worker process would run {name} again"
    return why, f"put the call under {guard} to use worker processes", path, line


def pool_refusal() -> str | None:
    """Why a process pool cannot start from the code running now (None when it can)."""
    found = _refusal()
    return found[0] if found else None


_warned: dict = {}  # the warnings registry of this module: each fallback is reported once per program line


def _refused(workers: int) -> bool:
    """Whether ``workers`` processes cannot start here; if so, warn once, naming the caller's line and the fix."""
    found = _refusal()
    if found is None:
        return False
    why, fix, path, line = found
    message = f"rbc_dataset runs this work in 1 process instead of {workers}: {why}; {fix}"
    warnings.warn_explicit(message, RuntimeWarning, path, line, registry=_warned)
    return True


def _exit_with_parent() -> None:
    """End this worker as soon as the process that started the pool ends (even by SIGKILL).

    Neither the parent id nor PR_SET_PDEATHSIG will do: a forkserver worker's parent is the server, which
    itself only exits once every worker has closed its copy of the server's keep-alive pipe. The sentinel
    multiprocessing gives every child is a pipe whose other end only the starting process holds, so it
    becomes readable exactly when that process is gone.
    """
    parent = multiprocessing.parent_process()
    if parent is None or parent.sentinel is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _init_worker() -> None:
    """Initializer of every pool worker: only the main process answers Ctrl-C; nothing outlives it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _exit_with_parent()


class _Pool(ProcessPoolExecutor):
    """A process pool that is stopped at once when the block using it raises (an error, Ctrl-C, SIGTERM).

    The standard pool's exit waits for every queued task, so an interrupted command would first finish the
    whole job; here pending tasks are cancelled and the workers terminated.
    """

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            return super().__exit__(exc_type, exc, tb)
        self.stop()
        return False

    def stop(self) -> None:
        """Cancel pending tasks and terminate the workers without waiting for running ones."""
        processes = list((self._processes or {}).values())  # no public handle before Python 3.14
        self.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(timeout=5)


class _InProcess(Executor):
    """Runs each task in this process as it is submitted: the stand-in pool where no worker can start."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # delivered by result(), as a pool would
            future.set_exception(exc)
        return future

    def map(self, fn, *iterables, timeout=None, chunksize=1):
        return map(fn, *iterables)  # lazily, so progress bars advance per item

    def stop(self) -> None:
        """Nothing runs in the background."""


def process_pool(workers: int) -> Executor:
    """A pool of ``workers`` processes (forkserver where available) whose workers never outlive the caller.

    Where worker processes cannot start (``pool_refusal``), an executor that runs every task in this process.
    """
    if workers > 1 and _refused(workers):
        return _InProcess()
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        _preload_quiet_hook(context)
    return _Pool(max_workers=workers, mp_context=context, initializer=_init_worker)


_QUIET_MODULE = "rbc_dataset.forkserver_quiet"


def _preload_quiet_hook(context) -> None:
    """Have the forkserver import ``forkserver_quiet`` (no tracebacks from workers whose parent was interrupted).

    Takes effect when this process starts its forkserver; the modules it already preloads (``__main__`` by
    default) stay preloaded.
    """
    from multiprocessing import forkserver

    current = list(getattr(forkserver._forkserver, "_preload_modules", ["__main__"]))
    if _QUIET_MODULE not in current:
        context.set_forkserver_preload([*current, _QUIET_MODULE])


def bounded_map(fn: Callable[[T], R], items: Iterable[T], *, workers: int, in_flight: int = 0) -> Iterator[R]:
    """``map(fn, items)`` in order over a worker pool, with at most ``in_flight`` tasks pending.

    ``ProcessPoolExecutor.map`` submits every task at once, so results pile up in memory whenever the consumer
    is slower than the workers (a shard writer is); here memory stays bounded whatever the number of items.
    With one worker everything runs in this process.
    """
    if workers <= 1:
        yield from map(fn, items)
        return
    limit = in_flight or 2 * workers
    pending: deque[Future] = deque()
    with process_pool(workers) as pool:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= limit:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
