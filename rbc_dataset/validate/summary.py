"""Human-readable summaries of a validation report: Markdown and a static HTML page with pictures of the worst pairs.

Each worst pair gets an overlay thumbnail and zoomed crops at its findings (``validate.figures``); both
summaries list every finding code with an example, what was expected, what was found and the fix. Values
from the data (sample ids, paths, messages quoting them) go through ``rbc_dataset.markup``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from rbc_dataset.fileio import safe_name, write_png
from rbc_dataset.markup import html_text, md_code, md_text
from rbc_dataset.validate.figures import CROP_PX, ZOOM, draw_pair
from rbc_dataset.validate.loading import FILE_FINDINGS

LEGEND = (
    "Green: the mask's cells. Magenta: cells seen in the image. Yellow boxes: the regions shown enlarged "
    f"({CROP_PX}x{CROP_PX} px at {ZOOM}x, one square per pixel); in a crop, yellow rings the speck or hole it is about."
)


@dataclass(frozen=True)
class Case:
    """One worst pair as the summaries show it: picture files relative to the report's folder."""

    sample_id: str
    thumbnail: str | None  # None: not drawn (a file-level finding, or nothing decodable)
    crops: list[tuple[str, str]] = field(default_factory=list)  # (file, what it shows)


def _worst_samples(document: dict, limit: int) -> list[str]:
    """Samples with the most errors first, then the most warnings; ties broken by lowest agreement."""
    score: dict[str, list] = {}
    for f in document["findings"]:
        if not f["sample_id"] or f["severity"] == "info":
            continue
        entry = score.setdefault(f["sample_id"], [0, 0])
        entry[0 if f["severity"] == "error" else 1] += 1
    agreement = {s["sample_id"]: s.get("iou_zero") or 0.0 for s in document["samples"]}
    ranked = sorted(score, key=lambda sid: (-score[sid][0], -score[sid][1], agreement.get(sid, 0.0), sid))
    return ranked[:limit]


def _codes(document: dict, sid: str) -> set[str]:
    return {f["code"] for f in document["findings"] if f["sample_id"] == sid}


def _draw_cases(document: dict, rows: pd.DataFrame, folder: Path, limit: int) -> list[Case]:
    """Draw the ``limit`` worst pairs into ``folder``: a thumbnail and up to two crops each.

    Pairs with a finding about a file itself (a bomb, a truncated file, a link out of the root) are never
    decoded; ids come from data, so file names are ``safe_name`` slugs (crops in ``crops/`` as ``<slug>.<k>``).
    """
    by_id = rows.set_index("sample_id", drop=False)
    majority = document["dataset"].get("majority_polarity")
    # A foreign mask's own polarity guess is meaningless; draw it the dataset's way round.
    polarity = {
        s["sample_id"]: s.get("polarity") if s.get("polarity_reliable") else majority for s in document["samples"]
    }
    refused = {f["sample_id"] for f in document["findings"] if f["code"] in FILE_FINDINGS}
    config = document.get("config", {})
    cases = []
    for sid in _worst_samples(document, limit):
        if sid not in by_id.index:
            continue
        codes = _codes(document, sid)
        figures = (
            None
            if sid in refused
            else draw_pair(by_id.loc[sid], polarity.get(sid) or majority, codes=codes, config=config)
        )
        if figures is None:
            cases.append(Case(sid, None))
            continue
        (folder / "crops").mkdir(parents=True, exist_ok=True)
        stem = safe_name(sid)
        write_png(folder / f"{stem}.png", figures.thumbnail)
        crops = []
        for k, crop in enumerate(figures.crops, start=1):
            write_png(folder / "crops" / f"{stem}.{k}.png", crop.picture)
            crops.append((f"{folder.name}/crops/{stem}.{k}.png", f"{crop.what} at x={crop.x}, y={crop.y}"))
        cases.append(Case(sid, f"{folder.name}/{stem}.png", crops))
    return cases


CODE_COLUMNS = ("severity", "code", "count", "example", "expected", "found", "fix")
CASE_COLUMNS = ("severity", "code", "file", "found", "fix")


def _code_rows(document: dict) -> list[dict]:
    """One row per finding code, with the first finding of that code as its example (values unescaped)."""
    examples: dict[str, dict] = {}
    for f in document["findings"]:
        examples.setdefault(f["code"], f)
    rows = []
    for code, entry in document["by_code"].items():
        f = examples[code]
        example = f["path"] or f["sample_id"] or "-"
        rows.append(
            {"severity": entry["severity"], "code": code, "count": entry["count"], "example": example}
            | {key: f[key] for key in ("expected", "found", "fix")}
        )
    return rows


def _case_rows(document: dict, sid: str) -> list[dict]:
    return [{**f, "file": f["path"] or "-"} for f in document["findings"] if f["sample_id"] == sid]


