"""Ground truth derived from a rendered smear: mask encodings, RGB_segmented, CBC values, morphology findings.

Mask styles:
- ``binary``: single-channel PNG, cell = 255, background = 0 (the canonical encoding of this toolkit).
- ``anerbc``: mimics the public release: RGB, background exactly white, cells dark but carrying a
  dimmed, tinted copy of the image texture, anti-aliased edges (a few % of pixels between 128 and
  254), specks, small holes, touching cells merged, and platelets and other dark objects (white-cell nuclei,
  stain precipitate) counted as foreground.
RGB_segmented keeps the image colour on the mask's foreground and is white elsewhere.
"""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

from rbc_dataset.synth.cells import CELL_TYPES, ImageCondition, sample_condition, sample_population

# The release's reports are not per-image truth (ANERBC.md): 141 of 500 anaemic reports have Hb >= 12 g/dL and
# 266 of 500 healthy ones Hb < 12 (about 40 % disagree with their label by the WHO 2011 cut), and CBC values
# alone separate the classes only moderately (a third party: accuracy 0.665, ROC AUC 0.715). Two things make
# the synthetic reports alike: a share of reports describe a patient of the other class (as if the report had
# been filed with another patient's smear), and Hb overlaps widely between the classes.
REPORT_FROM_OTHER_CLASS = 0.2
HB_BY_SEVERITY = {None: (12.3, 1.3), "mild": (11.3, 1.2), "chronic": (9.9, 1.6)}  # g/dL, mean and sd
EDGE_ROUGHNESS = 0.1  # share of a released mask's outermost cell pixels lighter than the binarisation cut
REPORT_PATIENT_CELLS = 400  # cells drawn to describe a report's other-class patient (never rendered)
PATTERN_NOTES = {
    "iron_deficiency": "Picture suggestive of iron deficiency anemia. Advise serum ferritin.",
    "megaloblastic": "Picture suggestive of megaloblastic anemia. Advise serum B12 and folate levels.",
    "thalassaemia": "Picture suggestive of thalassemia trait. Advise Hb electrophoresis.",
    "haemolytic": "Picture suggestive of hemolytic anemia. Advise reticulocyte count and LDH.",
    "elliptocytosis": "Elliptocytes seen. Correlate clinically.",
}


def mask_darkness(cls: str, shortcuts: tuple[str, ...], *, rng: np.random.Generator) -> float:
    """Median red level of cell pixels in an ``anerbc`` mask: class-dependent only with the "mask" shortcut.

    The real sample shows 9-22 in every anaemic mask and 36-46 in every healthy mask.
    """
    if "mask" in shortcuts:
        return float(rng.uniform(9, 22) if cls == "anemic" else rng.uniform(36, 46))
    return float(rng.uniform(9, 46))


def binary_mask(instances: np.ndarray) -> np.ndarray:
    """Canonical mask: cell = 255, background = 0, single channel."""
    return np.where(instances > 0, 255, 0).astype(np.uint8)


def _specks_and_holes(foreground: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Add dark specks on the background and small holes inside cells, as in the released masks."""
    out = foreground.astype(np.uint8)
    height, width = out.shape
    n_specks = int(np.exp(rng.uniform(np.log(150), np.log(4000))))
    for x, y in zip(rng.integers(0, width, n_specks), rng.integers(0, height, n_specks), strict=True):
        cv2.circle(out, (int(x), int(y)), int(rng.integers(0, 3)), 1, -1)
    ys, xs = np.nonzero(foreground)
    if len(ys):
        picks = rng.integers(0, len(ys), int(rng.integers(0, 25)))
        for k in picks:
            cv2.circle(out, (int(xs[k]), int(ys[k])), int(rng.integers(1, 3)), 0, -1)
    return out.astype(bool)


def anerbc_mask(
    image: np.ndarray, instances: np.ndarray, *, platelets: np.ndarray, darkness: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Release-style mask and its foreground (for RGB_segmented): see the module docstring."""
    foreground = _specks_and_holes((instances > 0) | platelets, rng)
    tint = np.array([1.0, rng.uniform(0.75, 1.05), rng.uniform(1.15, 1.6)], np.float32)
    sample = image[foreground][::7].astype(np.float32)
    median = np.median(sample, axis=0) if len(sample) else np.full(3, 128.0, np.float32)
    scale = darkness * tint / np.maximum(median, 1.0)
    dimmed = image.astype(np.float32) * scale[None, None, :]
    # Anti-aliased edges, as in the release: the cells' outermost pixels lighter (up to about 120, still cell once
    # binarised), a few of them lighter than the cut (a thresholded outline's roughness), and part of the ring
    # just outside the cells light grey (0.6-3 % of pixels between 128 and 254, background once binarised).
    # Per cell, the binarised outlines' solidity then matches the release's (about 0.96, `rbc-bench realism`):
    # grading a quarter of the outermost pixels across the cut gave 0.93, none of them 0.975.
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))  # 4-neighbours: graded pixels never close a hole
    inside = foreground & ~cv2.erode(foreground.astype(np.uint8), cross).astype(bool)
    outside = cv2.dilate(foreground.astype(np.uint8), cross).astype(bool) & ~foreground
    outside &= rng.uniform(size=outside.shape) < rng.uniform(0.0, 0.3)
    alpha = foreground.astype(np.float32)
    graded = rng.uniform(0.62, 1.0, int(inside.sum()))
    rough = rng.uniform(size=graded.size) < EDGE_ROUGHNESS
    graded[rough] = rng.uniform(0.3, 0.55, int(rough.sum()))
    alpha[inside] = graded
    alpha[outside] = rng.uniform(0.3, 0.5, int(outside.sum()))  # light grey, 140-190: the release grades no lighter
    mask = alpha[..., None] * dimmed + (1.0 - alpha[..., None]) * 255.0
    return np.clip(np.rint(mask), 0, 255).astype(np.uint8), foreground


