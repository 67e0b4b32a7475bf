"""Classifier two-sample test (C2ST): can a classifier tell synthetic crops from real ones?

A classifier is trained to separate crops of real images from crops of synthetic ones and scored on crops of
images it never saw. Its out-of-fold ROC AUC says how separable the two sets are: 0.5 = indistinguishable,
1.0 = told apart every time. Summary statistics can all lie inside the real range while the images still look
nothing alike; a discriminator sees the joint appearance.

- Crops: ``crops_per_image`` random square crops of ``crop_px`` per image (seeded per image, so one image's
  crops do not depend on which other images are loaded); per cell, crops of ``cell_crop_px`` centred on single
  cells found in each side's own mask (connected components of a plausible single-cell area).
- Folds: scikit-learn's ``StratifiedGroupKFold`` grouped by image, so no image has crops on both the training
  and the test side of a fold; at most 5 folds, fewer when a side has fewer images; fewer than 2 images on a
  side is a skip with its reason, not an error.
- Classifiers: (a) hand-made colour/texture features (16-bin RGB and HSV histograms, log Laplacian variance,
  gradient-magnitude percentiles) with a scaled logistic regression; (b) a small CNN trained from scratch
  (``benchmarks.toolkit.realism_cnn``), on all crops only because it is the slow one.
- Interval: 95 % percentile interval of the AUC over bootstrap resamples of whole images
  (``rbc_dataset.stats``), because crops of one image are not independent.

Tests: every crop together, per class (real anaemic vs synthetic anaemic, real healthy vs synthetic healthy,
the class from the ``NNN_a`` / ``NNN_h`` file name) and per cell (features only).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rich.table import Table
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from benchmarks.toolkit.realism_stats import (
    CLASS_NAMES,
    MIN_CELL_AREA,
    SINGLE_HIGH,
    SINGLE_LOW,
    _read_mask,
    _read_rgb,
    binarise_mask,
    pair_class,
)
from rbc_dataset.errors import UsageError
from rbc_dataset.stats import group_resamples, percentile_interval, weighted_roc_auc

MAX_FOLDS = 5
HIST_BINS = 16
GRADIENT_PERCENTILES = (10, 50, 90, 99)
REAL, SYNTHETIC = 0, 1  # labels: a high score means "looks synthetic"

# A fold scorer: scorer(crops, labels, *, folds, seed) -> out-of-fold score of every crop.
Scorer = Callable[..., np.ndarray]


@dataclass(frozen=True)
class C2stSettings:
    """What the two-sample test draws and trains; the defaults are the documented measurement."""

    crops_per_image: int = 12
    crop_px: int = 128
    cell_crop_px: int = 48
    cells_per_image: int = 24
    seed: int = 0
    cnn: bool = True
    cnn_epochs: int = 8
    n_resamples: int = 2000

    def check(self) -> None:
        """Raise a UsageError naming the option when a setting is out of range."""
        limits = {
            "--crops-per-image": (self.crops_per_image, 1),
            "crop_px": (self.crop_px, 16),
            "cell_crop_px": (self.cell_crop_px, 16),
            "cells_per_image": (self.cells_per_image, 1),
            "--epochs": (self.cnn_epochs, 1),
            "n_resamples": (self.n_resamples, 100),
        }
        for name, (value, lowest) in limits.items():
            if value < lowest:
                raise UsageError(f"{name} must be at least {lowest}, got {value}")


DEFAULT_SETTINGS = C2stSettings()


@dataclass
class LoadedImage:
    """One image of one side: its group name, class letter, RGB pixels and boolean cell mask."""

    group: str
    klass: str
    rgb: np.ndarray
    cell: np.ndarray


@dataclass
class CropSet:
    """Crops of both sides with their labels (0 real, 1 synthetic) and image groups."""

    crops: np.ndarray
    labels: np.ndarray
    groups: np.ndarray

    def counts(self) -> dict[str, int]:
        """Images and crops per side."""
        out = {}
        for side, label in (("real", REAL), ("synthetic", SYNTHETIC)):
            chosen = self.labels == label
            out[f"n_images_{side}"] = len(set(self.groups[chosen].tolist()))
            out[f"n_crops_{side}"] = int(chosen.sum())
        return out


# ---------------------------------------------------------------------------------------------------------------
# Loading and cropping
# ---------------------------------------------------------------------------------------------------------------


def load_side(pairs: Sequence[tuple[Path, Path]], side: str) -> tuple[list[LoadedImage], list[dict[str, str]]]:
    """Read each (image, mask) pair as RGB plus a boolean cell mask.

    Args:
        pairs: From ``realism.find_pairs``; the file stem is ``NNN_a`` or ``NNN_h``.
        side: ``real`` or ``synthetic``, prefixed to the group names so the two sides never share a group.

    Returns:
        (images, errors): an unreadable pair or a mask of another size is an error row, not an exception.
    """
    images, errors = [], []
    for image_path, mask_path in pairs:
        try:
            rgb = _read_rgb(image_path)
            mask_gray, _, single_channel = _read_mask(mask_path)
            if mask_gray.shape != rgb.shape[:2]:
                raise ValueError(f"mask is {mask_gray.shape}, image is {rgb.shape[:2]}")
        except (ValueError, cv2.error) as exc:
            errors.append({"image": str(image_path), "error": str(exc)})
            continue
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        cell, _ = binarise_mask(mask_gray, gray, single_channel=single_channel)
        klass = pair_class(image_path)
        images.append(LoadedImage(f"{side}/{image_path.parent.parent.name}/{image_path.stem}", klass, rgb, cell))
    return images, errors


def random_crops(rgb: np.ndarray, n: int, *, size: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random ``size`` x ``size`` crops of one image (uniform top-left corners); none when it is smaller."""
    height, width = rgb.shape[:2]
    if height < size or width < size:
        return np.empty((0, size, size, 3), np.uint8)
    tops = rng.integers(0, height - size + 1, size=n)
    lefts = rng.integers(0, width - size + 1, size=n)
    return np.stack([rgb[t : t + size, s : s + size] for t, s in zip(tops, lefts, strict=True)])


