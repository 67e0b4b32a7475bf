"""Measure how realistic a synthetic AneRBC-I-style dataset is, side by side with real AneRBC-I images.

The same per-image statistics are computed on real image/mask pairs and on synthetic ones, summarised as
min / max / median per side, printed as a table and (optionally) written to JSON with every per-image row.

Run::

    rbc-bench realism --real ../shared/realdata/AneRBC-I --synthetic DIR [--max-images 20] [--json OUT.json]
        [--no-cells] [--no-c2st] [--no-cnn] [--crops-per-image 12] [--epochs 8] [--seed 0]

After the image statistics, per-cell appearance (``benchmarks.toolkit.realism_cells``): radial optical
density profiles, pallor, size and shape of isolated single cells, per class, real vs synthetic, with the
Kolmogorov-Smirnov distance and the same "inside the real range" verdict on each image's median.

After the statistics, a classifier two-sample test (``benchmarks.toolkit.realism_c2st``) asks whether a
classifier tells real crops from synthetic ones: ROC AUC with a 95 % interval over images, 0.5 =
indistinguishable, for hand-made features (all crops, per class, per single cell) and a small CNN.

Both folders are searched recursively for ``**/Original_images/NNN_{a,h}.png`` with the mask of the same name in
the sibling ``Binary_segmented`` folder. AneRBC-II tiles (``NNNN_SS_a.png``) and anything under a
``synthetic_truth`` folder are ignored.

Masks are binarised into a cell mask first. Real masks are RGB with a white background and dark (textured)
cells; synthetic masks may instead be clean 0/255 masks with cell = 255. The polarity is therefore decided per
mask: the mask is split at gray 128 and the side whose pixels are darker *in the image* is the cell side,
because cells are darker than background in a bright-field smear.

Statistics (one value per image; all computed the same way on both sides):

- ``width``, ``height``: image size in pixels.
- ``fg_fraction``: cell pixels / all pixels of the binarised mask.
- ``n_components``: 8-connected cell components of at least 20 px (a naive cell count).
- ``n_cells_est``: area of those components / median area of single-cell components (counts merged blobs).
- ``cell_diameter_px``: median equivalent diameter sqrt(4 A / pi) of single-cell components.
- ``merged_area_share``: share of cell area in blobs larger than 1.8x the single-cell median (touching cells).
- ``bg_r/g/b``: median RGB of background pixels, background eroded by 3 px (away from cell edges).
- ``cell_r/g/b``: median RGB of cell pixels, cells eroded by 2 px.
- ``od_r/g/b``: cell optical density per channel, -ln(cell / background) of the medians above.
- ``contrast_gray``: median background gray minus median cell gray (the same eroded regions).
- ``central_pallor``: per single cell, mean gray of the inner disk (distance to edge > 0.6 of the maximum)
  minus mean gray of the ring (0.2 to 0.5 of the maximum); median over cells, positive = pale centre.
- ``central_pallor_rel``: ``central_pallor`` / ``contrast_gray`` (independent of stain intensity).
- ``illum_nonuniformity``: (p95 - p5) / median of the background gray field (32 px block medians of
  background pixels, gaps filled from the nearest block, Gaussian-smoothed by 2 blocks).
- ``edge_sharpness``: mean gradient magnitude (gray levels / px) on the 2 px band at mask edges divided by
  ``contrast_gray``; about 0.5 for a perfect step, lower when blurred.
- ``laplacian_var``: variance of the 3x3 Laplacian of the gray image (classic focus measure).
- ``noise_std``: std of gray - GaussianBlur(gray, sigma 2) in background eroded by 6 px.
- ``noise_mad``: the same residual's robust std (1.4826 x MAD), insensitive to dust and platelets.
- ``image_dark_specks``: 8-connected image components of 4..60 px whose green channel is darker than the cell
  median green by at least half the background-to-cell green contrast (platelets, stain debris).
- ``mask_specks``: cell components under 20 px in the binarised mask.
- ``mask_holes``: 4-connected background components under 60 px not touching the image border.
- ``mask_distinct_values``: distinct gray values in the raw mask (2 for a clean mask, dozens for real ones).
- ``mask_ambiguous_fraction``: share of pixels binarised as background whose raw mask value is not the pure
  background value (255 for dark-cell masks, 0 for bright-cell masks); in real masks the 128..254 band.
- ``mask_cell_median_red``: median raw red (or single-channel) mask value of cell pixels; in real masks this
  value differs by class, a known label leak.
"""

