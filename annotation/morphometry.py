"""Per-cell morphometry of a smear from its instance map: size, shape, central pallor and colour.

Every number is measured on the image itself: intensities become optical density (OD) relative to the
image's own local background (``rbc_dataset.cell_profiles.optical_density``, shared with ``rbc-bench realism``
and ``rbc-dataset calibrate``; vignetting and white balance cancel), and the pallor of a cell is measured
against that cell's own rim. Cells cut by the image border are measured but flagged (``touches_border``)
and left out of every summary: their size and shape are not theirs.

``morphometry_folder`` runs this over a folder or manifest of images and writes one CSV per image plus a
summary table (MCV-like mean size, RDW-like size spread, share of each cell type).
"""

from __future__ import annotations

import io
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from skimage.measure import regionprops

from rbc_dataset.cell_profiles import optical_density
from rbc_dataset.errors import DataError, UsageError
from rbc_dataset.fileio import check_output_outside, write_json
from rbc_dataset.parallel import opencv_single_thread

INTERIOR_MARGIN_PX = 2.0  # pixels this close to a cell's outline are edge blur, not rim or pallor
RIM_BAND_SHARE = 0.2  # the rim band reaches this share of the inscribed radius inward (the pallor starts further in)
RIM_BAND_MIN_PX = 1.5  # and at least this many pixels, so that small cells have a rim band too
PALE_LEVEL = 0.75  # interior pixels below this share of the rim OD are central pallor
CONTOUR_SMOOTHING = 5  # points of the moving average on the outline (digital outlines are staircases)