def single_cell_centres(cell: np.ndarray, size: int) -> np.ndarray:
    """Centroids (row, col) of single cells whose ``size`` crop lies inside the image.

    A single cell is an 8-connected component of at least ``MIN_CELL_AREA`` px whose area is within
    ``SINGLE_LOW``..``SINGLE_HIGH`` times the median component area (the band ``rbc-bench realism`` uses).
    """
    _, _, stats, centroids = cv2.connectedComponentsWithStats(cell.astype(np.uint8), connectivity=8)
    areas, centroids = stats[1:, cv2.CC_STAT_AREA], centroids[1:]
    keep = areas >= MIN_CELL_AREA
    if not keep.any():
        return np.empty((0, 2), int)
    median = float(np.median(areas[keep]))
    keep &= (areas >= SINGLE_LOW * median) & (areas <= SINGLE_HIGH * median)
    rows, cols = np.round(centroids[keep, 1]).astype(int), np.round(centroids[keep, 0]).astype(int)
    half = size // 2
    inside = (
        (rows >= half) & (cols >= half) & (rows - half + size <= cell.shape[0]) & (cols - half + size <= cell.shape[1])
    )
    return np.stack([rows[inside], cols[inside]], axis=1)


def cell_crops(image: LoadedImage, n: int, *, size: int, rng: np.random.Generator) -> np.ndarray:
    """Up to ``n`` crops centred on single cells of ``image`` (a seeded sample when it has more)."""
    centres = single_cell_centres(image.cell, size)
    if len(centres) > n:
        centres = centres[np.sort(rng.choice(len(centres), size=n, replace=False))]
    half = size // 2
    crops = [image.rgb[r - half : r - half + size, c - half : c - half + size] for r, c in centres]
    return np.stack(crops) if crops else np.empty((0, size, size, 3), np.uint8)


def build_crop_set(
    real: Sequence[LoadedImage], synthetic: Sequence[LoadedImage], *, settings: C2stSettings, per_cell: bool
) -> CropSet:
    """Crops of every image of both sides, each image's crops drawn from its own seeded generator."""
    crops, labels, groups = [], [], []
    for label, images in ((REAL, real), (SYNTHETIC, synthetic)):
        for image in images:
            # Seeded by the group name, not the position: adding an image leaves the others' crops alone.
            key = [settings.seed, int(per_cell), *image.group.encode()]
            rng = np.random.default_rng(key)
            if per_cell:
                chosen = cell_crops(image, settings.cells_per_image, size=settings.cell_crop_px, rng=rng)
            else:
                chosen = random_crops(image.rgb, settings.crops_per_image, size=settings.crop_px, rng=rng)
            crops.append(chosen)
            labels += [label] * len(chosen)
            groups += [image.group] * len(chosen)
    size = settings.cell_crop_px if per_cell else settings.crop_px
    stacked = np.concatenate(crops) if crops else np.empty((0, size, size, 3), np.uint8)
    return CropSet(stacked, np.asarray(labels, dtype=int), np.asarray(groups, dtype=str))


