"""The two checks of an attribution map: does it depend on the weights, and does it fall on the abnormal cells?

1. Model randomisation (Adebayo et al., "Sanity checks for saliency maps", NeurIPS 2018): the same architecture
   with re-initialised weights must give different maps. We compare, per tile, the trained model's map with the
   randomised model's map for the same class by Spearman's rank correlation (and SSIM, reported alongside). A
   map that does not depend on the weights (an edge detector of the input, a fixed function) gives the same map
   for both: rho = 1. In the paper, the maps of methods that pass (the gradient, Grad-CAM) lose almost all rank
   agreement with the trained model's once the weights are randomised, while the methods that fail (Guided
   Backprop, Guided Grad-CAM) keep looking like the trained model's maps, as an edge detector does.
   ``RANDOMISATION_THRESHOLD`` = 0.5: the check passes when the mean rho is below it, i.e. when less than half of
   the maps' ranking survives the loss of everything the model learned. It sits halfway between no agreement
   (0, a map that depends only on the weights) and identical rankings (1, a map that does not depend on them at
   all); it is a reading aid, not a test with a known error rate. The verdict reads the signed mean: a coarse map
   (2x2 cells at a 64 px input) has a per-tile rho that scatters widely by chance, so the mean of |rho| of two
   unrelated coarse maps is near 0.5, while the signed mean stays near 0; |rho| is reported beside it.
2. Attribution on abnormal cells (synthetic data only): the share of a map's mass on cells whose synthetic type
   is abnormal, against those cells' share of the tile's area. A map that ignores where the abnormal cells are
   gets, on average, a mass share equal to the area share (ratio 1); a model that reads the abnormal cells gets
   more. The share of mass on any cell against the cells' area is reported next to it, so "on cells" and
   "on abnormal cells" can be told apart.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import spearmanr
from skimage.metrics import structural_similarity

RANDOMISATION_THRESHOLD = 0.5
SSIM_MIN_SIDE = 7  # skimage's default window; smaller maps get no SSIM

# attribute(model, inputs, targets=...) -> (B, H, W) maps: what the randomisation check compares.
Attribute = Callable[..., np.ndarray]


def rank_agreement(first: np.ndarray, second: np.ndarray) -> float:
    """Spearman's rho of two maps' pixels; 1 for identical maps, NaN when only one of them is constant."""
    if np.array_equal(first, second):
        return 1.0
    if np.ptp(first) == 0 or np.ptp(second) == 0:
        return float("nan")
    return float(spearmanr(first.ravel(), second.ravel()).statistic)


def _ssim(first: np.ndarray, second: np.ndarray) -> float:
    if min(first.shape) < SSIM_MIN_SIDE:
        return float("nan")
    return float(structural_similarity(first, second, data_range=1.0))


def randomisation_check(
    trained_maps: np.ndarray, random_maps: np.ndarray, *, threshold: float = RANDOMISATION_THRESHOLD
) -> dict:
    """Compare maps of a trained model with maps of the same architecture with random weights, tile by tile.

    Returns:
        ``spearman_mean`` / ``spearman_median`` over tiles where rho is defined, ``ssim_mean``, ``n_tiles``,
        ``n_undefined`` (one map constant, the other not), ``threshold`` and ``passed`` (mean rho below the
        threshold; None when no tile gives a defined rho, with the ``reason``).
    """
    rhos = np.array([rank_agreement(a, b) for a, b in zip(trained_maps, random_maps, strict=True)], dtype=float)
    ssims = np.array([_ssim(a, b) for a, b in zip(trained_maps, random_maps, strict=True)], dtype=float)
    defined = rhos[~np.isnan(rhos)]
    result = {
        "method": "Spearman rank correlation of trained vs re-initialised model's maps (Adebayo et al. 2018)",
        "n_tiles": int(len(rhos)),
        "n_undefined": int(np.isnan(rhos).sum()),
        "spearman_mean": float(defined.mean()) if len(defined) else None,
        "spearman_median": float(np.median(defined)) if len(defined) else None,
        "spearman_abs_mean": float(np.abs(defined).mean()) if len(defined) else None,
        "ssim_mean": float(np.nanmean(ssims)) if np.isfinite(ssims).any() else None,
        "threshold": threshold,
        "passed": bool(defined.mean() < threshold) if len(defined) else None,
    }
    if not len(defined):
        result["reason"] = "no tile where both maps vary (a constant map has no ranking)"
    return result


def model_randomisation(
    attribute: Attribute, *, trained, randomised, inputs, targets, threshold: float = RANDOMISATION_THRESHOLD
) -> dict:
    """``randomisation_check`` of ``attribute``'s maps for the trained and the randomised model on the same inputs."""
    trained_maps = attribute(trained, inputs, targets=targets)
    random_maps = attribute(randomised, inputs, targets=targets)
    return randomisation_check(np.asarray(trained_maps), np.asarray(random_maps), threshold=threshold)


def abnormal_mass(maps: list[np.ndarray], truths: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    """Share of attribution mass on abnormal cells (and on any cell) against their share of the tiles' area.

    Args:
        maps: one non-negative map per tile, at the size of its truth.
        truths: per tile (abnormal, cells): boolean masks of the abnormal cells and of every cell.

    Returns:
        Means over tiles with some attribution: ``mass_on_abnormal``, ``abnormal_area``, their ``ratio``,
        ``mass_on_cells``, ``cell_area``, ``tiles_above_area`` (share of tiles whose mass share exceeds their
        area share), ``n_tiles`` and ``n_without_attribution`` (all-zero maps, left out).
    """
    rows = []
    for cam, (abnormal, cells) in zip(maps, truths, strict=True):
        total = float(cam.sum())
        if total <= 0:
            continue
        rows.append((cam[abnormal].sum() / total, abnormal.mean(), cam[cells].sum() / total, cells.mean()))
    if not rows:
        return {"n_tiles": 0, "n_without_attribution": len(maps), "reason": "no tile with a non-zero map"}
    mass, area, mass_cells, area_cells = (float(v) for v in np.mean(rows, axis=0))
    return {
        "mass_on_abnormal": mass,
        "abnormal_area": area,
        "ratio": mass / area if area > 0 else None,
        "mass_on_cells": mass_cells,
        "cell_area": area_cells,
        "tiles_above_area": float(np.mean([row[0] > row[1] for row in rows])),
        "n_tiles": len(rows),
        "n_without_attribution": len(maps) - len(rows),
    }
