"""Public functions take keywords after their first one or two arguments; no call passes a long positional list.

Two neighbouring parameters of one type (``remove_specks_px, fill_holes_px``) swapped in a positional call are a
silent bug; swapped keywords are not. Both checks read the source with ``ast`` (nothing is imported) and list every
offender with its file and line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rbc_dataset", "annotation", "benchmarks")
MAX_POSITIONAL_PARAMETERS = 2  # self and cls not counted
MAX_POSITIONAL_ARGUMENTS = 4
# The project's error form, whose arguments follow the message it prints: FILE: expected ..., found .... Fix: ...
ERROR_FORM = {"DataError", "ImageRefused", "_bad"}
# Calls into other libraries, whose signatures are theirs (OpenCV drawing, rich tables, torch containers).
EXTERNAL_PREFIXES = ("cv2.", "nn.Sequential", "MBConvConfig", "table.add_row")


def _sources() -> Iterator[tuple[str, str]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield str(path.relative_to(ROOT)), path.read_text(encoding="utf-8")
    yield "cli.py", (ROOT / "cli.py").read_text(encoding="utf-8")


def _is_command(node: ast.FunctionDef) -> bool:
    """A typer command or callback: typer passes every argument by name."""
    return any(".command" in ast.unparse(d) or ".callback" in ast.unparse(d) for d in node.decorator_list)


def _positional(node: ast.FunctionDef, method: bool) -> list[str]:
    names = [a.arg for a in node.args.posonlyargs + node.args.args]
    static = any(ast.unparse(d) == "staticmethod" for d in node.decorator_list)
    if method and not static and names[:1] in (["self"], ["cls"]):
        names = names[1:]
    return names + ([f"*{node.args.vararg.arg}"] if node.args.vararg else [])


def _public_functions(body: list[ast.stmt], owner: str = "") -> Iterator[tuple[str, ast.FunctionDef, bool]]:
    for node in body:
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_") and node.name not in ERROR_FORM:
            yield from _public_functions(node.body, f"{owner}{node.name}.")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            private = node.name.startswith("_") and node.name != "__init__"
            if not private and not _is_command(node):
                yield f"{owner}{node.name}", node, bool(owner)


def signature_offenders(source: str, where: str) -> list[str]:
    """Public functions and methods of ``source`` with more than two positional parameters."""
    found = []
    for name, node, method in _public_functions(ast.parse(source).body):
        positional = _positional(node, method)
        if len(positional) > MAX_POSITIONAL_PARAMETERS:
            found.append(f"{where}:{node.lineno} {name}({', '.join(positional)})")
    return found


def call_offenders(source: str, where: str) -> list[str]:
    """Calls in ``source`` that pass more than four positional arguments to a function of the project."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or len(node.args) <= MAX_POSITIONAL_ARGUMENTS:
            continue
        callee = ast.unparse(node.func)
        if callee.startswith(EXTERNAL_PREFIXES) or callee.rpartition(".")[2] in ERROR_FORM:
            continue
        found.append(f"{where}:{node.lineno} {callee} with {len(node.args)} positional arguments")
    return found


def test_public_functions_take_keywords_after_their_first_two_arguments():
    offenders = [line for where, source in _sources() for line in signature_offenders(source, where)]
    assert not offenders, "make the parameters after the first one or two keyword-only (`*,`):\n" + "\n".join(offenders)


def test_no_call_passes_more_than_four_positional_arguments():
    offenders = [line for where, source in _sources() for line in call_offenders(source, where)]
    assert not offenders, "pass these arguments by name:\n" + "\n".join(offenders)


def test_the_checks_see_positional_parameters_and_calls():
    source = (
        "import typer\napp = typer.Typer()\n"
        "def loose(source, report, out): ...\n"
        "def tight(source, out, *, report=None): ...\n"
        "def _private(a, b, c, d): ...\n"
        "def spread(*paths): ...\n"
        "class Reader:\n    def __init__(self, path, config, split): ...\n    def read(self, index): ...\n"
        "@app.command()\ndef command(a, b, c): ...\n"
        "loose(1, 2, 3, 4, 5)\ntight(1, 2, report=3)\n"
    )
    assert signature_offenders(source, "m.py") == [
        "m.py:3 loose(source, report, out)",
        "m.py:8 Reader.__init__(path, config, split)",
    ]
    assert signature_offenders("def spread(a, b, *rest): ...\n", "m.py") == ["m.py:1 spread(a, b, *rest)"]
    assert call_offenders(source, "m.py") == ["m.py:12 loose with 5 positional arguments"]
    assert call_offenders("cv2.circle(a, b, c, d, e)\nDataError(1, 2, 3, 4)\n", "m.py") == []