from __future__ import annotations

import math
import re
import shlex
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks.toolkit.realism_c2st import DEFAULT_SETTINGS, C2stSettings, c2st_report, c2st_table
from benchmarks.toolkit.realism_cells_report import (
    cells_section,
    cells_table,
    per_image_rows,
    profile_table,
    timed_cells,
)
from benchmarks.toolkit.realism_sheet import write_crop_sheet
from benchmarks.toolkit.realism_stats import binarise_mask, measure_pair
from rbc_dataset.errors import DataError, UsageError
from rbc_dataset.fileio import check_output_outside, write_json

__all__ = ["binarise_mask", "compare", "find_pairs", "measure_pair", "run_realism", "summarise"]

IMAGE_NAME = re.compile(r"^(\d{3})_([ah])$")  # AneRBC-I only; AneRBC-II tiles are NNNN_SS_a
IGNORED_DIR = "synthetic_truth"

# Table order and labels; keys not listed here are still kept in the JSON rows.
STAT_LABELS: dict[str, str] = {
    "width": "width (px)",
    "height": "height (px)",
    "fg_fraction": "foreground fraction",
    "n_components": "cell components >= 20 px",
    "n_cells_est": "cell count (area / single-cell area)",
    "cell_diameter_px": "median cell diameter (px)",
    "merged_area_share": "cell area in merged blobs",
    "bg_r": "background R",
    "bg_g": "background G",
    "bg_b": "background B",
    "cell_r": "cell R",
    "cell_g": "cell G",
    "cell_b": "cell B",
    "od_r": "cell optical density R",
    "od_g": "cell optical density G",
    "od_b": "cell optical density B",
    "contrast_gray": "bg - cell gray contrast",
    "central_pallor": "central pallor (gray)",
    "central_pallor_rel": "central pallor / contrast",
    "illum_nonuniformity": "illumination (p95-p5)/median",
    "edge_sharpness": "edge gradient / contrast (1/px)",
    "laplacian_var": "Laplacian variance",
    "noise_std": "noise std (gray)",
    "noise_mad": "noise robust std (gray)",
    "image_dark_specks": "dark specks in image (4-60 px)",
    "mask_specks": "mask specks (< 20 px)",
    "mask_holes": "mask holes (< 60 px)",
    "mask_distinct_values": "mask distinct gray values",
    "mask_ambiguous_fraction": "mask non-pure background share",
    "mask_cell_median_red": "mask cell median red",
}


# ---------------------------------------------------------------------------------------------------------------
# Discovery
# ---------------------------------------------------------------------------------------------------------------


def _mask_for(image_path: Path) -> Path | None:
    """Return the mask with the image's name in the sibling ``Binary_segmented`` folder, if any.

    Args:
        image_path: ``.../Original_images/NNN_x.png``.

    Returns:
        The mask path, or None when no such file exists.
    """
    class_dir = image_path.parent.parent
    # Released variants differ in capitalisation (Binary_Segmented), so match case-insensitively.
    for sibling in sorted(class_dir.iterdir()):
        if sibling.is_dir() and sibling.name.lower() == "binary_segmented":
            candidate = sibling / image_path.name
            if candidate.is_file():
                return candidate
    return None


def _pair_sort_key(image_path: Path) -> tuple[int, str, str]:
    """Sort by number first so that a truncated selection alternates anaemic and healthy images."""
    match = IMAGE_NAME.match(image_path.stem)
    assert match is not None
    return int(match.group(1)), match.group(2), str(image_path)


