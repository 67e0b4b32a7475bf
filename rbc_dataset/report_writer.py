"""Write synthetic CBC and morphology reports in the AneRBC text format.

The inverse of the parsers in ``rbc_dataset.reports``: the synthetic data generator uses these writers, and the tests
check that parsing what they write gives the values back. The numpy Generator passed in is the only source of
randomness, so the same generator state always gives the same text.
"""

from __future__ import annotations

import math

import numpy as np

from rbc_dataset.errors import UsageError
from rbc_dataset.reports import CBC_TESTS, CBC_UNITS, MORPHOLOGY_KEYWORDS, PLAUSIBLE_BOUNDS, REFERENCE_RANGES

_CBC_HEADER = "Test,Result/Units,Norm. Range"
# Decimals as the analyser prints them.
_DECIMALS = {"WBC": 2, "RBC": 2, "HGB": 1, "HCT": 1, "MCV": 1, "MCH": 1, "MCHC": 1, "PLT": 0, "MPV": 1, "RDW_CV": 1}
# Spellings seen in the real reports; the real data mixes them, so one is drawn for every report.
_NAME_VARIANTS = {"HGB": ("HGB", "Hemoglobin"), "RDW_CV": ("RDW-CV", "RDW---CV", "%RDW---CV", "RDW")}
_MIN_STRENGTH = 0.02

_RBC_HEADERS = ("RBC Morphology / Peripheral Smear:", "RBC MORPHOLOGY:", "Peripheral Smear:", "RBC Morphology :")
_WBC_HEADERS = ("WBCs MORPHOLOGY:", "WBC Morphology:", "WBCs Morphology :")
_PLATELET_HEADERS = ("PLATELETS:", "Platelets :", "PLATELETS :")
_WBC_SENTENCES = (
    "Normal in number and morphology.",
    "WBCs are adequate in number with normal morphology.",
    "Within normal limits. No immature cells seen.",
    "Total count is within normal range; no abnormal cells seen.",
)
_PLATELET_SENTENCES = (
    "Adequate on smear.",
    "Platelets are adequate in number.",
    "Adequate in number and normal in morphology.",
    "Normal in number and morphology. No clumps seen.",
)
_DEGREE_FINDINGS = ("anisocytosis", "poikilocytosis", "polychromasia")
# Cell types are counted ("few"/"some"/"many"); each entry lists the spellings drawn from.
_CELL_NAMES = {
    "target_cells": ("target cells",),
    "teardrop_cells": ("tear drop cells", "tear-drop cells", "teardrop cells"),
    "pencil_cells": ("pencil cells",),
    "elliptocytes": ("elliptocytes", "ovalocytes"),
    "schistocytes": ("schistocytes", "fragmented red cells"),
    "spherocytes": ("spherocytes",),
    "nucleated_rbcs": ("nucleated RBCs", "nRBCs"),
}


def _pick(options: tuple[str, ...], rng: np.random.Generator) -> str:
    return options[int(rng.integers(len(options)))]


def _is_missing(value: float | None) -> bool:
    # Manifests come from pandas, where a missing number is NaN rather than None.
    return value is None or (isinstance(value, float) and math.isnan(value))


def format_cbc_report(
    values: dict[str, float | None], rng: np.random.Generator, *, quirk_rate: float = 0.0
) -> tuple[str, list[str]]:
    """Write one CBC report in the AneRBC text format.

    Args:
        values: Canonical test (``CBC_TESTS``) -> value; a test that is absent or None (or NaN) is left out of the
            report, which is how RDW-CV and MPV go missing.
        rng: The only source of randomness (name spellings and quirks).
        quirk_rate: Chance that the report gets one extra real-world fault: a lost decimal point in one value
            (always one that becomes impossible) or one row's columns shifted.

    Returns:
        The report text and what was done to it: ``"name:HGB=Hemoglobin"`` for every name not written canonically,
        then ``"decimal_lost:<TEST>"`` or ``"column_shift:<TEST>"`` when a quirk was applied.

    Raises:
        UsageError: An unknown test name, or ``quirk_rate`` outside [0, 1].
    """
    _check_cbc_inputs(values, quirk_rate)
    rows: list[tuple[str, list[str]]] = []
    quirks: list[str] = []
    for test in CBC_TESTS:
        value = values.get(test)
        if _is_missing(value):
            continue
        name = _pick(_NAME_VARIANTS.get(test, (test,)), rng)
        if name != test:
            quirks.append(f"name:{test}={name}")
        rows.append((test, [name, _format_result(test, _format_number(test, value)), _format_range(test)]))
    # Drawn even at quirk_rate 0 so that the name draws of later reports do not depend on the rate.
    if rng.random() < quirk_rate and rows:
        quirks.append(_apply_quirk(rows, rng))
    lines = [_CBC_HEADER, *(",".join(cells) for _, cells in rows)]
    return "\n".join(lines) + "\n", quirks


def _check_cbc_inputs(values: dict[str, float | None], quirk_rate: float) -> None:
    unknown = sorted(set(values) - set(CBC_TESTS))
    if unknown:
        raise UsageError(f"unknown CBC test(s) {', '.join(unknown)}; valid choices: {', '.join(CBC_TESTS)}")
    if not 0.0 <= quirk_rate <= 1.0:
        raise UsageError(f"quirk_rate must be between 0 and 1, got {quirk_rate}")


def _format_number(test: str, value: float) -> str:
    return f"{float(value):.{_DECIMALS[test]}f}"


