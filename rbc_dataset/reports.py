"""Read AneRBC CBC and morphology report text files.

A CBC report is a small comma-separated table::

    Test,Result/Units,Norm. Range
    HGB,* 10.1 g/dL,12 --- 15
    WBC,8.49 x10.e 3/µl,4 --- 10

A leading ``*`` marks a value outside the printed (adult female) range. Real reports spell one test many ways
(``HGB``/``Hemoglobin``/``Hb``, ``RDW-CV``/``%RDW---CV``/``RDW``, ...), so names are mapped to the canonical names in
``CBC_TESTS`` through a normalised spelling (``get_canonical_test``); rows whose name cannot be mapped (other tests
such as RDW-SD, but also title or footer lines) are kept in ``CBCResult.unknown_tests``.
Parsing never fails on bad content: everything that looks wrong is reported in ``CBCResult.problems`` with one of
these stable codes (``<TEST>`` is a name from ``CBC_TESTS``):

- ``empty``: the report has no content at all; it is then the only code.
- ``no_header``: the ``Test,Result/Units,Norm. Range`` line is missing (rows are still parsed).
- ``duplicate_test:<TEST>``: the test appears more than once; the first row is kept (the code is listed once).
- ``column_shift:<TEST>``: the value was not in the result column and was recovered from another column.
- ``missing:<TEST>``: the test is absent or its value cannot be parsed.
- ``impossible:<TEST>``: the value is outside ``PLAUSIBLE_BOUNDS`` (e.g. MCV 3646, a lost decimal point); the parsed
  number is kept in ``values`` so it can be inspected.
- ``absurd:<TEST>``: the value is no finite number of sensible size (``1e308``, ``inf``, beyond ``ABSURD_LIMIT``); it
  is dropped (``values`` holds None) so that no later sum or mean overflows, and ``missing`` is not added.
- ``flag_mismatch:<TEST>``: the ``*`` flag disagrees with the value against the range printed on that row (checked
  only when both a plausible value and a printed range exist).
- ``hct_mismatch``, ``mchc_mismatch``, ``mch_mismatch``: HCT, MCHC or MCH differs by more than 20 % from the value
  derived from the other indices (RBC*MCV/10, HGB/HCT*100, HGB/RBC*10). Skipped when an input is missing or impossible.

- ``problems_truncated``: more than ``MAX_PROBLEMS`` codes; the first ones are kept and this code ends the list.

Codes come in this order: ``no_header``, row codes in file order, then per test in ``CBC_TESTS`` order ``missing``,
``impossible`` and ``flag_mismatch``, then the consistency codes. Report files are read only up to
``REPORT_MAX_BYTES``: a larger file is refused (``read_*_report``) or, in ingest, reported as ``report_too_large``
and not parsed (a 58 MB "report" once took 25 s and 853 MB and put 2 million codes into the manifest).

Morphology reports are free text in sections (``RBC Morphology / Peripheral Smear:``, ``WBCs MORPHOLOGY:``,
``PLATELETS:``, ``NOTE :``); ``parse_morphology_text`` splits the sections and finds the canonical keywords of
``MORPHOLOGY_KEYWORDS`` in the whole text, ignoring negated mentions ("no target cells seen", "nRBCs not seen").

The writers ``format_cbc_report`` and ``format_morphology_report`` live in ``rbc_dataset.report_writer``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from rbc_dataset.errors import DataError

__all__ = [
    "ABSURD_LIMIT",
    "CBC_TESTS",
    "CBC_UNITS",
    "MORPHOLOGY_KEYWORDS",
    "MAX_PROBLEMS",
    "PLAUSIBLE_BOUNDS",
    "REFERENCE_RANGES",
    "REPORT_MAX_BYTES",
    "CBCResult",
    "MorphologyResult",
    "get_canonical_test",
    "parse_cbc_text",
    "parse_morphology_text",
    "read_cbc_report",
    "read_morphology_report",
]

CBC_TESTS: tuple[str, ...] = ("WBC", "RBC", "HGB", "HCT", "MCV", "MCH", "MCHC", "PLT", "MPV", "RDW_CV")

CBC_UNITS: dict[str, str] = {
    "WBC": "x10.e 3/µl",
    "RBC": "x10.e 6/µl",
    "HGB": "g/dL",
    "HCT": "%",
    "MCV": "fL",
    "MCH": "pg",
    "MCHC": "g/dL",
    "PLT": "x10.e 3/µl",
    "MPV": "fL",
    "RDW_CV": "%",
}

# Adult female ranges exactly as the AneRBC reports print them.
REFERENCE_RANGES: dict[str, tuple[float, float]] = {
    "WBC": (4, 10),
    "RBC": (3.8, 4.8),
    "HGB": (12, 15),
    "HCT": (36, 46),
    "MCV": (83, 101),
    "MCH": (27, 32),
    "MCHC": (31.5, 34.5),
    "PLT": (150, 410),
    "MPV": (7.5, 11.5),
    "RDW_CV": (11.6, 14),
}

# Wide enough for severe disease (leukaemia, thalassaemia major); a value outside is a transcription error.
PLAUSIBLE_BOUNDS: dict[str, tuple[float, float]] = {
    "WBC": (0.1, 500),
    "RBC": (0.5, 10),
    "HGB": (2, 25),
    "HCT": (5, 75),
    "MCV": (40, 160),
    "MCH": (10, 60),
    "MCHC": (15, 50),
    "PLT": (1, 3000),
    "MPV": (4, 20),
    "RDW_CV": (8, 40),
}

# A value beyond this in any unit is a corrupt file, not a measurement (PLT per µl is below 10**7 too).
ABSURD_LIMIT = 1e7
MAX_PROBLEMS = 64  # codes per report; a pathological file could otherwise add millions to the manifest
REPORT_MAX_BYTES = 1_000_000  # a CBC or morphology report is a few hundred bytes

MORPHOLOGY_KEYWORDS: tuple[str, ...] = (
    "hypochromic",
    "microcytic",
    "normocytic",
    "normochromic",
    "macrocytic",
    "elliptocytes",
    "anisocytosis",
    "poikilocytosis",
    "polychromasia",
    "target_cells",
    "teardrop_cells",
    "schistocytes",
    "nucleated_rbcs",
    "pencil_cells",
    "spherocytes",
)

# Spellings after lower-casing and dropping everything but letters and digits ("%RDW---CV" -> "rdwcv").
_TEST_ALIASES: dict[str, tuple[str, ...]] = {
    "WBC": ("wbc", "tlc", "wcc", "leukocyte", "leucocyte", "whitebloodcell", "whitecell", "totalwbc"),
    "RBC": ("rbc", "rcc", "redbloodcell", "redcell", "erythrocyte"),
    "HGB": ("hgb", "hb", "hbg", "hemoglobin", "haemoglobin"),
    "HCT": ("hct", "pcv", "hematocrit", "haematocrit", "packedcellvolume"),
    "MCV": ("mcv", "meancorpuscularvolume", "meancellvolume"),
    "MCH": ("mch", "meancorpuscularhemoglobin", "meancorpuscularhaemoglobin", "meancellhemoglobin"),
    "MCHC": (
        "mchc",
        "meancorpuscularhemoglobinconcentration",
        "meancorpuscularhaemoglobinconcentration",
        "meancellhemoglobinconcentration",
    ),
    "PLT": ("plt", "platelet", "thrombocyte"),
    "MPV": ("mpv", "meanplateletvolume"),
    "RDW_CV": ("rdwcv", "rdw", "redcelldistributionwidth", "redcelldistributionwidthcv"),
}
_ALIAS_INDEX: dict[str, str] = {alias: test for test, aliases in _TEST_ALIASES.items() for alias in aliases}

_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"
# The lookahead stops a unit such as "10^3/uL" from being read as the value 10; the exponent keeps "1e308" from
# being read as 1 with the unit "e308".
_EXPONENT = r"(?:[eE][+-]?\d+)?"
_VALUE_RE = re.compile(rf"^((?:\d+(?:\.\d*)?|\.\d+){_EXPONENT})(?![\d.^¹²³])\s*(.*)$")
_RANGE_RE = re.compile(rf"^{_NUMBER}\s*(?:-+|–|—|\bto\b)\s*{_NUMBER}", re.IGNORECASE)
# A unit has a letter or a unit sign; this keeps placeholders such as "---" out of the units.
_UNIT_RE = re.compile(r"[^\W\d_]|[%/]")
_CONSISTENCY_TOLERANCE = 0.2


@dataclass(frozen=True)
class CBCResult:
    """One parsed CBC report.

    Attributes:
        values: Canonical test -> parsed number, None when missing or unparseable; every ``CBC_TESTS`` key present.
        flagged: Canonical test -> the report marked it with ``*``; every key present.
        units: Canonical test -> unit text as found (only tests where a unit was found).
        ranges: Canonical test -> normal range printed on the row, None when absent; every key present.
        raw_names: Canonical test -> the test name exactly as written (only tests found).
        unknown_tests: Unrecognised test name -> raw row text.
        problems: Problem codes, see the module docstring.
        raw_text: The text that was parsed.
        source: Where the text came from (a path), when known.
    """

    values: dict[str, float | None]
    flagged: dict[str, bool]
    units: dict[str, str]
    ranges: dict[str, tuple[float, float] | None]
    raw_names: dict[str, str]
    unknown_tests: dict[str, str]
    problems: tuple[str, ...]
    raw_text: str
    source: str | None = None


@dataclass(frozen=True)
class MorphologyResult:
    """One parsed morphology report.

    Attributes:
        sections: ``"rbc"``, ``"wbc"``, ``"platelets"``, ``"note"`` -> section text; sections not in the report are
            absent.
        keywords: Canonical keywords mentioned and not negated, sorted.
        raw_text: The text that was parsed.
    """

    sections: dict[str, str]
    keywords: tuple[str, ...]
    raw_text: str


@dataclass(frozen=True)
class _Row:
    """What one CBC row says once its cells are sorted out."""

    value: float | None
    flagged: bool
    unit: str | None
    range: tuple[float, float] | None
    shifted: bool


def read_cbc_report(path: str | Path) -> CBCResult:
    """Read and parse one CBC report file.

    Args:
        path: The report ``.txt`` file (UTF-8, UTF-8 with BOM or latin-1).

    Returns:
        The parsed report, with ``source`` set to ``path``.

    Raises:
        DataError: The file cannot be read.
    """
    return parse_cbc_text(_decode_report(path), source=str(path))


def read_morphology_report(path: str | Path) -> MorphologyResult:
    """Read and parse one morphology report file.

    Args:
        path: The report ``.txt`` file (UTF-8, UTF-8 with BOM or latin-1).

    Returns:
        The parsed report.

    Raises:
        DataError: The file cannot be read.
    """
    return parse_morphology_text(_decode_report(path))


def _decode_report(path: str | Path) -> str:
    try:
        size = Path(path).stat().st_size
        if size > REPORT_MAX_BYTES:
            raise DataError(
                path,
                f"a report of at most {REPORT_MAX_BYTES:,} bytes",
                f"{size:,} bytes",
                "check the file: a CBC or morphology report is a few hundred bytes of text",
            )
        data = Path(path).read_bytes()
    except OSError as exc:
        found = exc.strerror or type(exc).__name__
        raise DataError(path, "a readable report file", found, "check the path and the file permissions") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Older exports are latin-1 (µ is the single byte 0xB5); latin-1 maps every byte, so this cannot fail.
        return data.decode("latin-1")


def get_canonical_test(name: str) -> str | None:
    """Map a test name as written ("Hemoglobin", "%RDW---CV", "PLT Count") to its ``CBC_TESTS`` name, or None."""
    # "Hemoglobin (Hb)" and "HGB (g/dL)" carry the useful name on one side of the brackets.
    for part in (name, *re.split(r"[()\[\]]", name)):
        key = re.sub(r"[^a-z0-9]", "", part.lower())
        for candidate in _name_candidates(key):
            if candidate in _ALIAS_INDEX:
                return _ALIAS_INDEX[candidate]
    return None


def _name_candidates(key: str) -> list[str]:
    # "Total RBC", "PLT Count", "Platelets", "Hb level" are the same tests; "conc" is not stripped (MCHC vs MCH).
    bare = re.sub(r"(?:count|cnt|level)$", "", re.sub(r"^total", "", key))
    candidates = [key, bare]
    candidates += [c[:-1] for c in (key, bare) if c.endswith("s")]
    return candidates


def parse_cbc_text(text: str, source: str | None = None) -> CBCResult:
    """Parse the text of one CBC report; never raises on bad content.

    Args:
        text: The report text (a leading BOM, CRLF endings, blank lines and trailing commas are fine).
        source: Where the text came from, kept in the result for messages.

    Returns:
        The parsed report; ``problems`` lists what looked wrong (codes in the module docstring).
    """
    values: dict[str, float | None] = dict.fromkeys(CBC_TESTS)
    flagged = dict.fromkeys(CBC_TESTS, False)
    ranges: dict[str, tuple[float, float] | None] = dict.fromkeys(CBC_TESTS)
    units: dict[str, str] = {}
    raw_names: dict[str, str] = {}
    unknown: dict[str, str] = {}
    body = text.lstrip("\ufeff")
    if not body.strip():
        return CBCResult(
            values,
            flagged,
            units=units,
            ranges=ranges,
            raw_names=raw_names,
            unknown_tests=unknown,
            problems=("empty",),
            raw_text=text,
            source=source,
        )

    problems: list[str] = []
    absurd: set[str] = set()
    has_header = False
    for line in body.splitlines():
        cells = _split_cells(line)
        if not cells:
            continue
        if _is_header(cells):
            has_header = True
            continue
        raw_name = line.split(",", 1)[0]  # unstripped: the audit of raw spellings counts "MCV " apart from "MCV"
        test = get_canonical_test(raw_name)
        if test is None:
            unknown.setdefault(raw_name, line.strip())
        elif test in raw_names:
            problems.append(f"duplicate_test:{test}")
        else:
            row = _parse_row(cells[1:])
            if row.value is not None and not _is_sane(row.value):
                absurd.add(test)
                problems.append(f"absurd:{test}")
                row = _Row(None, row.flagged, unit=row.unit, range=row.range, shifted=row.shifted)
            raw_names[test], values[test], flagged[test], ranges[test] = raw_name, row.value, row.flagged, row.range
            if row.unit:
                units[test] = row.unit
            if row.shifted:
                problems.append(f"column_shift:{test}")
    problems = (["no_header"] if not has_header else []) + problems
    problems += _check_values(values, flagged, ranges, absurd) + _check_consistency(values)
    return CBCResult(
        values,
        flagged,
        units=units,
        ranges=ranges,
        raw_names=raw_names,
        unknown_tests=unknown,
        problems=_capped(problems),
        raw_text=text,
        source=source,
    )


def _is_sane(value: float) -> bool:
    return math.isfinite(value) and abs(value) <= ABSURD_LIMIT


def _capped(problems: list[str]) -> tuple[str, ...]:
    """Each code once, in order of first appearance, and at most MAX_PROBLEMS of them."""
    unique = list(dict.fromkeys(problems))
    if len(unique) > MAX_PROBLEMS:
        unique = unique[: MAX_PROBLEMS - 1] + ["problems_truncated"]
    return tuple(unique)


def _split_cells(line: str) -> list[str]:
    cells = [cell.strip().strip('"').strip() for cell in line.split(",")]
    while cells and not cells[-1]:
        cells.pop()
    return cells


def _is_header(cells: list[str]) -> bool:
    first = re.sub(r"[^a-z]", "", cells[0].lower())
    rest = " ".join(cells[1:]).lower()
    return first in ("test", "tests", "testname", "parameter") and ("result" in rest or "range" in rest)


def _parse_row(cells: list[str]) -> _Row:
    """Sort the cells after the test name into value, unit and range, wherever the export put them."""
    flagged = any("*" in cell for cell in cells)
    cleaned = [cell.replace("*", "").strip() for cell in cells]
    # The printed range is the last column, so when a value also looks range-like the rightmost one wins.
    range_idx = next((i for i in reversed(range(len(cleaned))) if _RANGE_RE.match(cleaned[i])), None)
    value_idx, match = None, None
    for i, cell in enumerate(cleaned):
        match = _VALUE_RE.match(cell) if i != range_idx else None
        if match:
            value_idx = i
            break
    unit = match.group(2).strip() if match else ""
    if not unit:
        unit = next((c for i, c in enumerate(cleaned) if i not in (value_idx, range_idx) and _UNIT_RE.search(c)), "")
    range_match = _RANGE_RE.match(cleaned[range_idx]) if range_idx is not None else None
    printed = (float(range_match.group(1)), float(range_match.group(2))) if range_match else None
    return _Row(
        value=float(match.group(1)) if match else None,
        flagged=flagged,
        unit=unit or None,
        range=printed if printed is not None and all(map(_is_sane, printed)) else None,
        shifted=value_idx not in (None, 0),
    )


def _is_plausible(test: str, value: float | None) -> bool:
    low, high = PLAUSIBLE_BOUNDS[test]
    return value is not None and low <= value <= high


def _check_values(
    values: dict[str, float | None],
    flagged: dict[str, bool],
    ranges: dict[str, tuple[float, float] | None],
    absurd: set[str],
) -> list[str]:
    problems = []
    for test in CBC_TESTS:
        value, printed = values[test], ranges[test]
        if value is None:
            if test not in absurd:
                problems.append(f"missing:{test}")
        elif not _is_plausible(test, value):
            problems.append(f"impossible:{test}")
        elif printed is not None and flagged[test] != (not printed[0] <= value <= printed[1]):
            problems.append(f"flag_mismatch:{test}")
    return problems


def _check_consistency(values: dict[str, float | None]) -> list[str]:
    """Check the red-cell indices against each other, as a lab's own delta checks would."""
    v = {test: value for test, value in values.items() if value is not None and _is_plausible(test, value)}
    checks = (
        ("hct_mismatch", "HCT", ("RBC", "MCV"), lambda: v["RBC"] * v["MCV"] / 10),
        ("mchc_mismatch", "MCHC", ("HGB", "HCT"), lambda: v["HGB"] / v["HCT"] * 100),
        ("mch_mismatch", "MCH", ("HGB", "RBC"), lambda: v["HGB"] / v["RBC"] * 10),
    )
    problems = []
    for code, target, inputs, derive in checks:
        if target not in v or any(name not in v for name in inputs):
            continue
        expected = derive()
        if abs(v[target] - expected) > _CONSISTENCY_TOLERANCE * expected:
            problems.append(code)
    return problems