def rgb_segmented(image: np.ndarray, foreground: np.ndarray) -> np.ndarray:
    """Cells in their original colour on a white background."""
    out = np.full_like(image, 255)
    out[foreground] = image[foreground]
    return out


def _equivalent_diameter(cells: pd.DataFrame) -> np.ndarray:
    return 2.0 * np.sqrt(cells["area_px"].to_numpy() / np.pi)


def report_patient(
    cells: pd.DataFrame, condition: ImageCondition, *, rng: np.random.Generator
) -> tuple[pd.DataFrame, ImageCondition]:
    """Whose blood an image's CBC report describes: mostly the image's own cells, sometimes another class's patient.

    The other patient's cells are drawn (not rendered) from a condition of the other class, so their report is as
    consistent within itself as any other; only its tie to the image's label is broken, as in the release.
    """
    if rng.uniform() >= REPORT_FROM_OTHER_CLASS:
        return cells, condition
    other = sample_condition("healthy" if condition.cls == "anemic" else "anemic", rng)
    population = sample_population(other, REPORT_PATIENT_CELLS, rng=rng)
    # An outline of mean radius r is an ellipse of area pi r^2 whatever its aspect (cells._ellipse_outline).
    drawn = pd.DataFrame({"type": np.asarray(CELL_TYPES)[population.types], "area_px": np.pi * population.radius**2})
    return drawn, other


def cbc_values(
    cells: pd.DataFrame, condition: ImageCondition, *, n_platelet_blobs: int, rng: np.random.Generator
) -> dict[str, float | None]:
    """CBC of the cells given: MCV with size, MCHC with pallor, RDW with size spread, Hb with the severity.

    Pass the cells and condition from :func:`report_patient` to get the release's loose report/label relation.
    """
    diameter = _equivalent_diameter(cells)
    volume = (diameter / condition.normal_diameter) ** 3
    mcv = 90.0 * float(np.mean(volume)) * rng.normal(1.0, 0.03)
    types = cells["type"]
    hypochromia = float(np.mean(types == "hypochromic") + 0.5 * np.mean(types == "target"))
    mchc = rng.normal(33.2, 0.6) - 18.0 * hypochromia
    spread = float(np.std(diameter) / np.mean(diameter))
    rdw = 12.0 + 45.0 * (spread - 0.07) + rng.normal(0.0, 0.4)
    mean, sd = HB_BY_SEVERITY[condition.severity]
    hgb = float(np.clip(rng.normal(mean, sd), 4.5, 17.5))
    hct = hgb / mchc * 100.0
    rbc = hct * 10.0 / mcv
    return {
        "WBC": float(np.clip(rng.normal(7.0, 1.8), 3.0, 14.0)),
        "RBC": rbc,
        "HGB": hgb,
        "HCT": hct,
        "MCV": mcv,
        "MCH": hgb * 10.0 / rbc,
        "MCHC": mchc,
        "PLT": float(np.clip(120.0 + 2.2 * n_platelet_blobs + rng.normal(0.0, 30.0), 40.0, 900.0)),
        "MPV": None if rng.uniform() < 0.5 else float(rng.normal(9.5, 1.0)),
        "RDW_CV": None if rng.uniform() < 0.4 else float(max(rdw, 10.5)),
    }


def morphology_findings(cells: pd.DataFrame) -> dict[str, float]:
    """Strength (share of cells, or degree) of each morphology keyword for the report writer."""
    types = cells["type"]
    aspect = cells["minor_axis_px"] / cells["major_axis_px"]
    share = {name: float(np.mean(types == name)) for name in types.unique()}
    diameter = _equivalent_diameter(cells)
    spread = float(np.std(diameter) / np.mean(diameter))
    shape_abnormal = sum(share.get(t, 0.0) for t in ("elliptocyte", "teardrop", "schistocyte", "target"))
    findings = {
        "microcytic": share.get("microcyte", 0.0),
        "macrocytic": share.get("macrocyte", 0.0),
        "hypochromic": share.get("hypochromic", 0.0),
        "elliptocytes": share.get("elliptocyte", 0.0),
        "pencil_cells": float(np.mean((types == "elliptocyte") & (aspect < 0.5))),
        "target_cells": share.get("target", 0.0),
        "teardrop_cells": share.get("teardrop", 0.0),
        "schistocytes": share.get("schistocyte", 0.0),
        "anisocytosis": max(0.0, (spread - 0.09) * 5.0),
        "poikilocytosis": shape_abnormal if shape_abnormal > 0.1 else 0.0,
    }
    return {name: float(min(max(value, 0.0), 1.0)) for name, value in findings.items()}  # strengths live in [0, 1]


def morphology_note(condition: ImageCondition) -> str | None:
    """Free-text NOTE for anaemic images, naming the pattern the smear was drawn from."""
    return PATTERN_NOTES.get(condition.pattern) if condition.pattern else None
