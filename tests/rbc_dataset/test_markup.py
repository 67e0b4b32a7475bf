"""Values from data are escaped for Markdown and HTML: no tag, link, code-span break or table break survives."""

from __future__ import annotations

import pytest

from rbc_dataset.markup import html_text, md_code, md_text
from tests.helpers.hostile_images import HTML_NAMES


@pytest.mark.parametrize("name", HTML_NAMES)
def test_html_in_a_name_never_survives(name: str) -> None:
    for text in (md_text(name), md_code(name), html_text(name)):
        assert "<" not in text and ">" not in text and "&lt;" in text


def test_markdown_structure_cannot_be_broken() -> None:
    assert md_text("a|b\nc") == "a\\|b c"  # one table cell, one line
    assert md_text("[x](javascript:alert(1))") == "\\[x\\](javascript:alert(1))"  # no link
    assert md_text("![i](http://x/y.png)") == "!\\[i\\](http://x/y.png)"  # no image
    assert md_text("`code` *em*") == "\\`code\\` \\*em\\*"
    assert md_text("a\u2028b\x00c") == "a b c"


def test_code_spans_hold_any_backticks_and_pipes() -> None:
    assert md_code("plain_id-001") == "`plain_id-001`"  # ordinary ids stay readable
    assert md_code("a`b") == "``a`b``"
    assert md_code("`x") == "`` `x ``"
    assert md_code("a|b") == "`a\\|b`"
    assert md_code("") == ""


def test_ordinary_text_is_unchanged() -> None:
    for text in ("anerbc1_a_001", "AneRBC_dataset/AneRBC-I/x.png", "re-export the file", "don't"):
        assert md_text(text) == text


@pytest.mark.parametrize("name", HTML_NAMES)
def test_a_viewer_shows_the_name_itself_not_its_entities(name: str) -> None:
    # What GitHub or the hub shows is the rendered text: the characters of the name, never '&lt;' on screen.
    import html

    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark").render(f"| id |\n|---|\n| {md_code(name)} |\n")
    shown = html.unescape(rendered.replace("<p>", "").replace("</p>", "").strip())
    assert name.replace("\n", " ") in shown and "&lt;" not in shown
