"""Tests for reading and writing AneRBC CBC and morphology reports (rbc_dataset.reports, rbc_dataset.report_writer)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from rbc_dataset import report_writer
from rbc_dataset.errors import DataError, UsageError
from rbc_dataset.report_writer import format_cbc_report, format_morphology_report
from rbc_dataset.reports import (
    CBC_TESTS,
    CBC_UNITS,
    MORPHOLOGY_KEYWORDS,
    PLAUSIBLE_BOUNDS,
    REFERENCE_RANGES,
    get_canonical_test,
    parse_cbc_text,
    parse_morphology_text,
    read_cbc_report,
    read_morphology_report,
)
from tests.helpers.reports import CLEAN_ROWS, HEADER, make_report

CLEAN_VALUES = {
    "WBC": 8.49,
    "RBC": 4.5,
    "HGB": 10.1,
    "HCT": 32.0,
    "MCV": 71.1,
    "MCH": 22.4,
    "MCHC": 31.6,
    "PLT": 250.0,
    "MPV": 9.8,
    "RDW_CV": 15.2,
}
CLEAN_FLAGS = {"HGB", "HCT", "MCV", "MCH", "RDW_CV"}
DECIMALS = {"WBC": 2, "RBC": 2, "HGB": 1, "HCT": 1, "MCV": 1, "MCH": 1, "MCHC": 1, "PLT": 0, "MPV": 1, "RDW_CV": 1}
CONSISTENCY_CODES = ("hct_mismatch", "mchc_mismatch", "mch_mismatch")


# --- CBC parsing -----------------------------------------------------------------------------------------------------


def test_clean_report_parses_without_problems():
    result = parse_cbc_text(make_report(), source="a_001.txt")
    assert result.values == CLEAN_VALUES
    assert {test for test, flag in result.flagged.items() if flag} == CLEAN_FLAGS
    assert result.units == CBC_UNITS
    assert result.ranges == REFERENCE_RANGES
    assert result.raw_names == {**{t: t for t in CBC_TESTS}, "RDW_CV": "RDW-CV"}
    assert result.unknown_tests == {}
    assert result.problems == ()
    assert result.source == "a_001.txt"


def test_star_flag_is_read_on_low_and_high_values():
    text = make_report({"PLT": "PLT,* 520 x10.e 3/µl,150 --- 410", "HGB": "HGB,*10.1 g/dL,12 --- 15"})
    result = parse_cbc_text(text)
    assert result.flagged["PLT"] and result.flagged["HGB"]
    assert not result.flagged["WBC"]
    assert result.values["PLT"] == 520.0 and result.values["HGB"] == 10.1
    assert result.problems == ()


@pytest.mark.parametrize(
    ("row", "test"),
    [
        ("HGB,10.1 g/dL,12 --- 15", "HGB"),  # low but not starred
        ("MCHC,* 31.6 g/dL,31.5 --- 34.5", "MCHC"),  # starred but in range
    ],
)
def test_flag_mismatch_fires_when_star_disagrees_with_range(row, test):
    result = parse_cbc_text(make_report({test: row}))
    assert result.problems == (f"flag_mismatch:{test}",)


@pytest.mark.parametrize(
    ("raw", "test"),
    [
        ("RDW-CV", "RDW_CV"),
        ("RDW---CV", "RDW_CV"),
        ("%RDW---CV", "RDW_CV"),
        ("RDW", "RDW_CV"),
        ("rdw cv", "RDW_CV"),
        ("Hemoglobin", "HGB"),
        ("Haemoglobin", "HGB"),
        ("Hb", "HGB"),
        ("HB", "HGB"),
        ("Hemoglobin (Hb)", "HGB"),
        ("HGB (g/dL)", "HGB"),
        ("Hb level", "HGB"),
        ("H.C.T", "HCT"),
        ("Hematocrit", "HCT"),
        ("PCV", "HCT"),
        ("Platelets", "PLT"),
        ("PLT Count", "PLT"),
        ("Platelet count", "PLT"),
        ("W.B.C", "WBC"),
        ("TLC", "WBC"),
        ("White Blood Cells", "WBC"),
        ("Total RBC", "RBC"),
        ("RBC Count", "RBC"),
        ("MCV ", "MCV"),
        (" mcv", "MCV"),
        ("Mean Corpuscular Hemoglobin", "MCH"),
        ("Mean Corpuscular Hemoglobin Concentration", "MCHC"),
        ("M.C.H.C", "MCHC"),
        ("M.P.V", "MPV"),
        ("Mean Platelet Volume", "MPV"),
    ],
)
def test_name_variants_map_to_canonical_test(raw, test):
    original = CLEAN_ROWS[test]
    result = parse_cbc_text(make_report({test: raw + original[original.index(",") :]}))
    assert get_canonical_test(raw) == test
    assert result.values == CLEAN_VALUES
    assert result.raw_names[test] == raw  # exactly as written, spaces included
    assert result.unknown_tests == {}
    assert result.problems == ()


def test_unknown_test_names_are_kept_not_fatal():
    extra = ("RDW-SD,45.1 fL,39 --- 46", "ESR,20 mm/hr,0 --- 20")
    result = parse_cbc_text(make_report(extra=extra))
    assert get_canonical_test("RDW-SD") is None
    assert result.unknown_tests == {"RDW-SD": extra[0], "ESR": extra[1]}
    assert result.values == CLEAN_VALUES
    assert result.problems == ()


def test_latin1_micro_sign_is_decoded(tmp_path):
    text = "Test,Result/Units,Norm. Range\r\nWBC,8.49 x10.e 3/µl,4 --- 10\r\nPLT,* 120 x10.e 3/µl,150 --- 410\r\n"
    data = text.encode("latin-1")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # the file really is not UTF-8, so the fallback is what is being tested
    path = tmp_path / "a_001.txt"
    path.write_bytes(data)
    result = read_cbc_report(path)
    assert result.units == {"WBC": "x10.e 3/µl", "PLT": "x10.e 3/µl"}
    assert result.values["WBC"] == 8.49 and result.values["PLT"] == 120.0
    assert result.flagged["PLT"]
    assert result.source == str(path)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig"])
def test_utf8_and_bom_files_read_alike(tmp_path, encoding):
    path = tmp_path / "report.txt"
    path.write_bytes(make_report().encode(encoding))
    result = read_cbc_report(path)
    assert result.values == CLEAN_VALUES
    assert result.units["WBC"] == "x10.e 3/µl"
    assert result.problems == ()


def test_bom_in_text_does_not_hide_header_or_first_name():
    with_header = parse_cbc_text("\ufeff" + make_report())
    without_header = parse_cbc_text("\ufeff" + make_report(header=False))
    assert with_header.problems == ()
    assert without_header.raw_names["WBC"] == "WBC"
    assert without_header.values["WBC"] == 8.49


def test_crlf_blank_lines_and_trailing_commas():
    lines = [HEADER + ",", "", *[row + ",," for row in CLEAN_ROWS.values()], "  ", ",,"]
    result = parse_cbc_text("\r\n".join(lines) + "\r\n")
    assert result.values == CLEAN_VALUES
    assert result.units == CBC_UNITS  # no stray "\r" in the last column's neighbours
    assert result.ranges == REFERENCE_RANGES
    assert result.problems == ()


def test_missing_rdw_and_mpv_are_reported():
    result = parse_cbc_text(make_report({"RDW_CV": None, "MPV": None}))
    assert result.values["RDW_CV"] is None and result.values["MPV"] is None
    assert result.ranges["RDW_CV"] is None
    assert result.problems == ("missing:MPV", "missing:RDW_CV")


def test_unparseable_value_counts_as_missing():
    result = parse_cbc_text(make_report({"HGB": "HGB,---,12 --- 15"}))
    assert result.values["HGB"] is None
    assert result.raw_names["HGB"] == "HGB"
    assert "HGB" not in result.units
    # HGB feeds the MCHC and MCH checks, which must be skipped rather than fire.
    assert result.problems == ("missing:HGB",)


def test_impossible_mcv_is_flagged_and_skips_dependent_checks():
    result = parse_cbc_text(make_report({"MCV": "MCV,3646 fL,83 --- 101"}))
    assert result.values["MCV"] == 3646.0  # kept as parsed so it can be inspected
    assert result.problems == ("impossible:MCV",)  # no hct_mismatch, no flag_mismatch


@pytest.mark.parametrize(
    ("row", "unit", "printed_range"),
    [
        ("PLT,,250 x10.e 3/µl,150 --- 410", "x10.e 3/µl", (150.0, 410.0)),  # empty cell pushed it right
        ("PLT,x10.e 3/µl,250,150 --- 410", "x10.e 3/µl", (150.0, 410.0)),  # unit in the value column
        ("PLT,150 --- 410,250 x10.e 3/µl", "x10.e 3/µl", (150.0, 410.0)),  # value and range swapped
        ("PLT,x10.e 3/µl,250", "x10.e 3/µl", None),  # value in the range column
        ("PLT,10^3/uL,250,150-410", "10^3/uL", (150.0, 410.0)),  # a unit starting with digits is not a value
    ],
)
def test_column_shift_is_recovered_and_reported(row, unit, printed_range):
    result = parse_cbc_text(make_report({"PLT": row}))
    assert result.values["PLT"] == 250.0
    assert result.units["PLT"] == unit
    assert result.ranges["PLT"] == printed_range
    assert not result.flagged["PLT"]
    assert result.problems == ("column_shift:PLT",)


def test_column_shift_keeps_star_flag():
    result = parse_cbc_text(make_report({"HGB": "HGB,g/dL,* 10.1,12 --- 15"}))
    assert result.values["HGB"] == 10.1 and result.flagged["HGB"]
    assert result.problems == ("column_shift:HGB",)


def test_duplicate_test_keeps_first_row():
    result = parse_cbc_text(make_report(extra=("Hemoglobin,13.0 g/dL,12 --- 15",)))
    assert result.values["HGB"] == 10.1
    assert result.raw_names["HGB"] == "HGB"
    assert result.problems == ("duplicate_test:HGB",)


def test_missing_header_is_reported_but_rows_parsed():
    result = parse_cbc_text(make_report(header=False))
    assert result.values == CLEAN_VALUES
    assert result.problems == ("no_header",)


@pytest.mark.parametrize("text", ["", "   \n\r\n", "\ufeff", "\ufeff\r\n\r\n"])
def test_empty_report(text):
    result = parse_cbc_text(text)
    assert result.problems == ("empty",)
    assert all(value is None for value in result.values.values())
    assert set(result.values) == set(CBC_TESTS)


def test_header_only_report_lists_every_test_missing():
    result = parse_cbc_text(HEADER + "\n")
    assert result.problems == tuple(f"missing:{test}" for test in CBC_TESTS)


def test_read_missing_file_raises_data_error(tmp_path):
    path = tmp_path / "nope.txt"
    with pytest.raises(DataError, match="nope.txt"):
        read_cbc_report(path)


# --- CBC plausibility checks -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("replace", "code"),
    [
        ({"MCV": "MCV,95.0 fL,83 --- 101"}, "hct_mismatch"),  # RBC*MCV/10 = 42.8, HCT 32.0
        ({"MCHC": "MCHC,* 25.0 g/dL,31.5 --- 34.5"}, "mchc_mismatch"),  # HGB/HCT*100 = 31.6
        ({"MCH": "MCH,30.0 pg,27 --- 32"}, "mch_mismatch"),  # HGB/RBC*10 = 22.4
    ],
)
def test_consistency_check_fires_on_inconsistent_report(replace, code):
    assert parse_cbc_text(make_report(replace)).problems == (code,)


def test_consistency_checks_tolerate_small_differences():
    # HCT 32.0 against RBC*MCV/10 = 35.1 is a 9 % difference, within the 20 % tolerance.
    result = parse_cbc_text(make_report({"MCV": "MCV,* 78.0 fL,83 --- 101"}))
    assert not set(CONSISTENCY_CODES) & set(result.problems)
    assert result.problems == ()


def test_consistency_checks_skip_missing_inputs():
    # HCT 45 contradicts RBC*MCV/10, but RBC is missing; MCHC (from HGB and HCT) can still be checked.
    result = parse_cbc_text(make_report({"RBC": None, "HCT": "HCT,45.0 %,36 --- 46"}))
    assert result.problems == ("missing:RBC", "mchc_mismatch")


# --- CBC writing -----------------------------------------------------------------------------------------------------


def random_cbc_values(rng: np.random.Generator) -> dict[str, float | None]:
    """Physiologically consistent values across healthy and anaemic ranges, with RDW/MPV sometimes missing."""
    rbc, mcv, mchc = rng.uniform(2.5, 6.0), rng.uniform(60, 110), rng.uniform(28, 36)
    hct = rbc * mcv / 10
    hgb = mchc * hct / 100
    return {
        "WBC": rng.uniform(2, 15),
        "RBC": rbc,
        "HGB": hgb,
        "HCT": hct,
        "MCV": mcv,
        "MCH": hgb / rbc * 10,
        "MCHC": mchc,
        "PLT": rng.uniform(50, 600),
        "MPV": rng.uniform(7, 12) if rng.random() < 0.6 else None,
        "RDW_CV": rng.uniform(11, 20) if rng.random() < 0.6 else None,
    }


def printed(test: str, value: float) -> float:
    return float(f"{value:.{DECIMALS[test]}f}")


def out_of_range(test: str, value: float) -> bool:
    low, high = REFERENCE_RANGES[test]
    return not low <= value <= high


def check_names(result, quirks):
    names = dict(q.removeprefix("name:").split("=", 1) for q in quirks if q.startswith("name:"))
    written = [test for test in CBC_TESTS if test in result.raw_names]
    assert result.raw_names == {test: names.get(test, test) for test in written}


@pytest.mark.parametrize("seed", range(60))
def test_format_parse_round_trip_without_quirks(seed):
    values = random_cbc_values(np.random.default_rng(seed))
    text, quirks = format_cbc_report(values, np.random.default_rng(1000 + seed))
    result = parse_cbc_text(text)
    assert all(q.startswith("name:") for q in quirks)
    check_names(result, quirks)
    missing = {test for test, value in values.items() if value is None}
    assert set(result.problems) == {f"missing:{test}" for test in missing}
    for test in CBC_TESTS:
        if test in missing:
            assert result.values[test] is None
            continue
        assert result.values[test] == printed(test, values[test])
        assert result.flagged[test] == out_of_range(test, printed(test, values[test]))
        assert result.units[test] == CBC_UNITS[test]
        assert result.ranges[test] == REFERENCE_RANGES[test]


@pytest.mark.parametrize("seed", range(60))
def test_format_parse_round_trip_with_quirks(seed):
    values = random_cbc_values(np.random.default_rng(seed))
    text, quirks = format_cbc_report(values, np.random.default_rng(2000 + seed), quirk_rate=1.0)
    result = parse_cbc_text(text)
    check_names(result, quirks)
    faults = [q for q in quirks if not q.startswith("name:")]
    assert len(faults) == 1
    kind, test = faults[0].split(":")
    missing = {f"missing:{t}" for t, value in values.items() if value is None}
    if kind == "decimal_lost":
        assert result.values[test] == float(f"{values[test]:.{DECIMALS[test]}f}".replace(".", ""))
        assert set(result.problems) == missing | {f"impossible:{test}"}
    else:
        assert kind == "column_shift"
        assert result.values[test] == printed(test, values[test])
        assert result.flagged[test] == out_of_range(test, printed(test, values[test]))
        assert result.units[test] == CBC_UNITS[test]
        assert set(result.problems) == missing | {f"column_shift:{test}"}


def test_quirks_and_name_variants_all_occur_over_many_reports():
    rng = np.random.default_rng(7)
    seen: set[str] = set()
    for _ in range(300):
        _, quirks = format_cbc_report(random_cbc_values(rng), rng, quirk_rate=0.5)
        seen.update(q.split(":")[0] if not q.startswith("name:") else q for q in quirks)
    expected = {"name:HGB=Hemoglobin", "name:RDW_CV=RDW-CV", "name:RDW_CV=RDW---CV", "name:RDW_CV=%RDW---CV"}
    assert expected | {"name:RDW_CV=RDW", "decimal_lost", "column_shift"} <= seen


def test_quirk_rate_zero_applies_no_faults():
    rng = np.random.default_rng(3)
    for _ in range(100):
        _, quirks = format_cbc_report(random_cbc_values(rng), rng, quirk_rate=0.0)
        assert all(q.startswith("name:") for q in quirks)


def test_format_is_deterministic_for_the_same_seed():
    values = random_cbc_values(np.random.default_rng(0))
    first = format_cbc_report(values, np.random.default_rng(42), quirk_rate=0.5)
    second = format_cbc_report(values, np.random.default_rng(42), quirk_rate=0.5)
    assert first == second
    others = {format_cbc_report(values, np.random.default_rng(s), quirk_rate=0.5)[0] for s in range(20)}
    assert len(others) > 1  # the rng really drives the output


def test_format_writes_the_real_layout():
    text, _ = format_cbc_report({**CLEAN_VALUES, "MPV": None}, np.random.default_rng(0))
    lines = text.splitlines()
    assert lines[0] == HEADER
    cells = {get_canonical_test(line.split(",")[0]): line.split(",", 1)[1] for line in lines[1:]}
    assert list(cells) == [test for test in CBC_TESTS if test != "MPV"]
    assert cells["HGB"] == "* 10.1 g/dL,12 --- 15"
    assert cells["WBC"] == "8.49 x10.e 3/µl,4 --- 10"
    assert cells["RBC"] == "4.50 x10.e 6/µl,3.8 --- 4.8"
    assert cells["MCHC"] == "31.6 g/dL,31.5 --- 34.5"
    assert cells["PLT"] == "250 x10.e 3/µl,150 --- 410"
    assert cells["RDW_CV"] == "* 15.2 %,11.6 --- 14"


def test_format_flags_the_rounded_value():
    # 15.04 prints as 15.0, which is inside 12 --- 15, so it must not be starred.
    text, _ = format_cbc_report({"HGB": 15.04}, np.random.default_rng(0))
    assert text.splitlines()[1].split(",", 1)[1] == "15.0 g/dL,12 --- 15"


def test_format_omits_none_and_nan():
    text, _ = format_cbc_report({"WBC": 5.0, "RDW_CV": None, "MPV": float("nan")}, np.random.default_rng(0))
    assert len(text.splitlines()) == 2
    assert parse_cbc_text(text).values["MPV"] is None


@pytest.mark.parametrize(("values", "quirk_rate"), [({"HB": 10.0}, 0.0), ({"HGB": 10.0}, 1.5), ({"HGB": 10.0}, -0.1)])
def test_format_rejects_bad_input(values, quirk_rate):
    with pytest.raises(UsageError):
        format_cbc_report(values, np.random.default_rng(0), quirk_rate=quirk_rate)


def test_decimal_loss_always_yields_an_impossible_value():
    values = {**CLEAN_VALUES}
    for seed in range(200):
        text, quirks = format_cbc_report(values, np.random.default_rng(seed), quirk_rate=1.0)
        for quirk in quirks:
            if quirk.startswith("decimal_lost:"):
                test = quirk.split(":")[1]
                low, high = PLAUSIBLE_BOUNDS[test]
                assert not low <= parse_cbc_text(text).values[test] <= high


def test_writers_are_reexported_from_reports():
    import rbc_dataset.reports as reports

    assert format_cbc_report is report_writer.format_cbc_report
    assert format_morphology_report is report_writer.format_morphology_report
    with pytest.raises(AttributeError):
        _ = reports.no_such_name


# --- Morphology ------------------------------------------------------------------------------------------------------

REAL_MORPHOLOGY = """RBC Morphology / Peripheral Smear:
Red cells are hypochromic microcytic with moderate anisopoikilocytosis.
Few target cells, pencil cells and tear-drop cells seen. No nRBCs seen.

