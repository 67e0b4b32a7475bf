"""Values from data (file names, sample ids, class names, messages quoting them) made safe for Markdown and HTML.

Markdown viewers (GitHub, the Hugging Face hub, editors' previews) render the HTML inside Markdown, so a
sample id like ``<img src=x onerror=alert(1)>`` written verbatim into a report runs as a script when the
report is opened. Every report writer passes data through these helpers; only the writer's own fixed text
stays unescaped.
"""

from __future__ import annotations

import html
import re

_LINE_BREAKS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]+")  # control characters, every kind of newline
_MARKDOWN_SPECIAL = re.compile(r"[\\`*\[\]|]")  # code spans, emphasis, links and images, table cells


def _one_line(value: object) -> str:
    return _LINE_BREAKS.sub(" ", str(value))


def md_text(value: object) -> str:
    """A value as Markdown text or table-cell content: no HTML, link, image, code span or table break.

    ``<``, ``>`` and ``&`` become HTML entities (shown as the characters), so no tag can start; backslash,
    backtick, ``*``, brackets and ``|`` are backslash-escaped; line breaks and control characters become spaces.
    Quotes stay: without a tag there is no attribute they could end.
    """
    return _MARKDOWN_SPECIAL.sub(lambda m: "\\" + m.group(0), html.escape(_one_line(value), quote=False))


def md_code(value: object) -> str:
    """A value as an inline code span (backticks included) that stays one span and one table cell.

    The fence is longer than any run of backticks in the value, as CommonMark requires, and ``|`` is escaped for
    tables. A value holding ``<``, ``>`` or ``&`` is written as escaped text (``md_text``) instead: entities are
    shown literally inside a code span (a viewer would print ``&lt;``), and raw ``<`` is safe in a code span only
    for viewers that follow CommonMark; escaped text is safe and readable in all of them.
    """
    text = _one_line(value)
    if not text.strip() or re.search(r"[<>&]", text):
        return md_text(value)
    text = text.replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def html_text(value: object) -> str:
    """A value as HTML text or a quoted attribute value."""
    return html.escape(str(value), quote=True)
