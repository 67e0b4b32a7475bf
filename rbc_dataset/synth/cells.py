"""Which cells a synthetic smear holds: types, sizes, shapes and pallor, decided by class and severity.

Anaemic images differ from healthy ones only through morphology (the abnormal cell types, their
share and how far they deviate), never through a global cue. Each anaemic image follows one
"pattern" (a mixture of abnormal types typical of a kind of anaemia) and has a severity: mild
images carry few, slightly abnormal cells and overlap with healthy ones; chronic images carry many,
strongly abnormal cells.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CELL_TYPES = (
    "normocyte",
    "microcyte",
    "macrocyte",
    "elliptocyte",
    "target",
    "teardrop",
    "schistocyte",
    "hypochromic",
)
ABNORMAL_TYPES = CELL_TYPES[1:]

# Abnormal-type mixtures typical of kinds of anaemia (weights of ABNORMAL_TYPES, renormalised).
PATTERNS: dict[str, dict[str, float]] = {
    "iron_deficiency": {"microcyte": 0.35, "hypochromic": 0.35, "elliptocyte": 0.15, "target": 0.1, "teardrop": 0.05},
    "megaloblastic": {"macrocyte": 0.55, "teardrop": 0.2, "elliptocyte": 0.15, "schistocyte": 0.1},
    "thalassaemia": {"microcyte": 0.35, "target": 0.35, "hypochromic": 0.15, "schistocyte": 0.1, "teardrop": 0.05},
    "haemolytic": {"schistocyte": 0.4, "microcyte": 0.2, "elliptocyte": 0.2, "target": 0.1, "teardrop": 0.1},
    "elliptocytosis": {"elliptocyte": 0.8, "microcyte": 0.1, "teardrop": 0.1},
}
SEVERITIES = ("mild", "chronic")
N_ANGLES = 48  # samples of each cell's radial outline
ANGLES = np.linspace(-np.pi, np.pi, N_ANGLES, endpoint=False)
HALF_NORMAL_MEDIAN = 0.6745  # median of |N(0, 1)|: a spread sigma of 1 - minor/major gives that median


@dataclass(frozen=True)
class ImageCondition:
    """What one image shows, before any cell is drawn."""

    cls: str  # "healthy" or "anemic"
    severity: str | None  # "mild" / "chronic" for anaemic images, None for healthy
    pattern: str | None  # key of PATTERNS for anaemic images
    strength: float  # 0 (healthy) .. 1: how abnormal the abnormal cells are
    abnormal_share: float  # expected share of abnormal cells
    normal_diameter: float  # px, diameter of this image's normocytes
    size_cv: float  # coefficient of variation of normal cell size (anisocytosis)
    # A lab's cells (``SynthConfig.lab``, ``rbc-dataset calibrate``); the defaults are the generator's own.
    aspect_sd: float = 0.1  # 1 - minor/major of normal cells is |N(0, aspect_sd)|
    pallor_depth: float = 0.6  # mean depth of the pale centre (0 flat .. 1 empty)
    pallor_radius: float = 0.37  # mean radius of the pale centre, share of the cell's radius
    density_sd: float = 0.08  # cell-to-cell spread of haemoglobin density (share of the mean)


@dataclass
class CellPopulation:
    """Per-cell parameters, one entry per cell (arrays of equal length)."""

    types: np.ndarray  # index into CELL_TYPES
    radius: np.ndarray  # px, mean radius of the outline
    aspect: np.ndarray  # minor / major axis
    angle: np.ndarray  # rad, orientation of the major axis
    outline: np.ndarray  # (n, N_ANGLES) radius per angle of the cell frame, px
    pallor_radius: np.ndarray  # central pallor radius as a share of the outline radius
    pallor_depth: np.ndarray  # 0..1, how much thinner the centre is
    target_spot: np.ndarray  # bool, target cell: dense central spot inside the pallor ring
    density: np.ndarray  # haemoglobin optical density scale (hypochromic cells are lower)
    rim: np.ndarray  # extra density of the cell's outer ring (the dark rim of a biconcave disc)

    def __len__(self) -> int:
        return len(self.types)


def lab_cells(lab: dict[str, float] | None) -> dict[str, float]:
    """The ``ImageCondition`` cell settings a lab section sets (``cell_aspect`` etc.); none for keys it lacks.

    ``cell_aspect`` is the median major/minor axis of the normal cells drawn, so it sets ``aspect_sd``.
    """
    lab = lab or {}
    settings = {
        "pallor_depth": lab.get("pallor_depth"),
        "pallor_radius": lab.get("pallor_radius"),
        "density_sd": lab.get("cell_density_spread"),
    }
    if "cell_aspect" in lab:
        settings["aspect_sd"] = max(1.0 - 1.0 / lab["cell_aspect"], 0.0) / HALF_NORMAL_MEDIAN
    return {key: float(value) for key, value in settings.items() if value is not None}


def sample_condition(
    cls: str, rng: np.random.Generator, *, diameter_px: float | None = None, lab: dict[str, float] | None = None
) -> ImageCondition:
    """Draw class-dependent morphology settings for one image.

    Args:
        cls: "healthy" or "anemic".
        rng: the image's cell stream.
        diameter_px: normocytes of about this diameter (else ``lab["cell_diameter_px"]``, else a broad range).
        lab: a lab section (``SynthConfig.lab``): its cell keys replace the generator's defaults.
    """
    if diameter_px is None and lab is not None:
        diameter_px = lab["cell_diameter_px"]
    diameter = rng.uniform(19.0, 22.5) if diameter_px is None else diameter_px + rng.uniform(-0.75, 0.75)
    cells = lab_cells(lab)
    if cls == "healthy":
        return ImageCondition(
            cls,
            None,
            pattern=None,
            strength=0.0,
            abnormal_share=rng.uniform(0.0, 0.04),
            normal_diameter=diameter,
            size_cv=rng.uniform(0.055, 0.08),
            **cells,
        )
    severity = SEVERITIES[int(rng.integers(2))]
    strength = rng.uniform(0.25, 0.5) if severity == "mild" else rng.uniform(0.6, 1.0)
    share = 0.03 + 0.22 * strength if severity == "mild" else 0.15 + 0.5 * strength
    pattern = list(PATTERNS)[int(rng.integers(len(PATTERNS)))]
    cv = 0.065 + 0.08 * strength
    return ImageCondition(
        cls,
        severity,
        pattern=pattern,
        strength=strength,
        abnormal_share=share,
        normal_diameter=diameter,
        size_cv=cv,
        **cells,
    )


def _type_weights(condition: ImageCondition, rng: np.random.Generator) -> np.ndarray:
    """Probabilities over CELL_TYPES for this image."""
    if condition.pattern is None:
        abnormal = np.full(len(ABNORMAL_TYPES), 1.0 / len(ABNORMAL_TYPES))
    else:
        base = np.array([PATTERNS[condition.pattern].get(t, 0.0) for t in ABNORMAL_TYPES]) + 0.01
        abnormal = rng.dirichlet(base / base.sum() * 30.0)
    return np.concatenate([[1.0 - condition.abnormal_share], condition.abnormal_share * abnormal])


def sample_population(condition: ImageCondition, n: int, *, rng: np.random.Generator) -> CellPopulation:
    """Draw ``n`` cells for an image with the given condition."""
    types = rng.choice(len(CELL_TYPES), size=n, p=_type_weights(condition, rng))
    s = condition.strength
    radius = condition.normal_diameter / 2 * np.exp(rng.normal(0.0, condition.size_cv, n))
    # Real cells (rbc-bench realism, per cell): major/minor axis 1.09 median, pallor about 0.36 of the radius
    # wide, its depth spread over 0.3-0.65 (interquartile); anaemic cells hold less haemoglobin (MCHC).
    aspect = 1.0 - np.abs(rng.normal(0.0, condition.aspect_sd, n))
    pallor_radius = np.clip(rng.normal(condition.pallor_radius, 0.07, n), 0.18, 0.55)
    pallor_depth = np.clip(rng.normal(condition.pallor_depth, 0.17, n), 0.15, 0.92)
    density = np.clip(rng.normal(1.0, condition.density_sd, n), 0.7, 1.3) * (1.0 - 0.2 * s)
    rim = np.clip(rng.normal(0.18, 0.07, n), 0.0, 0.4)
    target_spot = np.zeros(n, bool)

    def pick(name: str) -> np.ndarray:
        return types == CELL_TYPES.index(name)

    k = pick("microcyte")
    radius[k] *= 1.0 - rng.uniform(0.12, 0.2, k.sum()) - 0.12 * s
    k = pick("macrocyte")
    radius[k] *= 1.0 + rng.uniform(0.12, 0.2, k.sum()) + 0.15 * s
    k = pick("elliptocyte")
    aspect[k] = rng.uniform(0.62, 0.78, k.sum()) - 0.25 * s
    k = pick("target")
    target_spot[k] = True
    pallor_radius[k] = rng.uniform(0.5, 0.62, k.sum())
    pallor_depth[k] = rng.uniform(0.55, 0.75, k.sum())
    k = pick("schistocyte")
    radius[k] *= rng.uniform(0.6, 0.8, k.sum())
    pallor_depth[k] = rng.uniform(0.0, 0.1, k.sum())
    k = pick("hypochromic")
    # Ring cells: a thin dark rim around a wide, nearly empty centre; some are pale ghost outlines.
    pallor_radius[k] = rng.uniform(0.52, 0.66, k.sum()) + 0.06 * s
    pallor_depth[k] = rng.uniform(0.75, 0.9, k.sum()) + 0.05 * s
    rim[k] = rng.uniform(0.3, 0.55, k.sum())
    ghost = k & (rng.uniform(size=n) < 0.2 + 0.2 * s)
    density[k] *= 0.85 - 0.1 * s
    density[ghost] = rng.uniform(0.3, 0.5, ghost.sum())
    angle = rng.uniform(0.0, np.pi, n)
    outline = _outlines(types, radius, aspect=aspect, strength=s, rng=rng)
    return CellPopulation(
        types,
        radius,
        aspect=aspect,
        angle=angle,
        outline=outline,
        pallor_radius=pallor_radius,
        pallor_depth=pallor_depth,
        target_spot=target_spot,
        density=density,
        rim=rim,
    )


def _ellipse_outline(radius: np.ndarray, aspect: np.ndarray) -> np.ndarray:
    """Radius per angle of ellipses with the given mean radius and axis ratio (major axis along angle 0)."""
    a = radius / np.sqrt(aspect)
    b = radius * np.sqrt(aspect)
    cos, sin = np.cos(ANGLES)[None, :], np.sin(ANGLES)[None, :]
    return (a * b)[:, None] / np.sqrt((b[:, None] * cos) ** 2 + (a[:, None] * sin) ** 2)


def _outlines(
    types: np.ndarray, radius: np.ndarray, *, aspect: np.ndarray, strength: float, rng: np.random.Generator
) -> np.ndarray:
    """Star-shaped outlines: ellipses with natural wobble, plus tails (teardrops) and cuts (schistocytes)."""
    n = len(types)
    outline = _ellipse_outline(radius, aspect)
    # Natural irregularity: a few low Fourier harmonics of small amplitude.
    for harmonic in (2, 3, 4):
        amp = rng.normal(0.0, 0.012, n)[:, None]
        phase = rng.uniform(0, 2 * np.pi, n)[:, None]
        outline *= 1.0 + amp * np.cos(harmonic * ANGLES[None, :] + phase)
    k = np.flatnonzero(types == CELL_TYPES.index("teardrop"))
    if k.size:
        # A tapered tail towards angle 0: a narrow bump on the outline.
        tail = rng.uniform(0.5, 0.8, k.size)[:, None] + 0.5 * strength
        outline[k] *= 1.0 + tail * np.exp(-((ANGLES[None, :] / 0.28) ** 2))
    k = np.flatnonzero(types == CELL_TYPES.index("schistocyte"))
    if k.size:
        outline[k] = _cut_outline(outline[k], rng)
    return outline.astype(np.float32)


def _cut_outline(outline: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Fragments: cut each outline by a straight chord and bite a notch out of the opposite side."""
    n = len(outline)
    chord = rng.uniform(0.15, 0.55, n)[:, None] * outline.max(axis=1, keepdims=True)
    cos = np.cos(ANGLES)[None, :]
    with np.errstate(divide="ignore"):
        limit = np.where(cos > 1e-3, chord / np.maximum(cos, 1e-3), np.inf)
    cut = np.minimum(outline, limit)
    notch_at = rng.uniform(2.2, 4.1, n)[:, None]
    delta = np.angle(np.exp(1j * (ANGLES[None, :] - notch_at)))
    return cut * (1.0 - rng.uniform(0.2, 0.45, n)[:, None] * np.exp(-((delta / 0.35) ** 2)))