# Spelling variants per keyword; matched on lower-cased text from a word start.
_KEYWORD_PATTERNS: dict[str, str] = {
    "hypochromic": r"hypochrom\w*",
    "microcytic": r"microcyt\w*",
    "normocytic": r"normocyt\w*",
    "normochromic": r"normochrom\w*",
    "macrocytic": r"macrocyt\w*",
    "elliptocytes": r"elliptocyt\w*|ovalocyt\w*",
    "anisocytosis": r"aniso(?:cyt\w*|[\s-]?poikilocyt\w*)",
    "poikilocytosis": r"(?:aniso[\s-]?)?poikilocyt\w*",
    "polychromasia": r"polychrom\w*",
    "target_cells": r"target[\s-]*cells?|targetocytes?|codocytes?",
    "teardrop_cells": r"tear[\s-]*drops?(?:[\s-]*cells?)?|dacr[yi]?ocytes?",
    "schistocytes": r"schistocyt\w*|fragmented\s+(?:red\s+)?cells|helmet\s+cells?",
    "nucleated_rbcs": r"nucleated\s+(?:rbc\w*|red\s+(?:blood\s+)?cells?)|n-?rbc\w*|normoblasts?",
    "pencil_cells": r"pencil[\s-]*cells?",
    "spherocytes": r"(?:micro)?spherocyt\w*",
}
_KEYWORD_RES = {keyword: re.compile(rf"\b(?:{pattern})") for keyword, pattern in _KEYWORD_PATTERNS.items()}
_PRE_NEGATION = re.compile(r"\b(?:no|nil|without|negative for|absence of|free of)\b")
_POST_NEGATION = re.compile(
    r"\b(?:not\s+(?:seen|noted|observed|found|present|identified|detected)|absent|nil|none(?:\s+seen)?)\b"
)
# Words that end the reach of a negation: "no target cells seen but few pencil cells" negates only target cells.
_SCOPE_END = re.compile(r"\b(?:but|however|although|though|except|while|whereas|seen|noted|observed|present|with)\b")

