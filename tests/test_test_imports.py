"""Test modules import shared code from tests/helpers/ only: never from a conftest.py or from another test module."""

from __future__ import annotations

import ast

from tests.helpers import PROJECT_ROOT

TESTS = PROJECT_ROOT / "tests"


def _imported_test_modules(path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return [name for name in names if name == "tests" or name.startswith("tests.")]


def test_only_helpers_are_imported_across_test_files():
    wrong = [
        f"{path.relative_to(PROJECT_ROOT)}: {name}"
        for path in sorted(TESTS.rglob("*.py"))
        for name in _imported_test_modules(path)
        if name != "tests.helpers" and not name.startswith("tests.helpers.")
    ]
    assert not wrong, wrong


def test_the_check_sees_a_test_module_import(tmp_path):
    bad = tmp_path / "test_x.py"
    bad.write_text("from tests.conftest import REALDATA\nimport tests.test_cli\nfrom tests.helpers import squeezed\n")
    assert _imported_test_modules(bad) == ["tests.conftest", "tests.test_cli", "tests.helpers"]
