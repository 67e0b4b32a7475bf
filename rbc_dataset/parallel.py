"""Worker pools that are safe to start from any process.

Plain ``fork`` copies a parent that may hold OpenCV's or BLAS's thread-pool locks (after any image was
decoded in it) and the children then deadlock. ``forkserver`` forks workers from a clean, single-threaded
server process instead, and is still much cheaper than ``spawn`` per task.

Workers never outlive the command: they ignore SIGINT (a Ctrl-C reaches the whole process group; only the
main process reports it), end as soon as the process that started them does (even when it is SIGKILLed),
and a pool left by an exception or an interrupt is stopped at once instead of first running every queued
task.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def worker_count(requested: int | None) -> int:
    """``requested`` processes, or every core for 0/None."""
    return requested or os.cpu_count() or 1


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


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes (forkserver where available) whose workers never outlive the caller."""
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    return _Pool(max_workers=workers, mp_context=context, initializer=_init_worker)


def bounded_map(fn: Callable[[T], R], items: Iterable[T], workers: int, in_flight: int = 0) -> Iterator[R]:
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
