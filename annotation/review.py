"""A static HTML gallery for reviewing annotations quickly: contours over each image, worst agreement first.

``review`` writes ``OUT/index.html`` (no server, no script, no external file: inline CSS and relative links),
``OUT/overlays/<stem>.png`` (the image with contours, openable on its own), ``OUT/review.json`` and, with two
annotation sources, ``OUT/agreement.csv`` / ``agreement.json`` (see ``annotation.agree``). Contours: side A only
in azure, side B only in amber, where both sides draw the same boundary pixel in green; instance maps get one
contour per instance, so splits and merges show. The whole folder is written to a temporary name then renamed.

When a side is the output of ``annotate propose --model`` (it holds ``uncertainty/`` and ``ranking.csv``), each
card also shows that image's uncertainty map as a heat map (``OUT/uncertainty/<stem>.png``: dark = sure, bright =
unsure) beside the overlay, and with one side the cards follow ``ranking.csv``: least certain first, the order a
person should correct them in.
"""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import quote

import numpy as np

from annotation.agree import Annotation, ImageAgreement, compare, read_annotation
from rbc_dataset.errors import DataError
from rbc_dataset.fileio import write_json

SCHEMA_VERSION = 1
COLOURS = {"a": (0, 170, 255), "b": (255, 176, 0), "both": (40, 200, 40)}  # RGB: azure, amber, green
MAX_LISTED = 50  # names shown in the "not in the gallery" lists


@dataclass(frozen=True)
class ReviewEntry:
    """One gallery card."""

    stem: str  # image stem
    image: str  # image file
    overlay: str  # overlay PNG, relative to the output folder
    cells_a: int | None  # cells in A (instances or connected components); None when A has no annotation
    cells_b: int | None  # same for B
    agreement: ImageAgreement | None  # numbers when both sides annotate the image
    disagreement: float  # sort key: 1 - min(Dice, instance F1); 1 when only one side annotates the image
    uncertainty_map: str | None = None  # heat-map PNG, relative to the output folder (propose --model sides)
    uncertainty: float | None = None  # the image's score in ranking.csv


@dataclass(frozen=True)
class ReviewResult:
    """What the gallery holds."""

    out: Path  # the gallery folder
    index: Path  # out/index.html
    entries: tuple[ReviewEntry, ...]  # gallery order (worst first with two sources, by stem with one)
    images_without_annotation: tuple[str, ...]  # image stems no side annotates
    annotations_without_image: tuple[str, ...]  # annotation stems matching no image
    notes: tuple[str, ...] = field(default_factory=tuple)  # things the user should know


def boundaries(labels: np.ndarray) -> np.ndarray:
    """Inner boundary pixels of every labelled region (4-neighbour change of label, background excluded)."""
    edge = np.zeros(labels.shape, bool)
    vertical = labels[1:] != labels[:-1]
    horizontal = labels[:, 1:] != labels[:, :-1]
    edge[1:] |= vertical
    edge[:-1] |= vertical
    edge[:, 1:] |= horizontal
    edge[:, :-1] |= horizontal
    edge[[0, -1], :] = True  # regions touching the border are closed there
    edge[:, [0, -1]] = True
    return edge & (labels > 0)


def overlay(image: np.ndarray, a: Annotation | None, *, b: Annotation | None, max_size: int | None) -> np.ndarray:
    """The image (scaled so its longer side is at most ``max_size``) with the contours of A and B drawn on it."""
    import cv2

    h, w = image.shape[:2]
    factor = min(1.0, max_size / max(h, w)) if max_size else 1.0
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    canvas = cv2.resize(image, size, interpolation=cv2.INTER_AREA) if factor < 1 else image.copy()
    edges = {}
    for side, ann in (("a", a), ("b", b)):
        if ann is None:
            continue
        labels = ann.instances if ann.instances is not None else ann.cells.astype(np.uint8)
        if labels.dtype.itemsize > 2:
            labels = labels.astype(np.float32)  # cv2.resize takes no 32/64-bit integers; exact up to 2**24 labels
        if factor < 1:
            labels = cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST)
        edges[side] = boundaries(labels)
    if "a" in edges and "b" in edges:
        both = edges["a"] & edges["b"]
        canvas[edges["a"] & ~both] = COLOURS["a"]
        canvas[edges["b"] & ~both] = COLOURS["b"]
        canvas[both] = COLOURS["both"]
    else:
        for side, edge in edges.items():
            canvas[edge] = COLOURS[side]
    return canvas


