"""Worker pools that are safe to start from any process.

Plain ``fork`` copies a parent that may hold OpenCV's or BLAS's thread-pool locks (after any image was
decoded in it) and the children then deadlock. ``forkserver`` forks workers from a clean, single-threaded
server process instead, and is still much cheaper than ``spawn`` per task.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor


def worker_count(requested: int | None) -> int:
    """``requested`` processes, or every core for 0/None."""
    return requested or os.cpu_count() or 1


def process_pool(workers: int) -> ProcessPoolExecutor:
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method))
