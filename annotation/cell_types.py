"""Rule-based red-cell types, each rule relative to the image's own normal cells.

Absolute sizes and colours change with magnification, stain and camera, so every rule compares a cell with
the *reference cells of its own image*: the plain round cells (no tail, no cut, no target spot) around the
most common size. Their typical diameter, rim optical density and pallor are the image's "normal"; a cell is
a microcyte when its diameter is well below that normal, hypochromic when its rim is much paler, and so on.

The rules form an ordered decision list (first match wins), so each type has one readable reason:

1. schistocyte  small and without central pallor (a fragment)
2. teardrop     elongated, lopsided along its axis and with a concave neck (a tail)
3. elliptocyte  elongated but symmetric
4. target       a dense centre inside a pale ring
5. hypochromic  a much paler rim, or a much larger pale centre, than the image's normal cells
6. microcyte    diameter well below the image's normal diameter
7. macrocyte    diameter well above it
8. normocyte    everything else
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

# The synthetic truth's vocabulary (re-exported), so rule-based types compare with it directly.
from rbc_dataset.synth.cells import CELL_TYPES as CELL_TYPES


@dataclass(frozen=True)
class CellTypeRules:
    """Thresholds of the decision list; each comment says where the number comes from.

    "synthetic" means: read off the feature distributions of the true cell types on synthetic data
    (``rbc-dataset synth`` seed 0, AneRBC-I images, true instance maps), never on the images the benchmark
    scores (seed 100 and up by default).
    """

    # Reference (the image's normal cells)
    plain_max_elongation: float = 1.2  # synthetic: 99 % of normocytes are below (axis ratio 1 - |N(0, 0.05)|)
    plain_max_skewness: float = 0.1  # synthetic: 99 % of normocytes below; teardrops and fragments above
    plain_max_centre_contrast: float = 0.05  # synthetic: 95 % of normocytes below; target cells 0.2-0.4
    mode_window: float = 0.1  # log-diameter half-window of the mean-shift mode search (~ 1 normal cell SD)
    min_reference_cells: int = 5  # fewer plain cells than this: every measured cell is the reference
    # 1. schistocyte
    schistocyte_max_size: float = 0.85  # synthetic: fragments measure 0.47-0.68 of the normal diameter (10-90 %)
    schistocyte_max_depth: float = 0.15  # haematology: fragments lack central pallor; synthetic: 99 % of
    # fragments have pallor depth < 0.13, microcytes and teardrops > 0.25 (a depth cut beats shape cuts here)
    # 2. teardrop
    teardrop_min_skewness: float = 0.15  # synthetic: teardrops >= 0.24, elliptocytes <= 0.045 (10 / 90 %)
    teardrop_min_elongation: float = 1.2  # synthetic: teardrops 1.3-1.7 (10-90 %), round cells < 1.1
    teardrop_max_solidity: float = 0.985  # haematology: the tail leaves a concave neck; synthetic: 90 % of
    # teardrops are below 0.983, while a cell cut straight by a segmentation (lopsided but convex) is 0.99+
    # 3. elliptocyte
    elliptocyte_min_elongation: float = 1.3  # haematology: oval from a long/short axis ratio of ~1.2-1.3;
    # synthetic: normocytes <= 1.1 (90 %), elliptocytes >= 1.5 (10 %)
    # 4. target
    target_min_centre_contrast: float = 0.1  # synthetic: target cells >= 0.14 (95 %), normocytes < 0 (99.5 %)
    target_min_extra_pallor: float = 0.05  # synthetic: the pale ring adds ~0.14; a platelet on a plain
    # centre (the other source of a dense centre) fills the pallor instead (<= 0)
    # 5. hypochromic
    hypochromic_max_rim: float = 0.78  # synthetic: rim OD / normal rim, hypochromic <= 0.79 (90 %), normal
    # 1 +- 0.06 (haemoglobin density is drawn N(1, 0.06))
    hypochromic_min_extra_pallor: float = 0.15  # haematology: pallor beyond ~1/3 of the diameter;
    # synthetic: hypochromic cells +0.19 or more (90 %) over the normal's pale share (~0.09)
    # 6-7. microcyte / macrocyte (diameter / the image's normal diameter)
    microcyte_max_size: float = 0.83  # haematology: < 6 um when normal is 7.2-7.5 um (0.80-0.83);
    # synthetic: the F1-best cut on seed 0 is 0.83 (log -0.19)
    macrocyte_min_size: float = 1.2  # haematology: > 9 um vs 7.5 um (1.2); synthetic: F1-best 1.21 (log 0.19)

    def to_dict(self) -> dict:
        return asdict(self)


DEFAULT_RULES = CellTypeRules()


def _is_plain(features: pd.DataFrame, rules: CellTypeRules) -> np.ndarray:
    return (
        ~features["touches_border"].to_numpy(bool)
        & (features["elongation"].to_numpy() < rules.plain_max_elongation)
        & (features["skewness"].to_numpy() < rules.plain_max_skewness)
        & (features["centre_contrast"].to_numpy() < rules.plain_max_centre_contrast)
    )


def _mode(log_values: np.ndarray, window: float, steps: int = 20) -> float:
    """Mean-shift mode of ``log_values`` with a flat window, started at the median."""
    centre = float(np.median(log_values))
    for _ in range(steps):
        near = log_values[np.abs(log_values - centre) <= window]
        if near.size == 0:
            break
        new = float(near.mean())
        if abs(new - centre) < 1e-4:
            return new
        centre = new
    return centre


def normal_reference(features: pd.DataFrame, rules: CellTypeRules = DEFAULT_RULES) -> dict:
    """The image's normal cells: typical diameter, rim OD and pallor share (NaN without measurable cells).

    The diameter is the mode (not the median) of the plain cells' log diameter, so that a chronic smear with
    40 % macrocytes still measures its normal cells; rim and pallor are medians of the plain cells around it.
    """
    ok = features["eq_diameter_px"].to_numpy() > 0
    plain = _is_plain(features, rules) & ok
    if plain.sum() < rules.min_reference_cells:
        plain = ~features["touches_border"].to_numpy(bool) & ok
    if plain.sum() == 0:
        plain = ok
    if plain.sum() == 0:
        return {"diameter_px": np.nan, "rim_od": np.nan, "pallor_ratio": np.nan, "n_reference": 0}
    log_d = np.log(features["eq_diameter_px"].to_numpy()[plain])
    mode = _mode(log_d, rules.mode_window)
    near = np.abs(log_d - mode) <= rules.mode_window
    chosen = features[plain][near]
    return {
        "diameter_px": float(np.exp(mode)),
        "rim_od": float(np.nanmedian(chosen["rim_od"])),
        "pallor_ratio": float(np.nanmedian(chosen["pallor_ratio"])),
        "n_reference": int(near.sum()),
    }


def relative_features(features: pd.DataFrame, reference: dict) -> pd.DataFrame:
    """``size`` (diameter / normal), ``rim_rel`` (rim OD / normal) and ``extra_pallor`` (pallor - normal)."""
    return pd.DataFrame(
        {
            "size": features["eq_diameter_px"] / reference["diameter_px"],
            "rim_rel": features["rim_od"] / reference["rim_od"],
            "extra_pallor": features["pallor_ratio"] - reference["pallor_ratio"],
        },
        index=features.index,
    )


def _decide(f: pd.DataFrame, rules: CellTypeRules) -> np.ndarray:
    """The decision list over relative features; returns one type name per row."""
    size = f["size"].to_numpy()
    fragment = (size < rules.schistocyte_max_size) & (f["pallor_depth"].to_numpy() < rules.schistocyte_max_depth)
    conditions = [
        fragment,
        (f["skewness"].to_numpy() > rules.teardrop_min_skewness)
        & (f["elongation"].to_numpy() > rules.teardrop_min_elongation)
        & (f["solidity"].to_numpy() < rules.teardrop_max_solidity),
        f["elongation"].to_numpy() > rules.elliptocyte_min_elongation,
        (f["centre_contrast"].to_numpy() > rules.target_min_centre_contrast)
        & (f["extra_pallor"].to_numpy() > rules.target_min_extra_pallor),
        (f["rim_rel"].to_numpy() < rules.hypochromic_max_rim)
        | (f["extra_pallor"].to_numpy() > rules.hypochromic_min_extra_pallor),
        size < rules.microcyte_max_size,
        size > rules.macrocyte_min_size,
    ]
    choices = ["schistocyte", "teardrop", "elliptocyte", "target", "hypochromic", "microcyte", "macrocyte"]
    conditions = [np.nan_to_num(c.astype(float), nan=0.0).astype(bool) for c in conditions]
    return np.select(conditions, choices, default="normocyte")


def classify_cells(features: pd.DataFrame, rules: CellTypeRules = DEFAULT_RULES) -> pd.DataFrame:
    """Add ``size``, ``rim_rel``, ``extra_pallor`` and ``type`` (the cell type) to a ``cell_features`` table.

    Args:
        features: one image's cells (``annotation.morphometry.cell_features``); rules are relative to them.
        rules: thresholds.

    Returns:
        A copy of ``features`` with the four columns added (border cells get a type too, but summaries
        leave them out).
    """
    out = features.copy()
    if out.empty:
        for column in ("size", "rim_rel", "extra_pallor"):
            out[column] = pd.Series(dtype=float)
        out["type"] = pd.Series(dtype=str)
        return out
    reference = normal_reference(features, rules)
    out = pd.concat([out, relative_features(features, reference)], axis=1)
    out["type"] = _decide(out, rules)
    return out