WBCs MORPHOLOGY:
Normal in number and morphology. No immature cells seen.

PLATELETS:
Adequate on smear.

NOTE :
Advised Hb electrophoresis to rule out thalassaemia trait.
"""


def test_parse_realistic_multi_section_report():
    result = parse_morphology_text(REAL_MORPHOLOGY.replace("\n", "\r\n"))
    assert set(result.sections) == {"rbc", "wbc", "platelets", "note"}
    assert result.sections["rbc"].startswith("Red cells are hypochromic microcytic")
    assert result.sections["rbc"].endswith("No nRBCs seen.")
    assert result.sections["wbc"] == "Normal in number and morphology. No immature cells seen."
    assert result.sections["platelets"] == "Adequate on smear."
    assert result.sections["note"] == "Advised Hb electrophoresis to rule out thalassaemia trait."
    expected = {"hypochromic", "microcytic", "anisocytosis", "poikilocytosis", "target_cells", "pencil_cells"}
    assert result.keywords == tuple(sorted(expected | {"teardrop_cells"}))


def test_section_headers_are_matched_tolerantly(tmp_path):
    text = (
        "R.B.C MORPHOLOGY : Normocytic normochromic.\n"
        "wbc's morphology:\nNormal.\n"
        "Platelets : Adequate.\n"
        "Note: Repeat after 2 weeks, µ-scale 5 µm.\n"
    )
    path = tmp_path / "m.txt"
    path.write_bytes(text.encode("latin-1"))
    result = read_morphology_report(path)
    assert result.sections == {
        "rbc": "Normocytic normochromic.",
        "wbc": "Normal.",
        "platelets": "Adequate.",
        "note": "Repeat after 2 weeks, µ-scale 5 µm.",
    }
    assert result.keywords == ("normochromic", "normocytic")


def test_missing_sections_are_absent():
    result = parse_morphology_text("Peripheral Blood Smear:\nMicrocytic red cells.\n")
    assert result.sections == {"rbc": "Microcytic red cells."}
    assert result.keywords == ("microcytic",)


@pytest.mark.parametrize(
    ("text", "keywords"),
    [
        ("Few target cells seen.", ("target_cells",)),  # positive control for the cases below
        ("No target cells seen.", ()),
        ("Target cells not seen.", ()),
        ("No target cells, schistocytes or nRBCs seen.", ()),
        ("Target cells and nRBCs not seen, mild anisocytosis.", ("anisocytosis",)),
        ("Mild anisocytosis, target cells not seen.", ("anisocytosis",)),
        ("No target cells seen but few pencil cells present.", ("pencil_cells",)),
        ("Schistocytes: nil. Spherocytes absent.", ()),
        ("Hypochromic red cells without spherocytes.", ("hypochromic",)),
        ("No target cells seen. Many target cells in the tail.", ("target_cells",)),
    ],
)
def test_negated_mentions_are_excluded(text, keywords):
    assert parse_morphology_text(text).keywords == keywords


@pytest.mark.parametrize(
    ("text", "keywords"),
    [
        ("Few tear-drop cells.", ("teardrop_cells",)),
        ("Few tear drop cells.", ("teardrop_cells",)),
        ("Few teardrop cells.", ("teardrop_cells",)),
        ("Occasional dacrocytes.", ("teardrop_cells",)),
        ("Some nRBCs.", ("nucleated_rbcs",)),
        ("Nucleated RBCs 2/100 WBCs.", ("nucleated_rbcs",)),
        ("Some nucleated red cells.", ("nucleated_rbcs",)),
        ("Marked hypochromia.", ("hypochromic",)),
        ("Microcytosis present.", ("microcytic",)),
        ("Moderate anisopoikilocytosis.", ("anisocytosis", "poikilocytosis")),
        ("Mild aniso-poikilocytosis.", ("anisocytosis", "poikilocytosis")),
        ("Few ovalocytes and elliptocytes.", ("elliptocytes",)),
        ("Few microspherocytes.", ("spherocytes",)),
        ("Some fragmented red cells.", ("schistocytes",)),
        ("MACROCYTIC red cells with POLYCHROMASIA.", ("macrocytic", "polychromasia")),
        ("Pencil-cells and target cells.", ("pencil_cells", "target_cells")),
    ],
)
def test_keyword_spelling_variants(text, keywords):
    assert parse_morphology_text(text).keywords == keywords


def random_findings(rng: np.random.Generator) -> dict[str, float]:
    chosen = rng.choice(len(MORPHOLOGY_KEYWORDS), size=int(rng.integers(0, 7)), replace=False)
    # Some strengths fall under the 0.02 cut-off on purpose.
    return {MORPHOLOGY_KEYWORDS[i]: float(rng.choice([rng.uniform(0, 0.02), rng.uniform(0.02, 1)])) for i in chosen}


@pytest.mark.parametrize("seed", range(100))
def test_morphology_format_parse_round_trip(seed):
    findings = random_findings(np.random.default_rng(seed))
    note = "Advised serum ferritin." if seed % 2 else None
    text = format_morphology_report(findings, np.random.default_rng(5000 + seed), note=note)
    result = parse_morphology_text(text)
    expected = {keyword for keyword, strength in findings.items() if strength >= 0.02}
    if not expected & {"hypochromic", "normochromic"}:
        expected.add("normochromic")
    if not expected & {"microcytic", "normocytic", "macrocytic"}:
        expected.add("normocytic")
    assert result.keywords == tuple(sorted(expected))
    assert set(result.sections) == {"rbc", "wbc", "platelets"} | ({"note"} if note else set())
    assert result.sections.get("note") == note


def test_morphology_format_phrasing():
    findings = {"hypochromic": 0.6, "microcytic": 0.7, "anisocytosis": 0.45, "target_cells": 0.05, "pencil_cells": 0.08}
    rbc = parse_morphology_text(format_morphology_report(findings, np.random.default_rng(1))).sections["rbc"]
    assert rbc.startswith(
        "Hypochromic microcytic red cells with moderate anisocytosis. Few target cells and pencil cells"
    )


def test_morphology_format_grades_strength():
    findings = {"polychromasia": 0.8, "anisocytosis": 0.1, "pencil_cells": 0.2, "schistocytes": 0.5}
    text = format_morphology_report(findings, np.random.default_rng(0))
    assert "mild anisocytosis" in text and "marked polychromasia" in text
    assert "Some pencil cells seen." in text
    assert re.search(r"Many (schistocytes|fragmented red cells) seen\.", text)


def test_morphology_format_normal_smear():
    for seed in range(10):
        text = format_morphology_report({}, np.random.default_rng(seed))
        rbc = parse_morphology_text(text).sections["rbc"]
        assert rbc.startswith("Normocytic normochromic red cells.")
        assert parse_morphology_text(text).keywords == ("normochromic", "normocytic")


def test_morphology_weak_findings_are_not_mentioned():
    for seed in range(20):
        text = format_morphology_report({"target_cells": 0.015, "anisocytosis": 0.01}, np.random.default_rng(seed))
        assert "anisocytosis" not in text
        assert not re.search(r"(Few|Some|Many) [^.]*target", text)
        assert "target_cells" not in parse_morphology_text(text).keywords


def test_morphology_format_is_deterministic():
    findings = {"hypochromic": 0.5, "teardrop_cells": 0.3, "anisocytosis": 0.4, "poikilocytosis": 0.4}
    texts = [format_morphology_report(findings, np.random.default_rng(9)) for _ in range(2)]
    assert texts[0] == texts[1]
    assert len({format_morphology_report(findings, np.random.default_rng(s)) for s in range(20)}) > 1


@pytest.mark.parametrize("findings", [{"target cells": 0.5}, {"target_cells": 1.5}, {"target_cells": -0.1}])
def test_morphology_format_rejects_bad_findings(findings):
    with pytest.raises(UsageError):
        format_morphology_report(findings, np.random.default_rng(0))
