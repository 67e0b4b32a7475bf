"""Human-readable summaries of a validation report: Markdown and a static HTML page with overlay thumbnails.

Thumbnails show the image with the mask's cells outlined in green and the cells seen in the image itself
outlined in magenta, so a shifted, flipped or swapped mask is visible at a glance.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import cv2
import numpy as np
import pandas as pd

from rbc_dataset import masks
from rbc_dataset.fileio import MAX_PIXELS, ImageRefused, read_image, safe_name, write_png
from rbc_dataset.manifest import absolute_path
from rbc_dataset.markup import html_text, md_code, md_text
from rbc_dataset.validate.loading import FILE_FINDINGS

THUMB_WIDTH = 360
MASK_COLOUR, IMAGE_COLOUR = (0, 200, 0), (220, 0, 220)


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


def _outline(canvas: np.ndarray, cells: np.ndarray, colour: tuple[int, int, int]) -> None:
    contours, _ = cv2.findContours(cells.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(canvas, contours, -1, colour, 1)


def draw_overlay(row: pd.Series, polarity: str | None, max_pixels: int = MAX_PIXELS) -> np.ndarray | None:
    """Thumbnail of one pair, or None when neither file can be decoded."""
    arrays = {}
    for role in ("image", "mask"):
        path = absolute_path(row, role)
        try:
            arrays[role] = read_image(path, max_pixels=max_pixels) if path is not None else None
        except ImageRefused:
            arrays[role] = None
    image, mask = arrays["image"], arrays["mask"]
    base = image if image is not None else mask
    if base is None:
        return None
    scale = THUMB_WIDTH / base.shape[1]
    size = (THUMB_WIDTH, max(1, round(base.shape[0] * scale)))
    canvas = cv2.resize(
        np.ascontiguousarray(base[..., :3])
        if base.ndim == 3
        else cv2.cvtColor(masks.to_gray(base), cv2.COLOR_GRAY2RGB),
        size,
        interpolation=cv2.INTER_AREA,
    )
    if image is not None:
        _outline(canvas, masks.image_cell_map(image[..., :3], scale), IMAGE_COLOUR)
    if mask is not None:
        cells = masks.cell_map(mask, polarity or "cells_low")
        small = cv2.resize(cells.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
        _outline(canvas, small, MASK_COLOUR)
    return canvas


def _thumbnails(document: dict, rows: pd.DataFrame, folder: Path, limit: int) -> list[tuple[str, str | None]]:
    by_id = rows.set_index("sample_id", drop=False)
    majority = document["dataset"].get("majority_polarity")
    # A foreign mask's own polarity guess is meaningless; draw it the dataset's way round.
    polarity = {
        s["sample_id"]: s.get("polarity") if s.get("polarity_reliable") else majority for s in document["samples"]
    }
    refused = {f["sample_id"] for f in document["findings"] if f["code"] in FILE_FINDINGS}
    max_pixels = document.get("config", {}).get("max_pixels", MAX_PIXELS)
    out = []
    for sid in _worst_samples(document, limit):
        if sid not in by_id.index:
            continue
        overlay = None if sid in refused else draw_overlay(by_id.loc[sid], polarity.get(sid) or majority, max_pixels)
        name = None
        if overlay is not None:
            folder.mkdir(parents=True, exist_ok=True)
            file_name = f"{safe_name(sid)}.png"  # ids come from data: never a path
            name = f"{folder.name}/{file_name}"
            write_png(folder / file_name, overlay)
        out.append((sid, name))
    return out


def _code_table(document: dict) -> list[str]:
    examples: dict[str, dict] = {}
    for f in document["findings"]:
        examples.setdefault(f["code"], f)
    lines = ["| severity | code | count | example | expected | found | fix |", "|---|---|---|---|---|---|---|"]
    for code, entry in document["by_code"].items():
        f = examples[code]
        cells = [
            md_text(entry["severity"]),
            md_code(code),
            str(entry["count"]),
            md_code(f["path"] or f["sample_id"] or "-"),
            md_text(f["expected"]),
            md_text(f["found"]),
            md_text(f["fix"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _source_name(document: dict) -> str:
    """The source folder's or manifest's name: summaries travel (inside a build), the local path stays in the JSON."""
    return Path(str(document["source"])).name


def _markdown(document: dict, thumbs: list[tuple[str, str | None]]) -> str:
    counts = document["counts"]
    lines = [
        f"# validate-masks: {md_text(_source_name(document))}",
        "",
        f"{document['n_samples']} samples; {counts['error']} errors, {counts['warning']} warnings, "
        f"{counts['info']} notes. Majority polarity: {md_text(document['dataset'].get('majority_polarity'))}; "
        f"mask encodings: {md_text(document['dataset'].get('encodings'))}.",
        "",
        "## Findings by code",
        "",
    ]
    lines += _code_table(document) if document["by_code"] else ["No findings."]
    if thumbs:
        lines += ["", "## Worst cases", "", "Green: the mask's cells. Magenta: cells seen in the image.", ""]
        for sid, name in thumbs:
            codes = sorted({f["code"] for f in document["findings"] if f["sample_id"] == sid})
            lines.append(f"### {md_text(sid)}: {md_text(', '.join(codes))}")
            lines += ["", f"![{md_text(sid)}]({quote(name)})" if name else "(no thumbnail: see the findings)", ""]
    return "\n".join(lines) + "\n"


def _html(document: dict, thumbs: list[tuple[str, str | None]]) -> str:
    counts = document["counts"]
    rows = "".join(
        f"<tr><td>{html_text(e['severity'])}</td><td><code>{html_text(code)}</code></td><td>{e['count']}</td></tr>"
        for code, e in document["by_code"].items()
    )
    figures = "".join(
        f"<figure><img src='{html_text(quote(name))}' alt='{html_text(sid)}'><figcaption>{html_text(sid)}: "
        + html_text(", ".join(sorted({f["code"] for f in document["findings"] if f["sample_id"] == sid})))
        + "</figcaption></figure>"
        for sid, name in thumbs
        if name
    )
    return (
        f"<!doctype html><meta charset='utf-8'><title>validate-masks</title>"
        f"<style>body{{font-family:sans-serif}}figure{{display:inline-block;margin:6px}}td{{padding:2px 8px}}</style>"
        f"<h1>validate-masks: {html_text(_source_name(document))}</h1>"
        f"<p>{document['n_samples']} samples; {counts['error']} errors, {counts['warning']} warnings, "
        f"{counts['info']} notes.</p><table><tr><th>severity</th><th>code</th><th>count</th></tr>{rows}</table>"
        f"<h2>Worst cases</h2><p>Green: the mask's cells. Magenta: cells seen in the image.</p>{figures}"
    )


def write_summaries(document: dict, rows: pd.DataFrame, report_path: Path, limit: int) -> tuple[Path, Path]:
    """Write ``<report>.md`` and ``<report>.html`` (and thumbnails) next to the JSON report."""
    folder = report_path.with_name(report_path.stem + "_thumbs")
    thumbs = _thumbnails(document, rows, folder, limit)
    markdown, page = report_path.with_suffix(".md"), report_path.with_suffix(".html")
    markdown.write_text(_markdown(document, thumbs), encoding="utf-8")
    page.write_text(_html(document, thumbs), encoding="utf-8")
    return markdown, page
