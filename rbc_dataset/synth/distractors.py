"""What a real smear shows besides red cells: white cells, stain precipitate, debris, platelet clumps, plasma film.

Every function is pure: it takes its own ``np.random.Generator`` and the canvas shape (rows, columns) and
returns per-channel optical density (3, rows, columns: channel first, so each channel is contiguous), added to
the cells' density before the light passes (Beer-Lambert, ``render._expose``), and where it matters a boolean
map of what it drew. Densities are per
channel (red, green, blue): a stain that looks purple absorbs green most, blue least.

The colours and sizes follow Romanowsky-stained smears (May-Gruenwald-Giemsa, as AneRBC): neutrophil nuclei
deep purple, their cytoplasm pale lilac with fine granules; lymphocytes a round dark nucleus with a thin pale
blue rim; precipitate small dark purple-blue specks; debris faint grey-brown fragments; the plasma/protein film
a faint pink-violet haze with soft mottling and fine grain.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Optical density per channel (R, G, B) at full strength.
NEUTROPHIL_NUCLEUS = np.array([0.55, 1.55, 0.30], np.float32)
NEUTROPHIL_CYTOPLASM = np.array([0.05, 0.22, 0.05], np.float32)
LYMPHOCYTE_NUCLEUS = np.array([0.80, 1.30, 0.35], np.float32)
LYMPHOCYTE_RIM = np.array([0.20, 0.10, 0.03], np.float32)
PRECIPITATE = np.array([1.00, 1.25, 0.45], np.float32)
DUST = np.array([0.35, 1.00, 0.30], np.float32)  # tiny pink-violet specks: platelet dust, fine stain grains
DEBRIS_GREY = np.array([0.12, 0.12, 0.12], np.float32)
DEBRIS_BROWN = np.array([0.06, 0.10, 0.17], np.float32)
FILM = np.array([0.85, 1.00, 0.80], np.float32)  # plasma proteins: nearly grey, a trace of eosin
PLATELET = np.array([0.30, 1.20, 0.25], np.float32)  # as render's platelets (magenta)
DARK_OD = 0.6  # green density above which a distractor pixel counts as a dark object


@dataclass(frozen=True, kw_only=True)
class DistractorRates:
    """How often each distractor appears: shares of images, or expected counts per image."""

    white_cell: float = 0.4  # share of images with at least one white cell
    extra_white_cell: float = 0.35  # chance of each further white cell (geometric: two in about 1 of 7)
    precipitate: float = 0.55  # share of images with groups of stain precipitate
    dust: float = 1.0  # share of images with fine specks scattered over the field
    debris: float = 0.5  # share of images with debris fragments
    platelet_clumps: float = 0.3  # share of images with dense platelet clumps
    film: float = 1.0  # share of images whose background carries the plasma film


DEFAULT_RATES = DistractorRates()
NO_DISTRACTORS = DistractorRates(
    white_cell=0.0, extra_white_cell=0.0, precipitate=0.0, dust=0.0, debris=0.0, platelet_clumps=0.0, film=0.0
)


@dataclass(frozen=True)
class WhiteCell:
    """One white cell on the canvas: centre (x, y) and the radius its nucleus stays within."""

    x: float
    y: float
    radius: float
    nucleus_radius: float
    kind: str  # "neutrophil" or "lymphocyte"


def white_cell_count(rng: np.random.Generator, rates: DistractorRates) -> int:
    """0 in most images, 1 in about ``rates.white_cell`` of them, rarely 2 or more (at most 4)."""
    if rng.uniform() >= rates.white_cell:
        return 0
    count = 1
    while count < 4 and rng.uniform() < rates.extra_white_cell:
        count += 1
    return count


def draw_white_cells(
    rng: np.random.Generator, shape: tuple[int, int], *, count: int, cell_diameter: float, region: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray, list[WhiteCell]]:
    """Neutrophils (lobed nucleus, granular lilac cytoplasm) and lymphocytes (round nucleus, thin blue rim).

    Args:
        rng: The distractors' generator.
        shape: Canvas (rows, columns).
        count: How many to draw.
        cell_diameter: A normal red cell's diameter in px; a white cell is 1.3-2x that.
        region: (x0, y0, x1, y1) where centres may lie (the visible image on the padded canvas).

    Returns:
        (density, nucleus map, the cells drawn).
    """
    od = np.zeros((3, *shape), np.float32)
    nucleus = np.zeros(shape, bool)
    cells = []
    for _ in range(count):
        kind = "neutrophil" if rng.uniform() < 0.65 else "lymphocyte"
        scale = rng.uniform(1.6, 2.0) if kind == "neutrophil" else rng.uniform(1.3, 1.6)
        radius = scale * cell_diameter / 2
        x, y = rng.uniform(region[0] + radius, region[2] - radius), rng.uniform(region[1] + radius, region[3] - radius)
        draw = _neutrophil if kind == "neutrophil" else _lymphocyte
        patch_od, patch_nucleus, reach = draw(rng, radius)
        for c in range(3):
            _paste(od[c], patch_od[c], x=x, y=y)
        _paste(nucleus, patch_nucleus, x=x, y=y)
        cells.append(WhiteCell(float(x), float(y), radius=float(radius), nucleus_radius=reach, kind=kind))
    return od, nucleus, cells


def _tint(amount: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Per-channel density (3, rows, columns) of a stain ``colour`` laid down in ``amount``."""
    return colour[:, None, None] * amount[None]


