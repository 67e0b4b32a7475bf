"""The ``cells`` section of ``rbc-bench realism``: per-cell appearance of real vs synthetic cells, per class.

Every isolated single cell of every image is measured with ``benchmarks.toolkit.realism_cells.measure_cells``.
Per side and class: the median radial OD profile with its interquartile range (absolute, and relative to each
cell's rim OD), the median and IQR of each size, shape and pallor measure, and the share of ring cells and
ghosts. Real vs synthetic per class: the two-sample Kolmogorov-Smirnov statistic D over cells (0 = the same
distribution, 1 = disjoint; its p-value treats cells as independent, which cells of one image are not, so read
D rather than p), and, as for the image statistics, whether each synthetic image's median (or share) lies
inside the range of the real images' medians (``realism.compare``'s verdict, computed by the caller).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
from rich.table import Table
from scipy.stats import ks_2samp

from benchmarks.toolkit.realism_cells import (
    GHOST_SHARE,
    PROFILE_COLUMNS,
    RING_CENTRES,
    RING_DEPTH,
    RING_WIDTH,
    measure_cells,
)
from benchmarks.toolkit.realism_stats import CLASS_NAMES, pair_class
from rbc_dataset.errors import DataError
from rbc_dataset.fileio import read_image

MEASURES: dict[str, str] = {
    "eq_diameter_px": "equivalent diameter (px)",
    "aspect_ratio": "aspect ratio (major / minor)",
    "solidity": "solidity",
    "roundness": "roundness 4A / (pi Feret^2)",
    "od_mean": "mean OD (green, log10)",
    "centre_od": "centre OD (rho < 0.3)",
    "rim_od": "rim OD (densest ring 0.4-1.0)",
    "rim_centre_ratio": "rim / centre OD",
    "pallor_depth": "pallor depth 1 - centre / rim",
    "pallor_width": "pallor width (rho at half depth)",
}
SHARES: dict[str, str] = {
    "ring_cell": f"ring-cell share (depth>={RING_DEPTH}, width>{RING_WIDTH})",
    "ghost": f"ghost share (OD < {GHOST_SHARE} x median)",
}


def measure_cell_pairs(pairs: Sequence[tuple[Path, Path]]) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """Measure the isolated cells of every (image, mask) pair; an unreadable pair is an error row.

    Args:
        pairs: From ``realism.find_pairs``; the file stem ends in ``_a`` or ``_h``.

    Returns:
        (cells, errors): one row per cell with ``image`` (``<class folder>/<stem>``) and ``klass`` added.
    """
    tables, errors = [], []
    for image_path, mask_path in pairs:
        try:
            image, mask = read_image(image_path), read_image(mask_path)
            rgb = image[..., :3] if image.ndim == 3 else image
            table = measure_cells(rgb if rgb.dtype == np.uint8 else (rgb // 257).astype(np.uint8), mask)
        except (ValueError, cv2.error, DataError) as exc:  # a DataError names the mask's size and the fix
            errors.append({"image": str(image_path), "error": str(exc)})
            continue
        if table.empty:
            continue
        table.insert(0, "image", f"{image_path.parent.parent.name}/{image_path.stem}")
        table.insert(1, "klass", pair_class(image_path))
        tables.append(table)
    cells = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=["image", "klass"])
    return cells, errors


def _quartiles(values: pd.Series) -> dict[str, float | None]:
    """Median and interquartile range of the finite values (None without any)."""
    finite = values.to_numpy(np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return {"median": None, "p25": None, "p75": None}
    p25, median, p75 = np.percentile(finite, [25, 50, 75])
    return {"median": float(median), "p25": float(p25), "p75": float(p75)}


def _profile(cells: pd.DataFrame) -> dict[str, list]:
    """Median and IQR over cells of each ring's OD, absolute and relative to the cell's rim OD."""
    absolute = cells[list(PROFILE_COLUMNS)].astype(np.float64)
    relative = absolute.div(cells["rim_od"].astype(np.float64).where(lambda rim: rim > 0), axis=0)
    out: dict[str, list] = {"rho": [round(float(r), 2) for r in RING_CENTRES]}
    for name, table in (("od", absolute), ("relative", relative)):
        stats = [_quartiles(table[column]) for column in PROFILE_COLUMNS]
        for key in ("median", "p25", "p75"):
            out[f"{name}_{key}"] = [stat[key] for stat in stats]
    return out


def side_summary(cells: pd.DataFrame) -> dict[str, Any]:
    """Cells of one side and class: counts, profile, quartiles of every measure and the two shares."""
    return {
        "n_images": int(cells["image"].nunique()) if len(cells) else 0,
        "n_cells": len(cells),
        "profile": _profile(cells),
        "measures": {key: _quartiles(cells[key].astype(np.float64)) for key in MEASURES},
        "shares": {key: float(cells[key].astype(bool).mean()) if len(cells) else None for key in SHARES},
    }


def per_image_rows(cells: pd.DataFrame) -> list[dict[str, float]]:
    """One row per image: the median of each measure and the share of ring cells and ghosts (for the verdicts)."""
    rows = []
    for _, group in cells.groupby("image", sort=True):
        row = {key: float(np.nanmedian(group[key].astype(np.float64))) for key in MEASURES}
        row.update({key: float(group[key].astype(bool).mean()) for key in SHARES})
        rows.append(row)
    return rows


def ks_distances(real: pd.DataFrame, synthetic: pd.DataFrame) -> dict[str, dict[str, float | None]]:
    """Two-sample Kolmogorov-Smirnov D and p of every measure and share, real cells vs synthetic cells."""
    out: dict[str, dict[str, float | None]] = {}
    for key in (*MEASURES, *SHARES):
        a = real[key].astype(np.float64).to_numpy()
        b = synthetic[key].astype(np.float64).to_numpy()
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        if a.size == 0 or b.size == 0:
            out[key] = {"ks": None, "ks_p": None}
            continue
        result = ks_2samp(a, b)
        out[key] = {"ks": float(result.statistic), "ks_p": float(result.pvalue)}
    return out


def cells_section(real: pd.DataFrame, synthetic: pd.DataFrame) -> dict[str, Any]:
    """Per class: both sides' summaries and the KS distances (the caller adds each measure's range verdict).

    Returns:
        ``{"classes": {name: {"real", "synthetic", "comparison": {key: {ks, ks_p}}}}, "letters": [...]}`` for every
        class that both sides have; ``letters`` are the classes' file-name letters in the same order.
    """
    classes, letters = {}, []
    for letter, name in CLASS_NAMES.items():
        real_class, synth_class = real[real["klass"] == letter], synthetic[synthetic["klass"] == letter]
        if real_class.empty or synth_class.empty:
            continue
        classes[name] = {
            "real": side_summary(real_class),
            "synthetic": side_summary(synth_class),
            "comparison": ks_distances(real_class, synth_class),
        }
        letters.append(letter)
    return {"classes": classes, "letters": letters}


def timed_cells(
    real_pairs: Sequence[tuple[Path, Path]], synthetic_pairs: Sequence[tuple[Path, Path]]
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Measure both sides; returns (real cells, synthetic cells, ``{"errors": {side: rows}, "seconds"}``)."""
    start = time.perf_counter()
    real, real_errors = measure_cell_pairs(real_pairs)
    synthetic, synth_errors = measure_cell_pairs(synthetic_pairs)
    return (
        real,
        synthetic,
        {
            "errors": {"real": real_errors, "synthetic": synth_errors},
            "seconds": time.perf_counter() - start,
        },
    )


