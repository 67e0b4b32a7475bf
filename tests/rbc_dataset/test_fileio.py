"""Output placement checks shared by every command that writes."""

from __future__ import annotations

import pytest

from rbc_dataset.errors import DataError, UsageError
from rbc_dataset.fileio import SAFE_NAME, check_output_outside, path_inside, safe_name


def test_outputs_inside_an_input_are_refused_and_replaced_outputs_must_not_hold_one(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    with pytest.raises(UsageError, match="lies inside the input"):
        check_output_outside(data / "out", [data])
    check_output_outside(tmp_path, [data])  # a report folder above the data is fine
    with pytest.raises(UsageError, match="holds the input"):
        check_output_outside(tmp_path, [data], replaced=True)  # --overwrite would delete the data


@pytest.mark.parametrize(
    "text", ["../../../../X", "/etc/passwd", "<script>alert(1)</script>", "a/b", "..", ".hidden", "", "ä b", "a\udcff"]
)
def test_safe_name_never_leaves_the_folder(tmp_path, text):
    name = safe_name(text)
    assert SAFE_NAME.fullmatch(name) and ".." not in name
    assert path_inside(tmp_path, name + ".png").parent == tmp_path.resolve()


def test_safe_name_keeps_readable_ids_and_separates_different_ones():
    assert safe_name("anerbc1_a_001") == "anerbc1_a_001"
    assert safe_name("a/b") != safe_name("a_b") and safe_name("a b") != safe_name("a?b")


@pytest.mark.parametrize("parts", [("..", "x.png"), ("/etc/hostname",), ("a", "..", "..", "b")])
def test_path_inside_refuses_escapes(tmp_path, parts):
    with pytest.raises(DataError, match="inside"):
        path_inside(tmp_path / "out", *parts)
