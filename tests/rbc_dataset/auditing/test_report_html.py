"""audit.html: audit.md as a page, the same tables, data shown as text (never as markup)."""

from __future__ import annotations

import json
import re

from rbc_dataset.auditing.report import render_html, render_markdown
from tests.helpers.hostile_images import HTML_NAMES


def test_audit_writes_a_page_with_the_markdown_tables(clean_audit):
    page = clean_audit.html_path.read_text(encoding="utf-8")
    assert clean_audit.html_path.name == "audit.html" and page.startswith("<!doctype html>")
    markdown = clean_audit.markdown_path.read_text(encoding="utf-8")
    headings = re.findall(r"^#+ (.+)$", markdown, flags=re.MULTILINE)
    assert headings and all(
        f">{heading.replace('&', '&amp;')}</h" in page for heading in headings if "`" not in heading
    )
    assert page.count("<table>") == markdown.count("\n|---") > 0  # every Markdown table is a table on the page


def test_names_from_the_data_are_text_in_audit_html(clean_audit):
    report = json.loads(clean_audit.report_path.read_text())
    names = (*HTML_NAMES, "a & b", "spaced name ü")
    report["summary"]["classes"] = {names[0]: 3, **report["summary"]["classes"]}
    report["tables"]["features_unavailable"] = [{"sample_id": name, "error": "image refused"} for name in names]
    page = render_html(render_markdown(report), HTML_NAMES[2])
    assert "<script" not in page and "<img" not in page and "<iframe" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 2 and "a &amp; b" in page
    assert "spaced name ü" in page