# ---------------------------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------------------------


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def _quartile_cell(stat: dict[str, float | None]) -> str:
    """``median [p25–p75]``."""
    if stat["median"] is None:
        return "-"
    return f"{_num(stat['median'])} [{_num(stat['p25'])}–{_num(stat['p75'])}]"


def _verdict_cell(comparison: dict[str, Any]) -> str:
    colours = {"yes": "green", "median": "yellow", "no": "red", "n/a": "dim"}
    word, share = comparison.get("verdict", "n/a"), comparison.get("share_in_range")
    text = word if share is None else f"{word} ({share:.0%})"
    return f"[{colours[word]}]{text}[/]"


def cells_table(section: dict[str, Any]) -> Table:
    """Per class and measure: real and synthetic median [IQR] (or share), KS D, synthetic images in the real range."""
    table = Table(title="Per-cell appearance: isolated single cells, real vs synthetic (median [IQR] over cells)")
    for name in ("class", "measure", "real", "synthetic", "KS D", "synthetic images in real range?"):
        table.add_column(name, justify="left" if name in ("class", "measure") else "right")
    for klass, entry in section["classes"].items():
        real, synth, comparison = entry["real"], entry["synthetic"], entry["comparison"]
        table.add_row(
            klass,
            "cells (images)",
            f"{real['n_cells']} ({real['n_images']})",
            f"{synth['n_cells']} ({synth['n_images']})",
            "",
            "",
        )
        for key, label in MEASURES.items():
            table.add_row(
                "",
                label,
                _quartile_cell(real["measures"][key]),
                _quartile_cell(synth["measures"][key]),
                _num(comparison[key]["ks"], 2),
                _verdict_cell(comparison[key]),
            )
        for key, label in SHARES.items():
            table.add_row(
                "",
                label,
                f"{real['shares'][key]:.1%}",
                f"{synth['shares'][key]:.1%}",
                _num(comparison[key]["ks"], 2),
                _verdict_cell(comparison[key]),
            )
        table.add_section()
    return table


def profile_table(section: dict[str, Any]) -> Table:
    """Median radial OD profile relative to each cell's rim OD, [IQR], per ring, side and class."""
    table = Table(title="Radial OD profile of isolated cells: OD / the cell's rim OD, median [IQR] over cells")
    table.add_column("rho (ring centre)", justify="right")
    columns = []
    for klass, entry in section["classes"].items():
        for side in ("real", "synthetic"):
            table.add_column(f"{klass} {side}", justify="right")
            columns.append(entry[side]["profile"])
    for index, rho in enumerate(RING_CENTRES):
        cells = []
        for profile in columns:
            stat = {key: profile[f"relative_{key}"][index] for key in ("median", "p25", "p75")}
            cells.append(_quartile_cell(stat))
        table.add_row(f"{rho:.2f}", *cells)
    return table