def find_pairs(root: Path) -> list[tuple[Path, Path]]:
    """Find AneRBC-I image/mask pairs anywhere under ``root``.

    Args:
        root: Folder to search recursively.

    Returns:
        (image, mask) pairs sorted by (number, class), images without a mask left out.
    """
    images = []
    for path in root.rglob("*.png"):
        rel_parts = path.relative_to(root).parts
        if IGNORED_DIR in rel_parts or path.parent.name.lower() != "original_images":
            continue
        if IMAGE_NAME.match(path.stem):
            images.append(path)
    pairs = []
    for image in sorted(images, key=_pair_sort_key):
        mask = _mask_for(image)
        if mask is not None:
            pairs.append((image, mask))
    return pairs


# ---------------------------------------------------------------------------------------------------------------
# Summary and comparison
# ---------------------------------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    """True for finite ints/floats (bools excluded)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _numeric_keys(rows: Iterable[dict[str, Any]]) -> list[str]:
    """Numeric statistic keys in table order, then any extra keys in first-seen order."""
    seen: dict[str, None] = {}
    for row in rows:
        for key, value in row.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                seen.setdefault(key, None)
    ordered = [key for key in STAT_LABELS if key in seen]
    return ordered + [key for key in seen if key not in STAT_LABELS]


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Summarise per-image rows as min / max / median / mean per statistic.

    Args:
        rows: Rows from :func:`measure_pair`.

    Returns:
        ``{"n_images", "mask_styles": {style: count}, "stats": {key: {n, min, max, median, mean}}}``; non-finite
        values are skipped, and a statistic with no finite value has ``n = 0`` and None elsewhere.
    """
    stats: dict[str, dict[str, Any]] = {}
    for key in _numeric_keys(rows):
        values = np.array([row[key] for row in rows if _is_number(row.get(key))], dtype=np.float64)
        if values.size == 0:
            stats[key] = {"n": 0, "min": None, "max": None, "median": None, "mean": None}
            continue
        stats[key] = {
            "n": int(values.size),
            "min": float(values.min()),
            "max": float(values.max()),
            "median": float(np.median(values)),
            "mean": float(values.mean()),
        }
    styles = Counter(str(row.get("mask_style")) for row in rows)
    return {"n_images": len(rows), "mask_styles": dict(styles), "stats": stats}


def compare(real: dict[str, Any], synthetic: dict[str, Any], *, synthetic_rows: Sequence[dict[str, Any]]) -> dict:
    """Judge each synthetic statistic against the real range.

    Args:
        real: :func:`summarise` of the real rows.
        synthetic: :func:`summarise` of the synthetic rows.
        synthetic_rows: The synthetic rows (for the share of images inside the real range).

    Returns:
        ``{key: {"verdict", "share_in_range"}}`` where verdict is ``yes`` (every synthetic image inside the
        real min..max), ``median`` (only the synthetic median inside), ``no`` or ``n/a``.
    """
    out: dict[str, dict[str, Any]] = {}
    for key, real_stat in real["stats"].items():
        synth_stat = synthetic["stats"].get(key)
        if not synth_stat or real_stat["n"] == 0 or synth_stat["n"] == 0:
            out[key] = {"verdict": "n/a", "share_in_range": None}
            continue
        low, high = real_stat["min"], real_stat["max"]
        values = [row[key] for row in synthetic_rows if _is_number(row.get(key))]
        share = sum(low <= v <= high for v in values) / len(values)
        if share == 1.0:
            verdict = "yes"
        elif low <= synth_stat["median"] <= high:
            verdict = "median"
        else:
            verdict = "no"
        out[key] = {"verdict": verdict, "share_in_range": share}
    return out


# ---------------------------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------------------------


def _fmt(value: float | None) -> str:
    """Four significant digits, plain notation for the magnitudes seen here."""
    if value is None:
        return "-"
    return f"{value:.4g}"


def _range_cell(stat: dict[str, Any] | None) -> str:
    """``min–max (median)`` for one side."""
    if not stat or stat["n"] == 0:
        return "-"
    return f"{_fmt(stat['min'])}–{_fmt(stat['max'])} ({_fmt(stat['median'])})"


def build_table(real: dict[str, Any], synthetic: dict[str, Any], *, verdicts: dict[str, Any]) -> Table:
    """Build the side-by-side rich table.

    Args:
        real: :func:`summarise` of the real rows.
        synthetic: :func:`summarise` of the synthetic rows.
        verdicts: :func:`compare` output.

    Returns:
        A table with one row per statistic.
    """
    title = f"Synthetic realism: {real['n_images']} real vs {synthetic['n_images']} synthetic images"
    table = Table(title=title)
    table.add_column("statistic")
    table.add_column("real min–max (median)", justify="right")
    table.add_column("synthetic min–max (median)", justify="right")
    table.add_column("synthetic within real range?", justify="center")
    colours = {"yes": "green", "median": "yellow", "no": "red", "n/a": "dim"}
    for key, verdict in verdicts.items():
        label = STAT_LABELS.get(key, key)
        word = verdict["verdict"]
        share = verdict["share_in_range"]
        text = word if share is None else f"{word} ({share:.0%})"
        table.add_row(
            label,
            _range_cell(real["stats"].get(key)),
            _range_cell(synthetic["stats"].get(key)),
            f"[{colours[word]}]{text}[/]",
        )
    return table


def _json_safe(value: Any) -> Any:
    """Replace NaN/inf by None recursively, because strict JSON has no NaN."""
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ---------------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------------


def _relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when possible, so that the JSON does not depend on the checkout."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def measure_folder(root: Path, max_images: int, *, console: Console) -> tuple[list[dict[str, Any]], list[dict]]:
    """Measure up to ``max_images`` pairs under ``root``.

    Args:
        root: Dataset folder.
        max_images: Maximum number of pairs (taken in (number, class) order, so classes alternate).
        console: Where progress and errors are printed.

    Returns:
        (rows, errors) where each error names the image and the reason it was skipped.
    """
    pairs = find_pairs(root)[:max_images]
    rows, errors = [], []
    start = time.perf_counter()
    for image, mask in pairs:
        try:
            row = measure_pair(image, mask)
        except (ValueError, cv2.error) as exc:
            errors.append({"image": _relative(image, root), "error": str(exc)})
            console.print(f"[red]skipped {image}: {exc}[/]")
            continue
        row["image"], row["mask"] = _relative(image, root), _relative(mask, root)
        rows.append(row)
    console.print(f"measured {len(rows)} pairs under {root} in {time.perf_counter() - start:.1f} s")
    return rows, errors


def _check_sides(real_rows: list, synth_rows: list, real: Path, synthetic: Path) -> None:
    """Refuse a comparison with no measurable pair on one side, naming that folder."""
    for rows, folder in ((real_rows, real), (synth_rows, synthetic)):
        if not rows:
            raise DataError(
                folder,
                "AneRBC-I image/mask pairs (**/Original_images/NNN_a.png with Binary_segmented/NNN_a.png)",
                "no measurable pair",
                "point --real and --synthetic at folders holding AneRBC-I pairs (rbc-dataset synth writes some)",
            )


def _cells_report(real_pairs: list, synthetic_pairs: list, *, console: Console) -> dict[str, Any]:
    """The ``cells`` section: per-class summaries, KS distances and, per measure, ``compare``'s range verdict."""
    real_cells, synth_cells, info = timed_cells(real_pairs, synthetic_pairs)
    section = cells_section(real_cells, synth_cells)
    for entry, letter in zip(section["classes"].values(), section["letters"], strict=True):
        real_rows = per_image_rows(real_cells[real_cells["klass"] == letter])
        synth_rows = per_image_rows(synth_cells[synth_cells["klass"] == letter])
        verdicts = compare(summarise(real_rows), summarise(synth_rows), synthetic_rows=synth_rows)
        for key, verdict in verdicts.items():
            entry["comparison"][key].update(verdict)
    section.pop("letters")
    section.update(info)
    console.print(cells_table(section))
    console.print(profile_table(section))
    console.print(f"per-cell measures took {info['seconds']:.1f} s")
    return section