def _paste(canvas: np.ndarray, patch: np.ndarray, *, x: float, y: float) -> None:
    """Add (or OR) a square patch centred on (x, y), clipped to the canvas."""
    half = patch.shape[0] // 2
    x0, y0 = int(round(x)) - half, int(round(y)) - half
    cy0, cx0 = max(y0, 0), max(x0, 0)
    cy1, cx1 = min(y0 + patch.shape[0], canvas.shape[0]), min(x0 + patch.shape[1], canvas.shape[1])
    if cy1 <= cy0 or cx1 <= cx0:
        return
    piece = patch[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
    if canvas.dtype == bool:
        canvas[cy0:cy1, cx0:cx1] |= piece
    else:
        canvas[cy0:cy1, cx0:cx1] += piece


def _disc_patch(rng: np.random.Generator, radius: float, *, wobble: float) -> tuple[np.ndarray, int]:
    """A filled, slightly irregular disc (float 0..1, soft edge) on a square patch; returns it and its half size."""
    half = int(np.ceil(radius * 1.2)) + 3
    angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    rho = radius * (1 + wobble * np.convolve(rng.standard_normal(24 + 4), np.ones(5) / 5, mode="valid"))
    points = np.stack([half + rho * np.cos(angles), half + rho * np.sin(angles)], axis=1)
    disc = np.zeros((2 * half + 1, 2 * half + 1), np.float32)
    cv2.fillPoly(disc, [np.round(points * 4).astype(np.int32)], 1.0, lineType=cv2.LINE_AA, shift=2)
    return disc, half


def _granules(rng: np.random.Generator, size: int, *, sigma: float) -> np.ndarray:
    """Fine granular texture around 1."""
    noise = cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), sigma)
    return 1.0 + noise / max(float(noise.std()), 1e-6) * 0.3