def _format_bound(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else str(bound)


def _format_range(test: str) -> str:
    low, high = REFERENCE_RANGES[test]
    return f"{_format_bound(low)} --- {_format_bound(high)}"


def _format_result(test: str, number: str) -> str:
    # The flag follows the printed (rounded) number, so a reader comparing it with the range agrees with it.
    low, high = REFERENCE_RANGES[test]
    star = "" if low <= float(number) <= high else "* "
    return f"{star}{number} {CBC_UNITS[test]}"


def _apply_quirk(rows: list[tuple[str, list[str]]], rng: np.random.Generator) -> str:
    """Damage one row in place the way real exports are damaged; return the quirk code."""
    lossy = [i for i, (test, cells) in enumerate(rows) if _loses_decimal(test, cells[1])]
    if lossy and rng.random() < 0.5:
        index = lossy[int(rng.integers(len(lossy)))]
        test, cells = rows[index]
        cells[1] = cells[1].replace(".", "", 1)
        return f"decimal_lost:{test}"
    index = int(rng.integers(len(rows)))
    test, cells = rows[index]
    name, result, printed_range = cells
    unit = CBC_UNITS[test]
    shifted = (
        [name, "", result, printed_range],  # an empty cell pushed everything right
        [name, unit, result.removesuffix(" " + unit), printed_range],  # the unit landed in the value column
        [name, printed_range, result],  # value and range swapped
    )
    cells[:] = shifted[int(rng.integers(len(shifted)))]
    return f"column_shift:{test}"


def _loses_decimal(test: str, result: str) -> bool:
    # Only faults that make the value impossible are injected, so the parser can be held to catching every one.
    number = result.replace("*", "").split()[0]
    if "." not in number:
        return False
    low, high = PLAUSIBLE_BOUNDS[test]
    return not low <= float(number.replace(".", "")) <= high


def format_morphology_report(findings: dict[str, float], rng: np.random.Generator, *, note: str | None = None) -> str:
    """Write one morphology report in the AneRBC free-text style.

    Args:
        findings: Canonical keyword (``MORPHOLOGY_KEYWORDS``) -> strength in [0, 1] (share of cells or degree);
            strengths below 0.02 are not mentioned. Colour and size default to normochromic and normocytic.
        rng: The only source of randomness (headers, spellings, normal WBC and platelet sentences).
        note: Text for a ``NOTE :`` section, when given.

    Returns:
        The report text.

    Raises:
        UsageError: An unknown keyword or a strength outside [0, 1].
    """
    present = _check_findings(findings)
    sections = [
        (_pick(_RBC_HEADERS, rng), _describe_red_cells(present, rng)),
        (_pick(_WBC_HEADERS, rng), _pick(_WBC_SENTENCES, rng)),
        (_pick(_PLATELET_HEADERS, rng), _pick(_PLATELET_SENTENCES, rng)),
    ]
    if note:
        sections.append(("NOTE :", note.strip()))
    return "\n\n".join(f"{header}\n{text}" for header, text in sections) + "\n"


def _check_findings(findings: dict[str, float]) -> dict[str, float]:
    unknown = sorted(set(findings) - set(MORPHOLOGY_KEYWORDS))
    if unknown:
        choices = ", ".join(MORPHOLOGY_KEYWORDS)
        raise UsageError(f"unknown morphology keyword(s) {', '.join(unknown)}; valid choices: {choices}")
    bad = {k: v for k, v in findings.items() if not 0.0 <= float(v) <= 1.0}
    if bad:
        raise UsageError(f"finding strengths must be between 0 and 1, got {bad}")
    return {keyword: float(v) for keyword, v in findings.items() if v >= _MIN_STRENGTH}


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _degree(strength: float) -> str:
    return "mild" if strength < 0.3 else "moderate" if strength < 0.6 else "marked"


def _amount(strength: float) -> str:
    return "few" if strength < 0.1 else "some" if strength < 0.3 else "many"


def _describe_red_cells(present: dict[str, float], rng: np.random.Generator) -> str:
    colour = [k for k in ("hypochromic", "normochromic") if k in present]
    size = [k for k in ("microcytic", "normocytic", "macrocytic") if k in present]
    if colour or size:
        opening = f"{_join(colour or ['normochromic'])} {_join(size or ['normocytic'])} red cells".capitalize()
    else:
        opening = "Normocytic normochromic red cells"  # the standard wording of a normal smear
    degrees = [f"{_degree(present[k])} {k}" for k in _DEGREE_FINDINGS if k in present]
    if "anisocytosis" in present and "poikilocytosis" in present and rng.random() < 0.5:
        # Smear reports often fold the two into one word.
        strength = max(present["anisocytosis"], present["poikilocytosis"])
        degrees = [f"{_degree(strength)} anisopoikilocytosis", *degrees[2:]]
    sentences = [opening + (f" with {_join(degrees)}." if degrees else ".")]
    for amount in ("few", "some", "many"):
        names = [_pick(_CELL_NAMES[k], rng) for k in _CELL_NAMES if k in present and _amount(present[k]) == amount]
        if names:
            sentences.append(f"{amount.capitalize()} {_join(names)} seen.")
    absent = [k for k in _CELL_NAMES if k not in present]
    if absent and rng.random() < 0.3:
        sentences.append(f"No {_pick(_CELL_NAMES[absent[int(rng.integers(len(absent)))]], rng)} seen.")
    return " ".join(sentences)