CODE_CELLS = {"code", "example", "file"}  # shown as code: names and paths


def _md_row(row: dict, columns: tuple[str, ...]) -> str:
    cells = [md_code(row[c]) if c in CODE_CELLS else md_text(row[c]) for c in columns]
    return "| " + " | ".join(cells) + " |"


def _md_table(rows: list[dict], columns: tuple[str, ...]) -> list[str]:
    head = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return head + [_md_row(row, columns) for row in rows]


def _source_name(document: dict) -> str:
    """The source folder's or manifest's name: summaries travel (inside a build), the local path stays in the JSON."""
    return Path(str(document["source"])).name


def _headline(document: dict) -> str:
    counts = document["counts"]
    return (
        f"{document['n_samples']} samples; {counts['error']} errors, {counts['warning']} warnings, "
        f"{counts['info']} notes. Majority polarity: {document['dataset'].get('majority_polarity')}; "
        f"mask encodings: {document['dataset'].get('encodings')}."
    )


def _markdown(document: dict, cases: list[Case]) -> str:
    lines = [f"# validate-masks: {md_text(_source_name(document))}", "", md_text(_headline(document)), ""]
    lines += ["## Findings by code", ""]
    lines += _md_table(_code_rows(document), CODE_COLUMNS) if document["by_code"] else ["No findings."]
    if cases:
        lines += ["", "## Worst cases", "", md_text(LEGEND), ""]
    for case in cases:
        lines += [f"### {md_text(case.sample_id)}", ""]
        if case.thumbnail:
            pictures = [f"![{md_text(case.sample_id)}]({quote(case.thumbnail)})"]
            pictures += [f"![{md_text(what)}]({quote(name)})" for name, what in case.crops]
            lines += [" ".join(pictures), ""]
            lines += [f"- crop {k}: {md_text(what)}" for k, (_, what) in enumerate(case.crops, start=1)]
        else:
            lines.append("(no picture: a file of this pair is not decoded, see its findings)")
        lines += ["", *_md_table(_case_rows(document, case.sample_id), CASE_COLUMNS), ""]
    return "\n".join(lines) + "\n"


def _html_table(rows: list[dict], columns: tuple[str, ...]) -> str:
    head = "".join(f"<th>{c}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td><code>{html_text(row[c])}</code></td>" if c in CODE_CELLS else f"<td>{html_text(row[c])}</td>"
            for c in columns
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html_figure(src: str, alt: str, caption: str) -> str:
    return (
        f"<figure><img src='{html_text(quote(src))}' alt='{html_text(alt)}'>"
        f"<figcaption>{html_text(caption)}</figcaption></figure>"
    )


def _html_case(document: dict, case: Case) -> str:
    if case.thumbnail:
        figures = _html_figure(case.thumbnail, case.sample_id, "the whole image")
        figures += "".join(_html_figure(name, what, what) for name, what in case.crops)
    else:
        figures = "<p>(no picture: a file of this pair is not decoded, see its findings)</p>"
    table = _html_table(_case_rows(document, case.sample_id), CASE_COLUMNS)
    return f"<section><h3>{html_text(case.sample_id)}</h3><div class='pictures'>{figures}</div>{table}</section>"


STYLE = (
    "body{font-family:sans-serif;margin:16px}table{border-collapse:collapse;margin:8px 0}"
    "td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}"
    "figure{display:inline-block;margin:6px;vertical-align:top}figcaption{max-width:384px;font-size:90%}"
    "img{image-rendering:pixelated;border:1px solid #ccc}section{margin-bottom:24px}"
)


def _html(document: dict, cases: list[Case]) -> str:
    codes = _html_table(_code_rows(document), CODE_COLUMNS) if document["by_code"] else "<p>No findings.</p>"
    worst = "".join(_html_case(document, case) for case in cases)
    if cases:
        worst = f"<h2>Worst cases</h2><p>{html_text(LEGEND)}</p>{worst}"
    return (
        "<!doctype html><html lang='en'><meta charset='utf-8'><title>validate-masks</title>"
        f"<style>{STYLE}</style><h1>validate-masks: {html_text(_source_name(document))}</h1>"
        f"<p>{html_text(_headline(document))}</p><h2>Findings by code</h2>{codes}{worst}</html>\n"
    )


def write_summaries(document: dict, rows: pd.DataFrame, *, report_path: Path, limit: int) -> tuple[Path, Path]:
    """Write ``<report>.md`` and ``<report>.html`` (and their pictures) next to the JSON report."""
    folder = report_path.with_name(report_path.stem + "_thumbs")
    cases = _draw_cases(document, rows, folder, limit)
    markdown, page = report_path.with_suffix(".md"), report_path.with_suffix(".html")
    markdown.write_text(_markdown(document, cases), encoding="utf-8")
    page.write_text(_html(document, cases), encoding="utf-8")
    return markdown, page