@dataclass(frozen=True)
class Uncertainty:
    """What an ``annotate propose --model`` folder says about its images' uncertainty."""

    maps: Path  # the folder of 8-bit uncertainty maps <stem>.png
    scores: dict[str, float]  # stem -> uncertainty score, from ranking.csv


def uncertainty_of(folder: Path | None) -> Uncertainty | None:
    """The uncertainty maps and scores of a side, when it is a ``propose --model`` output folder."""
    import pandas as pd

    if folder is None or not (Path(folder) / "uncertainty").is_dir() or not (Path(folder) / "ranking.csv").is_file():
        return None
    ranking = pd.read_csv(Path(folder) / "ranking.csv")
    if not {"stem", "uncertainty"} <= set(ranking.columns):
        raise DataError(
            Path(folder) / "ranking.csv",
            "the ranking `annotate propose --model` writes (stem, uncertainty, ...)",
            f"columns {', '.join(map(str, ranking.columns))}",
            "pass the folder propose --model wrote, unchanged",
        )
    scores = dict(zip(ranking["stem"].astype(str), ranking["uncertainty"].astype(float), strict=True))
    return Uncertainty(Path(folder) / "uncertainty", scores)


def heat_map(uncertainty_png: Path, *, size: tuple[int, int]) -> np.ndarray:
    """An 8-bit uncertainty map as an RGB heat map (inferno: black = sure, yellow = p 0.5) of ``size`` (w, h)."""
    import cv2

    from rbc_dataset.fileio import read_image

    gray = read_image(uncertainty_png)
    gray = gray if gray.ndim == 2 else gray[..., 0]
    if (gray.shape[1], gray.shape[0]) != size:
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(cv2.applyColorMap(gray, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)


def _render(task: tuple) -> ReviewEntry:
    """Read one image and its annotations, write its overlay, return its card (runs in a worker)."""
    from annotation.images import load_rgb
    from rbc_dataset.fileio import write_png

    stem, image_path, path_a, path_b, out_png, max_size, threshold, two_sides, uncertainty = task
    image = load_rgb(Path(image_path))
    anns = [read_annotation(p) if p is not None else None for p in (path_a, path_b)]
    for ann in anns:
        if ann is not None and ann.cells.shape != image.shape[:2]:
            (h, w), (mh, mw) = image.shape[:2], ann.cells.shape
            raise DataError(
                ann.path,
                f"the size of its image {image_path} ({w}x{h})",
                f"{mw}x{mh}",
                "pair masks with the images they were drawn on",
            )
    a, b = anns
    drawn = overlay(image, a, b=b, max_size=max_size)
    write_png(Path(out_png), drawn)
    heat, score = None, None
    if uncertainty is not None and (uncertainty.maps / f"{stem}.png").is_file():
        heat = f"uncertainty/{Path(out_png).name}"
        target = Path(out_png).parent.parent / heat
        target.parent.mkdir(exist_ok=True)
        write_png(target, heat_map(uncertainty.maps / f"{stem}.png", size=(drawn.shape[1], drawn.shape[0])))
        score = uncertainty.scores.get(stem)
    agreement = compare(a, b, stem=stem, threshold=threshold) if a is not None and b is not None else None
    if agreement is not None:
        cells_a, cells_b = agreement.cells_a, agreement.cells_b
    else:
        cells_a, cells_b = (ann.n_cells if ann is not None else None for ann in anns)
    disagreement = agreement.disagreement if agreement is not None else (1.0 if two_sides else 0.0)
    relative = f"overlays/{Path(out_png).name}"
    return ReviewEntry(
        stem,
        str(image_path),
        overlay=relative,
        cells_a=cells_a,
        cells_b=cells_b,
        agreement=agreement,
        disagreement=disagreement,
        uncertainty_map=heat,
        uncertainty=score,
    )


def review(
    images: Path,
    a_dir: Path,
    *,
    b_dir: Path | None = None,
    out: Path = Path("review"),
    overwrite: bool = False,
    max_size: int | None = 1600,
    threshold: float = 0.5,
    workers: int = 1,
    show_progress: bool = False,
) -> ReviewResult:
    """Write the review gallery (see the module docstring).

    Args:
        images: image folder or manifest (``annotation.images.list_images``); stems pair images with masks.
        a_dir: masks or instance maps of side A (``<stem>.png``).
        b_dir: optional side B (a second annotator, or a proposal); enables agreement numbers and sorting.
        out: gallery folder (new or empty unless ``overwrite``).
        overwrite: replace an existing ``out``.
        max_size: longest side of the overlay PNGs in pixels (None or 0: full size).
        threshold: IoU at which two instances match.
        workers: processes (1 = this process; 0/None = all cores).
        show_progress: draw a progress bar.

    Raises:
        DataError: no image annotated, an unreadable file, a mask not the size of its image.
        UsageError: ``out`` exists without ``overwrite``, or lies inside an input folder.
    """
    from annotation.agree import list_annotations
    from annotation.images import list_images
    from rbc_dataset.fileio import atomic_directory, check_output_outside

    inputs = [Path(images), Path(a_dir)] + ([Path(b_dir)] if b_dir is not None else [])
    check_output_outside(Path(out), [p for p in inputs if p.is_dir()])
    items = {item.stem: item for item in list_images(Path(images))}
    files_a = list_annotations(a_dir)
    files_b = list_annotations(b_dir) if b_dir is not None else {}
    annotated = sorted((set(files_a) | set(files_b)) & set(items))
    if not annotated:
        raise DataError(a_dir, "masks named after the images (<image stem>.png)", "none matching", "check the folders")
    uncertainty = uncertainty_of(a_dir) or uncertainty_of(b_dir)
    without = tuple(sorted(set(items) - set(files_a) - set(files_b)))
    orphans = tuple(sorted((set(files_a) | set(files_b)) - set(items)))
    with atomic_directory(Path(out), overwrite) as tmp:
        (tmp / "overlays").mkdir()
        tasks = [
            (
                s,
                items[s].path,
                files_a.get(s),
                files_b.get(s) if b_dir is not None else None,
                tmp / "overlays" / f"{s}.png",
                max_size,
                threshold,
                b_dir is not None,
                uncertainty,
            )
            for s in annotated
        ]
        entries = _render_all(tasks, workers, show_progress, two_sides=b_dir is not None)
        result = ReviewResult(
            Path(out),
            Path(out) / "index.html",
            entries=tuple(entries),
            images_without_annotation=without,
            annotations_without_image=orphans,
        )
        _write_tables(tmp, result, a_dir=Path(a_dir), b_dir=b_dir, threshold=threshold)
        (tmp / "index.html").write_text(render_html(result, Path(a_dir), b_dir=b_dir), encoding="utf-8")
    return result


def _render_all(tasks: list[tuple], workers: int, show_progress: bool, two_sides: bool) -> list[ReviewEntry]:
    from rbc_dataset.parallel import bounded_map, worker_count
    from rbc_dataset.progress import track

    entries = list(
        track(
            bounded_map(_render, tasks, workers=worker_count(workers)),
            len(tasks),
            description="overlays",
            show=show_progress,
        )
    )
    if two_sides:
        return sorted(entries, key=lambda e: (-e.disagreement, e.stem))
    if any(e.uncertainty is not None for e in entries):  # ranking.csv's order: least certain first
        return sorted(entries, key=lambda e: (-(e.uncertainty if e.uncertainty is not None else -1.0), e.stem))
    return sorted(entries, key=lambda e: e.stem)


def _write_tables(folder: Path, result: ReviewResult, *, a_dir: Path, b_dir: Path | None, threshold: float) -> None:
    from annotation.agree import AgreementResult, summarise, write_agreement

    rows = [e.agreement for e in result.entries if e.agreement is not None]
    if b_dir is not None:
        stems_a = {e.stem for e in result.entries if e.cells_a is not None}
        stems_b = {e.stem for e in result.entries if e.cells_b is not None}
        agreement = AgreementResult(
            tuple(rows),
            tuple(sorted(stems_a - stems_b)),
            only_b=tuple(sorted(stems_b - stems_a)),
            summary=summarise(rows),
            a_dir=a_dir,
            b_dir=Path(b_dir),
            out_dir=folder,
            iou_threshold=threshold,
        )
        write_agreement(agreement, folder)
    record = {
        "schema_version": SCHEMA_VERSION,
        "a": str(a_dir),
        "b": None if b_dir is None else str(b_dir),
        "entries": [
            {**asdict(e), "agreement": None if e.agreement is None else asdict(e.agreement)} for e in result.entries
        ],
        "images_without_annotation": list(result.images_without_annotation),
        "annotations_without_image": list(result.annotations_without_image),
    }
    write_json(folder / "review.json", record, indent=2)


CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;background:#fafafa;color:#222}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:1em}
figure{margin:0;background:#fff;border:1px solid #ddd;border-radius:6px;padding:.5em}
figure img{width:100%;height:auto;display:block}
figcaption{font-size:.9em;margin-top:.4em}
.key{display:inline-block;width:1em;height:.6em;margin:0 .3em 0 .8em;border-radius:2px}
.bad{color:#b00020;font-weight:600}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:.3em}
"""


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _caption(rank: int, entry: ReviewEntry, two_sides: bool) -> str:
    parts = [f"<b>{rank}. {html.escape(entry.stem)}</b>"]
    agreement = entry.agreement
    if agreement is not None:
        flag = ' class="bad"' if agreement.dice < 0.8 or (agreement.instance_f1 or 1) < 0.8 else ""
        parts.append(f"<span{flag}>Dice {_fmt(agreement.dice)} · IoU {_fmt(agreement.iou)}")
        parts.append(f"instance F1 {_fmt(agreement.instance_f1)}</span>")
    elif two_sides:
        parts.append('<span class="bad">annotated by one side only</span>')
    if entry.uncertainty is not None:
        parts.append(f"uncertainty {_fmt(entry.uncertainty)}")
    counts = f"cells A {entry.cells_a if entry.cells_a is not None else '–'}"
    if two_sides:
        counts += f" · B {entry.cells_b if entry.cells_b is not None else '–'}"
    parts.append(counts)
    return " · ".join(parts)


def _listing(title: str, names: tuple[str, ...]) -> str:
    if not names:
        return ""
    shown = ", ".join(html.escape(n) for n in names[:MAX_LISTED])
    more = f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
    return f"<p><b>{html.escape(title)} ({len(names)}):</b> {shown}{more}</p>\n"


def _header(result: ReviewResult, a_dir: Path, b_dir: Path | None) -> str:
    key = lambda side: f'<span class="key" style="background:rgb{COLOURS[side]}"></span>'  # noqa: E731
    legend = f"{key('a')}A: {html.escape(str(a_dir))}"
    order = "sorted by name"
    if any(e.uncertainty_map for e in result.entries):
        order = "least certain first (the model's expected share of wrong cell pixels); right: uncertainty map"
    if b_dir is not None:
        legend += f"{key('b')}B: {html.escape(str(b_dir))}{key('both')}both"
        order = "sorted by disagreement, worst first (1 − min(Dice, instance F1))"
        rows = [e.agreement for e in result.entries if e.agreement is not None]
        if rows:
            dice = np.mean([r.dice for r in rows])
            order += f"; mean cell Dice {dice:.3f} over {len(rows)} images"
    return f"<h1>Annotation review</h1>\n<p>{legend}</p>\n<p>{len(result.entries)} images, {order}.</p>\n"


def _picture(relative: str, *, alt: str) -> str:
    src = html.escape(quote(relative))
    return f'<a href="{src}"><img src="{src}" loading="lazy" alt="{html.escape(alt)}"></a>'


def render_html(result: ReviewResult, a_dir: Path, *, b_dir: Path | None) -> str:
    """The gallery page: a header with the legend, one card per image, then what was left out."""
    cards = []
    for rank, entry in enumerate(result.entries, start=1):
        pictures = _picture(entry.overlay, alt=entry.stem)
        if entry.uncertainty_map:
            pictures = (
                f'<div class="pair">{pictures}{_picture(entry.uncertainty_map, alt=entry.stem + " uncertainty")}</div>'
            )
        cards.append(
            f'<figure id="{html.escape(entry.stem)}">{pictures}<figcaption>{_caption(rank, entry, b_dir is not None)}'
            "</figcaption></figure>"
        )
    tail = _listing("Images without any annotation", result.images_without_annotation)
    tail += _listing("Annotations without an image", result.annotations_without_image)
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Annotation review</title>'
        f"<style>{CSS}</style></head><body>\n{_header(result, a_dir, b_dir)}"
        f'<div class="grid">\n' + "\n".join(cards) + f"\n</div>\n{tail}</body></html>\n"
    )
