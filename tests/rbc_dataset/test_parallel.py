"""Worker pools: ordered, bounded results, and the toolkit's errors reaching the caller intact."""

from __future__ import annotations

import pickle

import pytest

from rbc_dataset.errors import DataError
from rbc_dataset.parallel import bounded_map


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
