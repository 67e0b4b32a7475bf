"""CBC and morphology reports that are absurd rather than wrong (issue 11 §5): ``1e308`` once parsed as 1.0, and a
58 MB "report" was parsed whole (25 s, 853 MB, 2 million problem codes in the manifest)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rbc_dataset import reports
from rbc_dataset.errors import DataError
from rbc_dataset.reports import REPORT_MAX_BYTES, parse_cbc_text, read_cbc_report, read_morphology_report
from tests.helpers.reports import make_report


@pytest.mark.parametrize("value", ["1e308", "1E400", "9" * 400, "2e7"])
def test_absurd_values_are_dropped_with_a_code(value: str) -> None:
    result = parse_cbc_text(make_report({"HGB": f"HGB,{value} g/dL,12 --- 15"}))
    assert result.values["HGB"] is None
    assert "absurd:HGB" in result.problems and "missing:HGB" not in result.problems
    assert "impossible:HGB" not in result.problems


def test_an_exponent_is_part_of_the_number_not_the_unit() -> None:
    result = parse_cbc_text(make_report({"HGB": "HGB,1.01e1 g/dL,12 --- 15"}))
    assert result.values["HGB"] == pytest.approx(10.1) and result.units["HGB"] == "g/dL"
    clean = parse_cbc_text(make_report())  # "8.49 x10.e 3/µl" keeps its unit
    assert clean.values["WBC"] == 8.49 and clean.problems == ()


def test_a_range_that_is_not_finite_is_no_range() -> None:
    result = parse_cbc_text(make_report({"HGB": "HGB,10.1 g/dL,12 --- " + "9" * 400}))
    assert result.ranges["HGB"] is None and result.values["HGB"] == 10.1


def test_repeated_codes_are_listed_once_and_capped(monkeypatch) -> None:
    many = parse_cbc_text(make_report(extra=("HGB,10.1 g/dL,12 --- 15",) * 100_000))
    assert many.problems == ("duplicate_test:HGB",)
    monkeypatch.setattr(reports, "MAX_PROBLEMS", 3)
    result = parse_cbc_text("HGB,x\nWBC,y\n")
    assert len(result.problems) == 3 and result.problems[-1] == "problems_truncated"


@pytest.mark.parametrize("reader", [read_cbc_report, read_morphology_report])
def test_a_report_over_the_cap_is_refused_unread(tmp_path: Path, reader) -> None:
    path = tmp_path / "001_a.txt"
    path.write_text("x" * (REPORT_MAX_BYTES + 1))
    with pytest.raises(DataError, match="a report of at most 1,000,000 bytes"):
        reader(path)
