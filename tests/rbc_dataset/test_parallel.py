"""Worker pools: ordered, bounded results, the toolkit's errors reaching the caller intact, and prompt stops."""

from __future__ import annotations

import os
import pickle
import signal
import time

import pytest

from rbc_dataset.errors import DataError
from rbc_dataset.parallel import bounded_map, process_pool


def _square_or_fail(value: int) -> int:
    if value == 3:
        raise DataError("f.png", "a readable image", "a truncated file", "re-download it")
    return value * value


def test_data_error_pickles_with_all_its_parts():
    error = pickle.loads(pickle.dumps(DataError("f.png", "expected", "found", "fix")))
    assert (error.path, error.expected, error.found, error.fix) == ("f.png", "expected", "found", "fix")


def test_bounded_map_keeps_order_and_reraises_a_worker_data_error():
    assert list(bounded_map(_square_or_fail, [0, 1, 2], workers=2)) == [0, 1, 4]
    with pytest.raises(DataError, match="truncated file") as caught:
        list(bounded_map(_square_or_fail, [1, 2, 3, 4], workers=2, in_flight=2))
    assert caught.value.fix == "re-download it"


def _slow_or_fail(value: int) -> int:
    if value < 0:
        raise DataError("f.png", "a readable image", "a truncated file", "re-download it")
    time.sleep(value)
    return value


def _worker_state(_: int) -> tuple:
    return signal.getsignal(signal.SIGINT) == signal.SIG_IGN, os.getpid()


def test_a_failing_block_stops_the_pool_without_running_the_queued_tasks():
    start = time.perf_counter()
    with pytest.raises(DataError), process_pool(2) as pool:
        failing = pool.submit(_slow_or_fail, -1)
        futures = [pool.submit(_slow_or_fail, 1) for _ in range(20)]  # 10 s of queued work on two workers
        failing.result()
    assert time.perf_counter() - start < 6
    assert sum(f.cancelled() for f in futures) >= 10


def test_workers_leave_ctrl_c_to_the_main_process():
    with process_pool(2) as pool:
        states = list(pool.map(_worker_state, range(4)))
    assert all(ignored for ignored, _ in states) and os.getpid() not in {pid for _, pid in states}