_SECTION_PATTERNS: dict[str, re.Pattern[str]] = {
    "rbc": re.compile(
        r"(?:rbcs?|redbloodcells?|redcells?|erythrocytes?)(?:morphology)?(?:peripheral(?:blood)?(?:smear|film))?"
        r"|peripheral(?:blood)?(?:smear|film)(?:rbcs?morphology)?"
    ),
    "wbc": re.compile(r"(?:wbcs?|whitebloodcells?|whitecells?|leu[ck]ocytes?)(?:morphology)?"),
    "platelets": re.compile(r"(?:platelets?|plts?)(?:morphology|count)?"),
    "note": re.compile(r"notes?|comments?|remarks?|impression"),
}


def parse_morphology_text(text: str) -> MorphologyResult:
    """Parse the text of one morphology report.

    Args:
        text: The report text; section headers may vary in case and spacing.

    Returns:
        The sections found and the canonical keywords mentioned anywhere in the text without negation.
    """
    body = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    return MorphologyResult(sections=_split_sections(body), keywords=_find_keywords(body), raw_text=text)


def _section_header(line: str) -> tuple[str, str] | None:
    """Return (section, text after the colon) when ``line`` opens a section."""
    match = re.match(r"^\s*([^:]{1,60}?)\s*:\s*(.*)$", line)
    label, rest = (match.group(1), match.group(2)) if match else (line, "")
    key = re.sub(r"[^a-z]", "", label.lower())
    for section, pattern in _SECTION_PATTERNS.items():
        if pattern.fullmatch(key):
            return section, rest.strip()
    return None


