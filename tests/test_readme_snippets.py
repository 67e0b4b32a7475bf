"""Every Python snippet of the README runs as written, in order, in one namespace (as a notebook would run them).

The snippets make their own data (``rd.synthesize``), so the test only gives them an empty working folder.
"""

from __future__ import annotations

import re

import pytest

from tests.helpers import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
FENCE = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def python_snippets(text: str) -> list[str]:
    """The bodies of the ```python blocks of ``text``, in order."""
    return [match.group(1) for match in FENCE.finditer(text)]


def test_the_readme_has_the_python_api_example():
    snippets = python_snippets(README.read_text(encoding="utf-8"))
    assert len(snippets) >= 2
    assert any("rd.validate_masks(" in s and "rd.build(" in s and ".load(" in s for s in snippets)


def test_snippet_extraction_sees_every_block():
    text = "a\n```python\nx = 1\n```\nb\n```bash\nls\n```\n```python\ny = x + 1\n```\n"
    assert python_snippets(text) == ["x = 1\n", "y = x + 1\n"]


def test_readme_python_snippets_run_as_written(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__readme__"}
    for number, snippet in enumerate(python_snippets(README.read_text(encoding="utf-8")), start=1):
        code = compile(snippet, f"README.md python snippet {number}", "exec")
        exec(code, namespace)  # noqa: S102 (the README's own code, run as a reader would)
    assert (tmp_path / "anerbc-built" / "dataset.json").is_file()
    assert not (tmp_path / "validate-masks.json").exists()  # the API wrote no report of its own
