"""Peak resident memory of this process and all its children, sampled from /proc (Linux)."""

from __future__ import annotations

import os
import threading
from pathlib import Path


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def tree_rss_mb(pid: int | None = None) -> tuple[float, float]:
    """(sum over the process tree, largest single process) resident memory in MiB."""
    pid = pid or os.getpid()
    stack, values = [pid], []
    while stack:
        current = stack.pop()
        values.append(_rss_mb(current))
        stack += _children(current)
    return sum(values), max(values)


class PeakMemory:
    """Context manager sampling the process tree every ``interval`` seconds; ``total_mb``/``largest_mb`` are peaks."""

    def __init__(self, interval: float = 0.2):
        self.interval = interval
        self.total_mb = 0.0
        self.largest_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            total, largest = tree_rss_mb()
            self.total_mb, self.largest_mb = max(self.total_mb, total), max(self.largest_mb, largest)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
