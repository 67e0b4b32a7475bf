"""Worker pools that are safe to start from any process.

Plain ``fork`` copies a parent that may hold OpenCV's or BLAS's thread-pool locks (after any image was
decoded in it) and the children then deadlock. ``forkserver`` forks workers from a clean, single-threaded
server process instead, and is still much cheaper than ``spawn`` per task.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def worker_count(requested: int | None) -> int:
    """``requested`` processes, or every core for 0/None."""
    return requested or os.cpu_count() or 1


def process_pool(workers: int) -> ProcessPoolExecutor:
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method))


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
