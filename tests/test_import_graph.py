"""The project's modules import each other without cycles, and no package imports ``cli.py``.

Imports are read with ``ast``, never executed; those under ``if TYPE_CHECKING:`` never run and are left out.
Two graphs are checked:

- module-level imports (also those under ``try``/``if``): they run when a module is first imported, so a cycle
  among them can leave a half-initialised module behind (an ImportError that depends on import order);
- all imports, function bodies included: imports inside functions are how heavy libraries are deferred until
  a command needs them, and they cannot fail that way, but a cycle through them still means two modules that
  need each other (the model registry and the catalog did). The project has none; keep it so.

The ``cli`` rule covers every import: ``cli.py`` assembles the packages' commands and no package depends on it.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rbc_dataset", "annotation", "benchmarks")


def project_modules(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of ``packages`` under ``root`` (packages by __init__)."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.Module, module_level: bool):
    """Import statements of ``tree`` that run: all of them, or only those run at import time (no function bodies)."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif module_level and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        elif isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
        else:
            stack.extend(ast.iter_child_nodes(node))


def imported_names(module: str, path: Path, module_level: bool) -> set[str]:
    """Dotted names ``module`` imports: ``import a.b`` gives ``a.b``; ``from a import b`` gives ``a`` and ``a.b``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    names = set()
    for node in _import_nodes(tree, module_level):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
            continue
        base = node.module or ""
        if node.level:  # relative: from the module's own package, one level up per extra dot
            parts = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
            base = ".".join([*parts, *([base] if base else [])])
        names.add(base)
        names |= {f"{base}.{alias.name}" for alias in node.names}
    return names


def import_graph(root: Path, packages: tuple[str, ...], module_level: bool = True) -> dict[str, set[str]]:
    """Module -> the project modules it imports (a ``from a import b`` of a name in ``a`` counts as ``a``)."""
    modules = project_modules(root, packages)
    return {
        module: {name for name in imported_names(module, path, module_level) if name in modules} - {module}
        for module, path in modules.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as ``[a, b, ..., a]``, or None."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        return list(error.args[1])
    return None


def importers_of_cli(root: Path, packages: tuple[str, ...]) -> list[str]:
    """Modules of ``packages`` that import ``cli`` anywhere, function bodies included."""
    return sorted(
        module
        for module, path in project_modules(root, packages).items()
        if any(name == "cli" or name.startswith("cli.") for name in imported_names(module, path, False))
    )


# pkg.b imports pkg.a back only inside a function: a cycle of the full graph, not of the import-time graph
DEFERRED = {"pkg/__init__.py": "", "pkg/a.py": "import pkg.b\n", "pkg/b.py": "def f():\n    import pkg.a\n"}


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


@pytest.mark.parametrize("module_level", [True, False], ids=["module-level", "function-level-too"])
def test_the_project_has_no_import_cycle(module_level: bool) -> None:
    graph = import_graph(ROOT, PACKAGES, module_level)
    assert len(graph) > 100 and "benchmarks.catalog" in graph["benchmarks.suite.request"]  # the walk sees imports
    cycle = find_cycle(graph)
    assert cycle is None, f"import cycle: {' -> '.join(cycle or [])}"


def test_no_package_imports_cli() -> None:
    assert importers_of_cli(ROOT, PACKAGES) == []


def test_the_model_registry_does_not_import_the_catalog() -> None:
    graph = import_graph(ROOT, PACKAGES, module_level=False)
    assert "benchmarks.catalog" not in graph["benchmarks.models.registry"]
    assert "benchmarks.models.registry" in graph["benchmarks.catalog"]


@pytest.mark.parametrize(
    ("files", "module_level", "cycle_found"),
    [
        ({"pkg/__init__.py": "", "pkg/a.py": "from pkg import b\n", "pkg/b.py": "import pkg.a\n"}, True, True),
        ({"pkg/__init__.py": "", "pkg/a.py": "from . import b\n", "pkg/b.py": "from .a import f\n"}, True, True),
        (
            {"pkg/__init__.py": "", "pkg/a.py": "import pkg.b\n", "pkg/b.py": "def f():\n    import pkg.a\n"},
            True,
            False,
        ),
        (
            {"pkg/__init__.py": "", "pkg/a.py": "import pkg.b\n", "pkg/b.py": "def f():\n    import pkg.a\n"},
            False,
            True,
        ),
        (
            {
                "pkg/__init__.py": "",
                "pkg/a.py": "import pkg.b\n",
                "pkg/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.a\n",
            },
            False,
            False,
        ),
    ],
    ids=["absolute", "relative", "function-level-not-at-import", "function-level", "type-checking"],
)
def test_a_planted_cycle_is_found(tmp_path: Path, files: dict[str, str], module_level: bool, cycle_found: bool) -> None:
    _write(tmp_path, files)
    cycle = find_cycle(import_graph(tmp_path, ("pkg",), module_level))
    assert (cycle is not None) == cycle_found
    if cycle_found:
        assert cycle[0] == cycle[-1] and set(cycle) == {"pkg.a", "pkg.b"}


def test_an_import_of_cli_is_found_even_inside_a_function(tmp_path: Path) -> None:
    _write(tmp_path, {"pkg/__init__.py": "", "pkg/ok.py": "import typer\n", "pkg/bad.py": "def f():\n    import cli\n"})
    assert importers_of_cli(tmp_path, ("pkg",)) == ["pkg.bad"]