def _check_inputs(image_rgb: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The image as (H, W, 3) float32 RGB; a DataError when the two arrays do not belong together."""
    image = np.asarray(image_rgb)
    labels = np.asarray(labels)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise DataError(
            None, "an RGB image of shape (H, W, 3)", f"an array of shape {image.shape}", "pass an RGB image"
        )
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(
            None,
            "an integer instance map of shape (H, W)",
            f"a {labels.dtype} array of shape {labels.shape}",
            "pass a label map (0 = background, k = cell k)",
        )
    if labels.shape != image.shape[:2]:
        raise DataError(
            None,
            f"an instance map of the image's size {image.shape[1]}x{image.shape[0]}",
            f"{labels.shape[1]}x{labels.shape[0]}",
            "use the instance map made from this image",
        )
    return image[..., :3].astype(np.float32)


def _smoothed_outline(mask: np.ndarray) -> np.ndarray | None:
    """The outer outline of the largest part of ``mask`` as (n, 2) points, smoothed by a moving average."""
    contours, _ = cv2.findContours(np.pad(mask, 1).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return None
    points = max(contours, key=len)[:, 0, :].astype(np.float64)
    k = min(CONTOUR_SMOOTHING, len(points))
    index = (np.arange(len(points))[:, None] + np.arange(k)[None, :] - k // 2) % len(points)
    return points[index].mean(axis=1)


def _polygon_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def _perimeter(points: np.ndarray) -> float:
    return float(np.hypot(*np.diff(np.vstack([points, points[:1]]), axis=0).T).sum())


def shape_features(mask: np.ndarray) -> dict:
    """Perimeter, circularity, convexity and solidity of one cell mask, from its smoothed outline.

    Measured on a smoothed outline because the pixel staircase inflates the perimeter: a digital disc of
    radius 10 px has circularity 0.92 by pixel edges and 0.99 by the smoothed outline (tests draw both).
    """
    outline = _smoothed_outline(mask)
    if outline is None or len(outline) < 3:
        return {"perimeter_px": 0.0, "circularity": np.nan, "convexity": np.nan, "solidity": np.nan}
    perimeter = _perimeter(outline)
    area = _polygon_area(outline)
    hull = cv2.convexHull(outline.astype(np.float32))[:, 0, :].astype(np.float64)
    hull_area = _polygon_area(hull)
    return {
        "perimeter_px": perimeter,
        "circularity": min(4 * np.pi * area / perimeter**2, 1.0) if perimeter > 0 else np.nan,
        "convexity": min(_perimeter(hull) / perimeter, 1.0) if perimeter > 0 else np.nan,
        "solidity": min(area / hull_area, 1.0) if hull_area > 0 else np.nan,
    }


def _skewness(coords: np.ndarray) -> float:
    """Largest |skewness| of the pixel positions along the two principal axes (0 for any symmetric shape).

    A teardrop's tail or a fragment's cut makes the cell lopsided; an ellipse of any elongation is not.
    """
    centred = coords - coords.mean(axis=0)
    if len(centred) < 3:
        return 0.0
    _, axes = np.linalg.eigh(np.cov(centred.T))
    projected = centred @ axes
    spread = projected.std(axis=0)
    spread[spread == 0] = 1.0
    return float(np.abs((projected**3).mean(axis=0) / spread**3).max())


def pallor_features(od: np.ndarray, mask: np.ndarray) -> dict:
    """Rim OD, central pallor and a dense-centre cue of one cell, from its OD crop and mask.

    Args:
        od: optical density of the cell's bounding box.
        mask: the cell's pixels in that box.

    Returns:
        ``rim_od`` (the thick ring), ``pallor_ratio`` (share of the cell area paler than PALE_LEVEL x rim),
        ``pallor_depth`` (1 - palest interior OD / rim), ``centre_contrast`` ((OD at the centre - palest ring
        around it) / rim: about 0 or below for a plain pale centre, clearly positive for a target cell's spot).
    """
    dist = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    interior = dist > INTERIOR_MARGIN_PX
    if interior.sum() < 4:  # tiny fragments: no interior to speak of, use every pixel
        interior = mask
    values = od[interior]
    peak = float(dist.max())
    # The rim is the median of a band just inside the blurred edge: a median, so that a platelet lying on
    # the cell (a few very dark pixels) does not inflate it; a band, so that the pale centre stays out.
    band = interior & (dist <= INTERIOR_MARGIN_PX + max(RIM_BAND_MIN_PX, RIM_BAND_SHARE * peak))
    rim = float(np.median(od[band])) if band.any() else float(np.median(values))
    if rim <= 0:
        return {"rim_od": rim, "pallor_ratio": np.nan, "pallor_depth": np.nan, "centre_contrast": np.nan}
    ys, xs = np.nonzero(dist >= peak - 0.5)  # centre of the largest inscribed circle (inside even for teardrops)
    yy, xx = np.nonzero(mask)
    radius = np.hypot(yy - ys.mean(), xx - xs.mean())
    bins = radius.astype(np.int64)
    profile = np.bincount(bins, od[yy, xx]) / np.maximum(np.bincount(bins), 1)
    centre = float(od[yy, xx][radius < 1.5].mean()) if (radius < 1.5).any() else float(profile[0])
    ring = profile[2 : max(3, int(np.ceil(0.8 * peak)))]
    contrast = (centre - float(ring.min())) / rim if ring.size else 0.0
    return {
        "rim_od": rim,
        "pallor_ratio": float((values < PALE_LEVEL * rim).sum()) / float(mask.sum()),
        "pallor_depth": 1.0 - float(np.percentile(values, 5)) / rim,
        "centre_contrast": contrast,
    }


FEATURE_COLUMNS = (
    "cell_id",  # value of the cell in the instance map
    "cx",  # centroid, px (column)
    "cy",  # centroid, px (row)
    "area_px",
    "eq_diameter_px",  # diameter of the disc of the same area
    "perimeter_px",  # of the smoothed outline
    "major_axis_px",  # of the ellipse with the same second moments
    "minor_axis_px",
    "circularity",  # 4 pi A / P^2: 1 for a disc, 0.84 for a 2:1 ellipse
    "elongation",  # major / minor axis: 1 for a disc
    "convexity",  # convex hull perimeter / perimeter
    "solidity",  # area / convex hull area
    "skewness",  # largest |skewness| along the principal axes: 0 when symmetric
    "rim_od",  # optical density of the haemoglobin ring
    "pallor_ratio",  # area share of the pale centre
    "pallor_depth",  # 1 - palest interior OD / rim OD
    "centre_contrast",  # dense centre inside a pale ring (target cells) > 0
    "mean_od",  # mean optical density over the cell (haemoglobin-like)
    "integrated_od",  # summed optical density (MCH-like)
    "mean_r",
    "mean_g",
    "mean_b",
    "touches_border",  # cut by the image border: excluded from summaries
)


def _cell_row(prop, image: np.ndarray, od: np.ndarray, shape: tuple[int, int]) -> dict:
    top, left, bottom, right = prop.bbox
    window = (slice(top, bottom), slice(left, right))
    mask = prop.image
    od_crop = od[window]
    colour = image[window][mask]
    major, minor = float(prop.axis_major_length), float(prop.axis_minor_length)
    cy, cx = prop.centroid
    return {
        "cell_id": int(prop.label),
        "cx": float(cx),
        "cy": float(cy),
        "area_px": int(prop.area),
        "eq_diameter_px": 2.0 * float(np.sqrt(prop.area / np.pi)),
        **shape_features(mask),
        "major_axis_px": major,
        "minor_axis_px": minor,
        "elongation": major / minor if minor > 0 else np.nan,
        "skewness": _skewness(prop.coords.astype(np.float64)),
        **pallor_features(od_crop, mask),
        "mean_od": float(od_crop[mask].mean()),
        "integrated_od": float(od_crop[mask].sum()),
        "mean_r": float(colour[:, 0].mean()),
        "mean_g": float(colour[:, 1].mean()),
        "mean_b": float(colour[:, 2].mean()),
        "touches_border": bool(top == 0 or left == 0 or bottom == shape[0] or right == shape[1]),
    }


def cell_features(image_rgb: np.ndarray, labels: np.ndarray, *, um_per_px: float | None = None) -> pd.DataFrame:
    """One row of morphometry per instance (columns: FEATURE_COLUMNS, plus µm sizes when ``um_per_px`` is given).

    Args:
        image_rgb: (H, W, 3) RGB image.
        labels: (H, W) integer instance map, 0 = background, k = cell k.
        um_per_px: pixel size in micrometres; adds ``eq_diameter_um`` and ``area_um2``.

    Raises:
        DataError: the arrays are not an RGB image and an instance map of the same size.
        UsageError: ``um_per_px`` is not positive.
    """
    if um_per_px is not None and not (np.isfinite(um_per_px) and um_per_px > 0):
        raise UsageError(f"--um-per-px must be a positive pixel size in micrometres, got {um_per_px}")
    image = _check_inputs(image_rgb, labels)
    labels = np.asarray(labels)
    od = optical_density(image, labels)
    rows = [_cell_row(prop, image, od, labels.shape) for prop in regionprops(labels.astype(np.int64))]
    features = pd.DataFrame(rows, columns=list(FEATURE_COLUMNS))
    features["touches_border"] = features["touches_border"].astype(bool)
    if um_per_px is not None:
        features["eq_diameter_um"] = features["eq_diameter_px"] * um_per_px
        features["area_um2"] = features["area_px"] * um_per_px**2
    return features


def image_summary(features: pd.DataFrame) -> dict:
    """Per-image summary of the cells that do not touch the border.

    Returns:
        ``n_cells``, ``n_border_cells``, MCV-like ``mean_diameter_px`` and ``mean_area_px`` (and µm versions when
        the table has them), RDW-like ``rdw_cv_pct`` (coefficient of variation of the diameter, in %), and
        ``share_<type>`` for every cell type when the table has a ``type`` column (see
        ``annotation.cell_types.classify_cells``). Means are NaN without cells.
    """
    from annotation.cell_types import CELL_TYPES

    inner = features[~features["touches_border"].astype(bool)]
    diameter = inner["eq_diameter_px"].to_numpy(float)
    summary = {
        "n_cells": len(inner),
        "n_border_cells": len(features) - len(inner),
        "mean_diameter_px": float(diameter.mean()) if diameter.size else np.nan,
        "mean_area_px": float(inner["area_px"].mean()) if diameter.size else np.nan,
        "rdw_cv_pct": float(100 * diameter.std(ddof=1) / diameter.mean()) if diameter.size > 1 else np.nan,
    }
    if "eq_diameter_um" in features:
        summary["mean_diameter_um"] = float(inner["eq_diameter_um"].mean()) if diameter.size else np.nan
        summary["mean_area_um2"] = float(inner["area_um2"].mean()) if diameter.size else np.nan
    if "type" in features:
        for name in CELL_TYPES:
            summary[f"share_{name}"] = float((inner["type"] == name).mean()) if diameter.size else np.nan
    return summary


def load_instances(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """Read an instance map (16-bit PNG, 0 = background) and check that it fits an image of ``shape``.

    Raises:
        DataError: missing, undecodable, not a single-channel integer map, or not the image's size.
    """
    from rbc_dataset.fileio import read_image

    fix = "run `rbc-dataset annotate instances IMAGES --out DIR` on the same IMAGES, or leave out --instances"
    if not path.is_file():
        raise DataError(path, "an instance map named after the image (<stem>.png)", "no such file", fix)
    labels = read_image(path)  # a refused file (empty, too many pixels ...) raises a DataError naming it
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(path, "a single-channel integer instance map", f"shape {labels.shape} {labels.dtype}", fix)
    if labels.shape != tuple(shape[:2]):
        found = f"{labels.shape[1]}x{labels.shape[0]} (the image is {shape[1]}x{shape[0]})"
        raise DataError(path, "an instance map of the image's size", found, fix)
    return labels


def measure_image(item, *, instances_dir: Path | None = None, um_per_px: float | None = None) -> pd.DataFrame:
    """Classified cell features of one ``annotation.images.ImageItem``.

    The instances come from ``instances_dir/<stem>.png`` when given, else from
    ``annotation.instances.segment_instances``.
    """
    from annotation.cell_types import classify_cells
    from annotation.images import load_rgb

    image = load_rgb(item)
    if instances_dir is not None:
        labels = load_instances(Path(instances_dir) / f"{item.stem}.png", image.shape)
    else:
        from annotation.instances import segment_instances

        labels = segment_instances(image)
    return classify_cells(cell_features(image, labels, um_per_px=um_per_px))


@opencv_single_thread()
def _measure_job(job: tuple) -> tuple[str, bytes, dict]:
    """Worker: one image's cell table as CSV bytes, and its summary row."""
    item, instances_dir, um_per_px = job
    features = measure_image(item, instances_dir=instances_dir, um_per_px=um_per_px)
    buffer = io.StringIO()
    features.to_csv(buffer, index=False, float_format="%.6g")
    row = {"stem": item.stem, "sample_id": item.sample_id, "class_name": item.class_name, "image": str(item.path)}
    return item.stem, buffer.getvalue().encode(), {**row, **image_summary(features)}


@dataclass(frozen=True)
class MorphometryResult:
    """What ``morphometry_folder`` wrote."""

    out: Path  # output folder: cells/<stem>.csv, summary.csv, morphometry.json
    n_images: int
    n_cells: int  # cells measured away from the border, all images together
    seconds: float
    summary: pd.DataFrame  # one row per image (the content of summary.csv)


def _settings(source: Path, instances_dir: Path | None, um_per_px: float | None, n_images: int) -> dict:
    """What ``morphometry.json`` records next to the tables."""
    from annotation.cell_types import DEFAULT_RULES
    from rbc_dataset import __version__

    return {
        "source": str(source),
        "instances": None if instances_dir is None else str(instances_dir),
        "instances_from": "files" if instances_dir else "annotation.instances.segment_instances",
        "um_per_px": um_per_px,
        "rules": asdict(DEFAULT_RULES),
        "tool_version": __version__,
        "n_images": n_images,
    }


def morphometry_folder(
    source: Path,
    out: Path,
    *,
    instances_dir: Path | None = None,
    um_per_px: float | None = None,
    overwrite: bool = False,
    workers: int | None = None,
    show_progress: bool = True,
) -> MorphometryResult:
    """Measure and type every cell of every image of ``source`` (folder or manifest) into ``out``, atomically.

    Writes ``out/cells/<stem>.csv`` (one row per cell: ``FEATURE_COLUMNS``, relative features and the cell
    ``type``, the column name synthetic truth and ``coco-export --cell-types`` use), ``out/summary.csv`` (one
    row per image, ``image_summary``) and ``out/morphometry.json`` (settings, rules, tool version). Nothing is
    written unless every image succeeds.

    Args:
        source: image folder (searched recursively) or manifest.
        out: output folder (must not exist or be empty, unless ``overwrite``).
        instances_dir: folder of ``<stem>.png`` instance maps; without it cells are segmented here.
        um_per_px: pixel size, for sizes in µm.
        overwrite: replace an existing output folder.
        workers: processes (0 or None = all cores).
        show_progress: draw a progress bar.

    Raises:
        DataError: no images, an unreadable image, or a missing / mis-sized instance map (named).
        UsageError: bad ``um_per_px``, or an output that exists or overlaps the input.
    """
    from annotation.images import list_images
    from rbc_dataset.fileio import atomic_directory
    from rbc_dataset.parallel import bounded_map, worker_count
    from rbc_dataset.progress import track

    start = time.perf_counter()
    if um_per_px is not None and not (np.isfinite(um_per_px) and um_per_px > 0):
        raise UsageError(f"--um-per-px must be a positive pixel size in micrometres, got {um_per_px}")
    source = Path(source)
    items = list_images(source)
    inputs = [source] if source.is_dir() else sorted({item.path.parent for item in items}, key=str)
    check_output_outside(Path(out), inputs + ([Path(instances_dir)] if instances_dir else []), replaced=True)
    jobs = [(item, instances_dir, um_per_px) for item in items]
    n_workers = min(worker_count(workers), max(1, len(jobs)))
    with atomic_directory(Path(out), overwrite) as tmp:
        (tmp / "cells").mkdir()
        rows = []
        results = track(
            bounded_map(_measure_job, jobs, workers=n_workers), len(jobs), description="morphometry", show=show_progress
        )
        for stem, csv_bytes, row in results:
            (tmp / "cells" / f"{stem}.csv").write_bytes(csv_bytes)
            rows.append(row)
        summary = pd.DataFrame(rows)
        summary.to_csv(tmp / "summary.csv", index=False, float_format="%.6g")
        settings = _settings(source, instances_dir, um_per_px, len(rows))
        write_json(tmp / "morphometry.json", settings, sort_keys=True)
    n_cells = int(summary["n_cells"].sum()) if len(summary) else 0
    return MorphometryResult(
        Path(out), len(rows), n_cells=n_cells, seconds=time.perf_counter() - start, summary=summary
    )