def _split_sections(body: str) -> dict[str, str]:
    lines: dict[str, list[str]] = {}
    current = None
    for line in body.split("\n"):
        header = _section_header(line)
        if header is not None:
            current, line = header
            lines.setdefault(current, [])
        if current is not None and line.strip():
            lines[current].append(line.strip())
    return {section: "\n".join(parts) for section, parts in lines.items()}


def _find_keywords(body: str) -> tuple[str, ...]:
    found = set()
    # Split into sentences, but not at decimal points ("nRBCs 1.5/100 WBCs").
    for sentence in re.split(r"[;\n]|\.(?!\d)", body.lower()):
        for keyword, pattern in _KEYWORD_RES.items():
            if any(not _is_negated(sentence, m.start(), m.end()) for m in pattern.finditer(sentence)):
                found.add(keyword)
    return tuple(sorted(found))


def _is_negated(sentence: str, start: int, end: int) -> bool:
    """True when a negation cue governs the mention at ``sentence[start:end]``."""
    cues_before = list(_PRE_NEGATION.finditer(sentence, 0, start))
    if cues_before and not _SCOPE_END.search(sentence, cues_before[-1].end(), start):
        return True
    cue_after = _POST_NEGATION.search(sentence, end)
    if cue_after is None:
        return False
    # "target cells and nRBCs not seen" negates both; a comma or "but" in between ends the list.
    between = sentence[end : cue_after.start()]
    return "," not in between and not _SCOPE_END.search(between)
