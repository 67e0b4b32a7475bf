"""docs/RELIABILITY.md names a test for every case: each named test exists, so the table cannot drift from the code."""

from __future__ import annotations

import re

from tests.helpers import PROJECT_ROOT

DOC = PROJECT_ROOT / "docs" / "RELIABILITY.md"
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+))?")


def test_every_test_the_reliability_table_names_exists():
    references = REFERENCE.findall(DOC.read_text(encoding="utf-8"))
    assert len(references) > 80
    missing = []
    for path, name in references:
        file = PROJECT_ROOT / path
        if not file.is_file() or (name and not re.search(rf"^def {name}\(", file.read_text(), re.MULTILINE)):
            missing.append(f"{path}::{name}")
    assert not missing, missing