def _c2st_options(settings: C2stSettings | None) -> list[str]:
    """The command-line words that reproduce the two-sample test's settings."""
    if settings is None:
        return ["--no-c2st"]
    words = [] if settings.cnn else ["--no-cnn"]
    words += ["--crops-per-image", str(settings.crops_per_image), "--seed", str(settings.seed)]
    return words + (["--epochs", str(settings.cnn_epochs)] if settings.cnn else [])


def run_realism(
    real: Path,
    synthetic: Path,
    *,
    json_out: Path | None = None,
    max_images: int = 20,
    c2st: C2stSettings | None = DEFAULT_SETTINGS,
    cells: bool = True,
    sheet: Path | None = None,
) -> dict:
    """Compare real and synthetic AneRBC-I pairs, print the tables and optionally write JSON.

    Args:
        real: Folder with real AneRBC-I pairs (searched recursively).
        synthetic: Folder with synthetic pairs (any depth).
        json_out: Where to write the summary and every per-image row (None: print only).
        max_images: Pairs measured per side, at least 1.
        c2st: Settings of the classifier two-sample test on the same pairs; None leaves it out.
        cells: Measure per-cell appearance (radial profiles, pallor, size and shape) on both sides.
        sheet: Also write side-by-side crops (real and synthetic, per class) to this JPEG; it may not lie in
            either input folder.

    Returns:
        The report written to ``json_out``: summaries, verdicts, per-image rows and skipped images.

    Raises:
        UsageError: ``max_images`` is below 1, or a two-sample setting is out of range.
        DataError: a side has no measurable pair.
    """
    if max_images < 1:
        raise UsageError(f"--max-images must be at least 1, got {max_images}")
    if c2st is not None:
        c2st.check()
    real, synthetic = Path(real), Path(synthetic)
    if sheet is not None:
        check_output_outside(Path(sheet), [real, synthetic])  # a file in the real folder would change the input
    # Piped output defaults to 80 columns, which wraps every row of the table.
    console = Console() if sys.stdout.isatty() else Console(width=140)
    real_rows, real_errors = measure_folder(real, max_images, console=console)
    synth_rows, synth_errors = measure_folder(synthetic, max_images, console=console)
    _check_sides(real_rows, synth_rows, real, synthetic)
    real_summary, synthetic_summary = summarise(real_rows), summarise(synth_rows)
    verdicts = compare(real_summary, synthetic_summary, synthetic_rows=synth_rows)
    console.print(build_table(real_summary, synthetic_summary, verdicts=verdicts))
    console.print(f"mask styles: real {real_summary['mask_styles']}, synthetic {synthetic_summary['mask_styles']}")
    command = ["rbc-bench", "realism", "--real", str(real), "--synthetic", str(synthetic)]
    command += [] if json_out is None else ["--json", str(json_out)]
    command += ["--max-images", str(max_images), *([] if cells else ["--no-cells"]), *_c2st_options(c2st)]
    command += [] if sheet is None else ["--sheet", str(sheet)]
    real_pairs, synthetic_pairs = find_pairs(real)[:max_images], find_pairs(synthetic)[:max_images]
    if sheet is not None:
        console.print(f"wrote {write_crop_sheet(real_pairs, synthetic_pairs, out=Path(sheet))}")
    cell_section = _cells_report(real_pairs, synthetic_pairs, console=console) if cells else None
    two_sample = None
    if c2st is not None:
        two_sample = c2st_report(real_pairs, synthetic_pairs, settings=c2st)
        console.print(c2st_table(two_sample))
        console.print(f"two-sample tests took {two_sample['seconds']:.0f} s")
    report = {
        "command": shlex.join(command),
        "real_dir": str(real.resolve()),
        "synthetic_dir": str(synthetic.resolve()),
        "max_images": max_images,
        "n_real": len(real_rows),
        "n_synthetic": len(synth_rows),
        "statistics": STAT_LABELS,
        "summary": {"real": real_summary, "synthetic": synthetic_summary},
        "comparison": verdicts,
        "errors": {"real": real_errors, "synthetic": synth_errors},
        "rows": {"real": real_rows, "synthetic": synth_rows},
        "cells": cell_section,
        "c2st": two_sample,
    }
    if json_out is not None:
        json_out = Path(json_out)
        json_out.parent.mkdir(parents=True, exist_ok=True)
        write_json(json_out, _json_safe(report), indent=2)
        console.print(f"wrote {json_out}")
    return report