# ---------------------------------------------------------------------------------------------------------------
# Features and folds
# ---------------------------------------------------------------------------------------------------------------


def crop_features(crops: np.ndarray) -> np.ndarray:
    """Hand-made colour and texture features, one row per crop.

    16-bin histograms of R, G, B and of OpenCV's H, S, V (each normalised to sum 1), the log of the 3x3
    Laplacian variance of gray, and the 10/50/90/99th percentiles of the Sobel gradient magnitude of gray.
    """
    rows = []
    for crop in crops:
        hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV)
        parts = []
        for image, top in ((crop, 256), (hsv, None)):
            for channel in range(3):
                high = (180 if channel == 0 else 256) if top is None else top
                hist = np.histogram(image[:, :, channel], bins=HIST_BINS, range=(0, high))[0]
                parts.append(hist / max(hist.sum(), 1))
        gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32)
        laplacian = np.log1p(cv2.Laplacian(gray, cv2.CV_32F, ksize=3).var())
        magnitude = np.hypot(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1))
        parts.append([laplacian, *np.percentile(magnitude, GRADIENT_PERCENTILES)])
        rows.append(np.concatenate(parts))
    return np.asarray(rows, dtype=np.float64).reshape(len(crops), -1)


def grouped_folds(labels: np.ndarray, groups: np.ndarray, *, seed: int) -> tuple[list, str | None]:
    """Stratified folds grouped by image, or a skip reason when a side has too few images.

    Returns:
        (folds, reason): folds as (train, test) index arrays, at most ``MAX_FOLDS`` and at most the images of
        the smaller side; reason is None when the folds are usable.
    """
    per_side = [len(set(groups[labels == label].tolist())) for label in (REAL, SYNTHETIC)]
    if min(per_side) < 2:
        return [], f"too few images for grouped folds: {per_side[0]} real, {per_side[1]} synthetic (need 2 per side)"
    splitter = StratifiedGroupKFold(n_splits=min(MAX_FOLDS, *per_side), shuffle=True, random_state=seed)
    folds = list(splitter.split(np.zeros(len(labels)), labels, groups))
    for number, (train, _) in enumerate(folds, start=1):
        if len(set(labels[train].tolist())) < 2:
            return (
                [],
                f"fold {number}'s training part holds one side only ({per_side[0]} real, {per_side[1]} synthetic)",
            )
    return folds, None


def feature_scores(crops: np.ndarray, labels: np.ndarray, *, folds: list, seed: int) -> np.ndarray:
    """Out-of-fold decision scores of a scaled logistic regression on :func:`crop_features`."""
    features = crop_features(crops)
    scores = np.full(len(labels), np.nan)
    for train, test in folds:
        model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000, random_state=seed))
        model.fit(features[train], labels[train])
        scores[test] = model.decision_function(features[test])
    return scores


# ---------------------------------------------------------------------------------------------------------------
# One test, all tests
# ---------------------------------------------------------------------------------------------------------------


def verdict(auc: float, *, low: float, high: float) -> str:
    """Plain words for an AUC and its interval."""
    if not np.isfinite(auc):
        return "undefined"
    if np.isfinite(low) and low <= 0.5 <= high:
        return "indistinguishable (interval contains 0.5)"
    if auc < 0.5:
        return "below 0.5: inverted, check the test"
    return "easily told apart" if auc >= 0.9 else "told apart"


def _row(name: str, crop_set: CropSet, *, method: str, skipped: str | None = None) -> dict[str, Any]:
    """A test's row before scoring: what it compares; ``skipped`` holds the reason when it cannot run."""
    row: dict[str, Any] = {"test": name, "method": method, **crop_set.counts(), "n_folds": 0}
    row.update({"auc": None, "ci_low": None, "ci_high": None, "verdict": "skipped", "skipped": skipped})
    return row


def score_test(name: str, crop_set: CropSet, *, method: str, scorer: Scorer, settings: C2stSettings) -> dict:
    """Run one two-sample test and describe it as a JSON-ready row (a skip row when it cannot run)."""
    folds, reason = grouped_folds(crop_set.labels, crop_set.groups, seed=settings.seed)
    row = _row(name, crop_set, method=method, skipped=reason)
    if reason is not None:
        return row
    start = time.perf_counter()
    scores = scorer(crop_set.crops, crop_set.labels, folds=folds, seed=settings.seed)
    auc = float(weighted_roc_auc(crop_set.labels, scores)[0])
    resampled = [
        weighted_roc_auc(crop_set.labels, scores, weights=block)
        for block in group_resamples(crop_set.groups, settings.n_resamples, seed=settings.seed)
    ]
    low, high = percentile_interval(np.concatenate(resampled), level=0.95, min_defined=0.9)
    row.update({"n_folds": len(folds), "auc": auc, "ci_low": low, "ci_high": high})
    row.update({"verdict": verdict(auc, low=low, high=high), "seconds": round(time.perf_counter() - start, 2)})
    return row


