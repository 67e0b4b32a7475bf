"""The held-out test protocol: the test split is opened once per case, after that case's selection is closed.

Training and every choice made on data (epochs, hyper-parameters, thresholds) see the training and validation
splits only; the runner never holds the test split itself but asks this guard, which refuses an early or a
second look and records every access for the run's summary.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from rbc_dataset.errors import UsageError

T = TypeVar("T")


class ProtocolError(UsageError):
    """Code asked for the test split before selection was over, or twice for one case."""


class TestSplitGuard(Generic[T]):
    """Gives out the test data once per case; ``open_test`` runs on the first case that is allowed to look.

    Args:
        open_test: returns the test data (called lazily, at most once).
        record: a JSON-lines file that keeps the accesses across an interruption: a resumed run reads it, so a
            case that looked before the interruption cannot look again.
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, open_test: Callable[[], T], record: Path | None = None):
        self._open_test = open_test
        self._data: T | None = None
        self._closed: set[str] = set()
        self._record = record
        self.accesses: list[dict] = []  # one entry per case: case, time (UTC)
        if record is not None and record.is_file():
            self.accesses = [json.loads(line) for line in record.read_text().splitlines() if line.strip()]

    def close_selection(self, case: str) -> None:
        """Declare that ``case`` has made all its choices; from now on it may look at the test split once."""
        self._closed.add(case)

    def final_test(self, case: str) -> T:
        """The test data for ``case``; a ProtocolError before ``close_selection(case)`` or on a second call."""
        if case not in self._closed:
            raise ProtocolError(f"{case}: the test split was asked for before model selection was closed")
        if self.used(case):
            raise ProtocolError(
                f"{case}: the test split was already used once in this run (before an interruption, if resumed); "
                "a second look is not allowed: start a new run"
            )
        if self._data is None:
            self._data = self._open_test()
        entry = {"case": case, "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self.accesses.append(entry)
        if self._record is not None:
            with open(self._record, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry) + "\n")
        return self._data

    def used(self, case: str) -> bool:
        """Whether ``case`` has already looked at the test split."""
        return any(entry["case"] == case for entry in self.accesses)
