"""Output placement checks shared by every command that writes."""

from __future__ import annotations

import pytest

from rbc_dataset.errors import UsageError
from rbc_dataset.fileio import check_output_outside


def test_outputs_inside_an_input_are_refused_and_replaced_outputs_must_not_hold_one(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    with pytest.raises(UsageError, match="lies inside the input"):
        check_output_outside(data / "out", [data])
    check_output_outside(tmp_path, [data])  # a report folder above the data is fine
    with pytest.raises(UsageError, match="holds the input"):
        check_output_outside(tmp_path, [data], replaced=True)  # --overwrite would delete the data