def _cnn_scorer(settings: C2stSettings) -> tuple[Scorer | None, str | None]:
    """The CNN's fold scorer, or the reason it cannot run (torch missing)."""
    try:
        from benchmarks.toolkit.realism_cnn import cnn_scores
    except ModuleNotFoundError as exc:
        return None, f'needs {exc.name}, not installed: pip install "rbc-dataset[bench]"'

    def scorer(crops: np.ndarray, labels: np.ndarray, *, folds: list, seed: int) -> np.ndarray:
        return cnn_scores(crops, labels, folds=folds, seed=seed, epochs=settings.cnn_epochs)

    return scorer, None


def run_c2st(real: Sequence[LoadedImage], synthetic: Sequence[LoadedImage], *, settings: C2stSettings) -> list[dict]:
    """Every two-sample test: features on all crops, per class and per cell; the CNN on all crops.

    Args:
        real: Real images from :func:`load_side`.
        synthetic: Synthetic images from :func:`load_side`.
        settings: Crops, seed, CNN on/off.

    Returns:
        One row per test (:func:`score_test`), in table order.
    """
    everything = build_crop_set(real, synthetic, settings=settings, per_cell=False)
    rows = [score_test("all crops", everything, method="features", scorer=feature_scores, settings=settings)]
    for letter, klass in CLASS_NAMES.items():
        subset = build_crop_set(
            [i for i in real if i.klass == letter],
            [i for i in synthetic if i.klass == letter],
            settings=settings,
            per_cell=False,
        )
        rows.append(score_test(klass, subset, method="features", scorer=feature_scores, settings=settings))
    cells = build_crop_set(real, synthetic, settings=settings, per_cell=True)
    rows.append(score_test("single cells", cells, method="features", scorer=feature_scores, settings=settings))
    if settings.cnn:
        scorer, reason = _cnn_scorer(settings)
        if scorer is None:
            rows.append(_row("all crops", everything, method="CNN", skipped=reason))
        else:
            rows.append(score_test("all crops", everything, method="CNN", scorer=scorer, settings=settings))
    return rows


def c2st_report(real_pairs: Sequence, synthetic_pairs: Sequence, *, settings: C2stSettings) -> dict[str, Any]:
    """Load both sides and run every test; the ``c2st`` part of the realism JSON."""
    start = time.perf_counter()
    real, real_errors = load_side(real_pairs, "real")
    synthetic, synthetic_errors = load_side(synthetic_pairs, "synthetic")
    tests = run_c2st(real, synthetic, settings=settings)
    return {
        "settings": asdict(settings),
        "labels": {"real": REAL, "synthetic": SYNTHETIC},
        "tests": tests,
        "errors": {"real": real_errors, "synthetic": synthetic_errors},
        "seconds": round(time.perf_counter() - start, 1),
    }


def _cell(value: float | None) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.3f}"


def c2st_table(report: dict[str, Any]) -> Table:
    """Rich table of the tests: AUC, interval, images and crops per side, folds, verdict or skip reason."""
    table = Table(title="Classifier two-sample test: real vs synthetic crops (ROC AUC, 0.5 = indistinguishable)")
    for name in ("test", "classifier", "AUC", "95 % interval", "images real/synth", "crops real/synth", "folds"):
        table.add_column(name, justify="left" if name in ("test", "classifier") else "right")
    table.add_column("verdict")
    for row in report["tests"]:
        interval = "-" if row["ci_low"] is None else f"{_cell(row['ci_low'])}–{_cell(row['ci_high'])}"
        words = row["verdict"] if row["skipped"] is None else f"[dim]skipped: {row['skipped']}[/]"
        table.add_row(
            row["test"],
            row["method"],
            _cell(row["auc"]),
            interval,
            f"{row['n_images_real']}/{row['n_images_synthetic']}",
            f"{row['n_crops_real']}/{row['n_crops_synthetic']}",
            str(row["n_folds"] or "-"),
            words,
        )
    return table