def _neutrophil(rng: np.random.Generator, radius: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Granular lilac cytoplasm and 2-5 nuclear lobes joined by thin strands."""
    body, half = _disc_patch(rng, radius, wobble=0.05)
    size = body.shape[0]
    lobes = np.zeros_like(body)
    n_lobes = int(rng.integers(2, 6))
    start = rng.uniform(0, 2 * np.pi)
    arc = rng.uniform(1.8, 3.6)  # the lobes lie along a curved band around the centre
    previous = None
    for k in range(n_lobes):
        theta = start + arc * k / max(n_lobes - 1, 1)
        distance = radius * rng.uniform(0.2, 0.34)
        centre = (half + distance * np.cos(theta), half + distance * np.sin(theta))
        axes = (radius * rng.uniform(0.26, 0.38), radius * rng.uniform(0.18, 0.27))
        box = (centre, (2 * axes[0], 2 * axes[1]), float(np.degrees(theta + rng.uniform(-0.6, 0.6))))
        cv2.ellipse(lobes, box, 1.0, -1, cv2.LINE_AA)
        if previous is not None:  # a chromatin strand to the previous lobe
            cv2.line(lobes, previous, tuple(int(round(c)) for c in centre), 1.0, 2, cv2.LINE_AA)
        previous = tuple(int(round(c)) for c in centre)
    lobes = cv2.GaussianBlur(lobes, (0, 0), 0.6)
    strength = rng.uniform(0.8, 1.15)
    chromatin = _granules(rng, size, sigma=1.2)
    cytoplasm = body * rng.uniform(0.7, 1.4) * _granules(rng, size, sigma=0.7)
    od = _tint(cytoplasm, NEUTROPHIL_CYTOPLASM) + _tint(lobes * chromatin * strength, NEUTROPHIL_NUCLEUS)
    return od, lobes > 0.3, 0.75 * radius


def _lymphocyte(rng: np.random.Generator, radius: float) -> tuple[np.ndarray, np.ndarray, float]:
    """A round, dense nucleus nearly filling the cell, off centre, inside a thin pale blue rim."""
    body, half = _disc_patch(rng, radius, wobble=0.04)
    size = body.shape[0]
    nucleus_radius = radius * rng.uniform(0.72, 0.85)
    shift = (radius - nucleus_radius) * rng.uniform(0.0, 0.8)
    theta = rng.uniform(0, 2 * np.pi)
    core, core_half = _disc_patch(rng, nucleus_radius, wobble=0.05)
    nucleus = np.zeros_like(body)
    _paste(nucleus, core, x=half + shift * np.cos(theta), y=half + shift * np.sin(theta))
    nucleus = np.minimum(nucleus, 1.0)
    od = _tint(body * rng.uniform(0.7, 1.3), LYMPHOCYTE_RIM)
    od += _tint(nucleus * _granules(rng, size, sigma=1.5) * rng.uniform(0.85, 1.15), LYMPHOCYTE_NUCLEUS)
    return od, nucleus > 0.3, float(nucleus_radius + shift)


def draw_specks(
    rng: np.random.Generator, shape: tuple[int, int], *, precipitate: bool, dust: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Stain precipitate (dark purple-blue specks in loose groups) and fine dust scattered over the field.

    Specks are impulses blurred into soft dots, so thousands cost one blur. Returns (density, dark map of the
    dense precipitate; dust is never dark).
    """
    rows, cols = shape
    od = np.zeros((3, *shape), np.float32)
    dark = np.zeros(shape, bool)
    if precipitate:
        n_groups = int(rng.integers(3, 40))
        sizes = rng.integers(1, 25, n_groups)
        spread = rng.uniform(2.0, 18.0, n_groups)
        cx, cy = np.repeat(rng.uniform(0, cols, n_groups), sizes), np.repeat(rng.uniform(0, rows, n_groups), sizes)
        scatter = np.repeat(spread, sizes)
        xs, ys = cx + rng.normal(0, 1, len(cx)) * scatter, cy + rng.normal(0, 1, len(cy)) * scatter
        weights = rng.lognormal(np.log(3.0), 0.6, len(xs))  # integrated density of each speck, px
        amount = _soft_dots(shape, xs, ys, weights=weights, sigma=0.9)
        od += _tint(amount, PRECIPITATE)
        dark = amount * PRECIPITATE[1] > DARK_OD
    if dust:
        n = int(rng.integers(100, 900) * rows * cols / 1.2e6)
        xs, ys = rng.uniform(0, cols, n), rng.uniform(0, rows, n)
        od += _tint(_soft_dots(shape, xs, ys, weights=rng.lognormal(np.log(1.0), 0.5, n), sigma=0.7), DUST)
    return od, dark


def _soft_dots(shape: tuple[int, int], xs: np.ndarray, ys: np.ndarray, *, weights, sigma: float) -> np.ndarray:
    """Gaussian dots of integrated density ``weights`` at (xs, ys) (those off the canvas dropped)."""
    canvas = np.zeros(shape, np.float32)
    col, row = np.round(xs).astype(np.int64), np.round(ys).astype(np.int64)
    keep = (row >= 0) & (row < shape[0]) & (col >= 0) & (col < shape[1])
    np.add.at(canvas, (row[keep], col[keep]), np.asarray(weights, np.float32)[keep])
    return cv2.GaussianBlur(canvas, (0, 0), sigma)


def draw_debris(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Faint irregular grey or brownish fragments (dust, dried plasma flakes), 4-30 px across."""
    od = np.zeros((3, *shape), np.float32)
    for _ in range(int(rng.integers(1, 12))):
        radius = rng.uniform(2.0, 15.0)
        n_vertices = int(rng.integers(4, 9))
        angles = np.sort(rng.uniform(0, 2 * np.pi, n_vertices))
        rho = radius * rng.uniform(0.4, 1.0, n_vertices)
        half = int(np.ceil(radius)) + 3
        points = np.stack([half + rho * np.cos(angles), half + rho * np.sin(angles)], axis=1)
        layer = np.zeros((2 * half + 1, 2 * half + 1), np.float32)
        cv2.fillPoly(layer, [np.round(points * 4).astype(np.int32)], 1.0, lineType=cv2.LINE_AA, shift=2)
        layer = cv2.GaussianBlur(layer, (0, 0), 0.7)
        colour = DEBRIS_GREY if rng.uniform() < 0.5 else DEBRIS_BROWN
        patch = _tint(layer * rng.uniform(0.6, 2.0), colour)
        x, y = rng.uniform(0, shape[1]), rng.uniform(0, shape[0])
        for c in range(3):
            _paste(od[c], patch[c], x=x, y=y)
    return od


def draw_platelet_clumps(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Dense clumps of 6-30 platelets, 1-6 per image; returns (platelet density in render's units, platelet map)."""
    od = np.zeros(shape, np.float32)
    for _ in range(int(rng.integers(1, 7))):
        x, y = rng.uniform(0, shape[1]), rng.uniform(0, shape[0])
        n = int(rng.integers(6, 31))
        spread = rng.uniform(2.5, 2.0 + np.sqrt(n) * 1.6)
        for _ in range(n):
            centre = (int(x + rng.normal(0, spread)), int(y + rng.normal(0, spread)))
            axes = (int(rng.integers(1, 4)), int(rng.integers(1, 3)))
            cv2.ellipse(od, centre, axes, float(rng.uniform(0, 180)), 0, 360, float(rng.uniform(0.6, 1.1)), -1)
    od = np.minimum(od, 1.6)  # overlapping platelets stay one layer thick
    return od, od > 0


def draw_film(rng: np.random.Generator, shape: tuple[int, int], *, mottle: float, grain: float) -> np.ndarray:
    """The plasma/protein film: soft mottling on two scales and fine grain, pink-violet, never negative.

    Args:
        rng: The distractors' generator.
        shape: Canvas (rows, columns).
        mottle: Peak-ish green density of the mottling (acquisition key ``film_mottle``).
        grain: Std of the fine grain's green density (acquisition key ``film_grain``).
    """
    rows, cols = shape
    coarse = cv2.resize(rng.standard_normal((7, 9)).astype(np.float32), (cols, rows), interpolation=cv2.INTER_CUBIC)
    medium = rng.standard_normal((rows // 8 + 1, cols // 8 + 1)).astype(np.float32)
    medium = cv2.resize(cv2.GaussianBlur(medium, (0, 0), 1.0), (cols, rows), interpolation=cv2.INTER_LINEAR)
    field = 0.6 * coarse + 0.8 * medium / max(float(medium.std()), 1e-6)
    fine = cv2.GaussianBlur(rng.standard_normal(shape, dtype=np.float32), (0, 0), 0.8)
    fine *= grain / max(float(fine.std()), 1e-6)
    density = np.maximum(mottle * (1.0 + 0.5 * field) + fine, 0.0)
    return _tint(density, FILM)
