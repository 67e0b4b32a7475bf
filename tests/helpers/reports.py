"""CBC report text for the parser tests: a clean, self-consistent anaemic report with rows replaced or added."""

from __future__ import annotations

HEADER = "Test,Result/Units,Norm. Range"
# A self-consistent anaemic report: HCT = RBC*MCV/10, MCHC = HGB/HCT*100, MCH = HGB/RBC*10, stars where out of range.
CLEAN_ROWS = {
    "WBC": "WBC,8.49 x10.e 3/µl,4 --- 10",
    "RBC": "RBC,4.50 x10.e 6/µl,3.8 --- 4.8",
    "HGB": "HGB,* 10.1 g/dL,12 --- 15",
    "HCT": "HCT,* 32.0 %,36 --- 46",
    "MCV": "MCV,* 71.1 fL,83 --- 101",
    "MCH": "MCH,* 22.4 pg,27 --- 32",
    "MCHC": "MCHC,31.6 g/dL,31.5 --- 34.5",
    "PLT": "PLT,250 x10.e 3/µl,150 --- 410",
    "MPV": "MPV,9.8 fL,7.5 --- 11.5",
    "RDW_CV": "RDW-CV,* 15.2 %,11.6 --- 14",
}


def make_report(replace: dict[str, str | None] | None = None, extra: tuple[str, ...] = (), header: bool = True) -> str:
    """The clean report with some rows replaced (None drops the row) and extra rows appended."""
    rows = {**CLEAN_ROWS, **(replace or {})}
    lines = ([HEADER] if header else []) + [row for row in rows.values() if row is not None] + list(extra)
    return "\n".join(lines) + "\n"
