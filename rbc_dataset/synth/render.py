"""Render one synthetic blood smear: cell placement, optical density, stain colour, optics and camera noise.

The model is Beer-Lambert: every cell adds optical density (thick rim, thin pale centre), overlapping
cells add up, and each pixel's colour is the background light attenuated per channel by the stain's
absorption. Illumination fall-off, optical blur and camera noise are applied last. All numbers that
set colours and optics were calibrated against the real AneRBC-I sample
(``rbc-bench realism`` prints both side by side).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pandas as pd

from rbc_dataset.synth import distractors
from rbc_dataset.synth.cells import ANGLES, CELL_TYPES, N_ANGLES, CellPopulation, ImageCondition, sample_population
from rbc_dataset.synth.distractors import DEFAULT_RATES, DistractorRates

# "neutral": the default's tint of any hue; "cool" (bluish) and "warm" (beige): the two regimes the release
# shows, which `--shortcut colour` ties to the classes.
WHITE_BALANCE_REGIMES = ("neutral", "cool", "warm")
LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # grey = LUMA . RGB (the weights OpenCV uses)


@dataclass
class Smear:
    """A rendered smear and its exact ground truth."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    instances: np.ndarray  # (H, W) uint16, 0 = background, k = cell k (top-most cell owns overlaps)
    platelets: np.ndarray  # (H, W) bool, platelet pixels (not cells)
    cells: pd.DataFrame  # one row per cell, see cell_table()
    params: dict  # acquisition parameters drawn for this image
    dark_objects: np.ndarray  # (H, W) bool, white-cell nuclei and dense precipitate (neither red cells nor platelets)


def sample_acquisition(regime: str, rng: np.random.Generator, *, lab: dict[str, float] | None = None) -> dict:
    """Stain, white balance, illumination and optics of one image.

    The ranges cover what real AneRBC-I acquisitions show (``rbc-bench realism``): a light, nearly neutral
    background with a small residual tint of an automatic white balance, green to violet ("neutral"), bluish
    ("cool") or beige ("warm"); lavender-blue cells (the stain absorbs green most and blue least); soft focus;
    a faint plasma film (``film_mottle``, ``film_grain``: green optical density, see ``distractors.draw_film``).
    """
    if lab is not None:
        return _lab_acquisition(regime, rng, lab=lab)
    grey = rng.uniform(208.0, 222.0)
    red, blue = _white_balance_error(regime, rng.uniform(), rng.uniform())
    k_red = rng.uniform(0.25, 0.32)
    green_over_red = float(np.clip(np.exp(rng.normal(np.log(1.27), 0.14)), 0.95, 1.9))
    return {
        "white_balance": regime,
        "background_rgb": [round(float(c), 3) for c in (grey + red, grey, grey + blue)],
        "stain_absorption_rgb": [k_red, k_red * green_over_red, k_red * rng.uniform(0.42, 0.56)],
        "vignetting": rng.uniform(0.1, 0.17),
        "gradient": rng.uniform(-0.03, 0.03),
        "illumination_blotches": rng.uniform(0.01, 0.02),
        "gradient_angle": rng.uniform(0.0, 2 * np.pi),
        "blur_sigma": rng.uniform(1.0, 1.8),
        "noise_common": rng.uniform(1.5, 2.2),
        "noise_channel": rng.uniform(4.6, 5.6),
        "noise_grain": rng.uniform(0.45, 0.6),
        "texture": rng.uniform(0.02, 0.04),
        "foreground_target": rng.uniform(0.32, 0.47),
        **_film(rng),
    }


def _white_balance_error(regime: str, angle: float, size: float) -> tuple[float, float]:
    """Red and blue offsets from green of an automatic white balance's residual tint (grey levels).

    The tint is a vector in the chroma plane (R, G and B at 0, 120 and 240 degrees): "warm" points it between
    red and yellow (beige); "neutral" anywhere from green through cyan and blue to magenta, uniformly (the hue of
    a near-grey background varies that widely between real acquisitions); "cool" between blue and violet, so a
    planted colour shortcut (warm vs cool) stays separable by colour, as the release's two regimes are.
    ``angle`` and ``size`` are uniform draws in [0, 1).
    """
    if regime == "warm":
        theta, magnitude = np.radians(5.0 + 45.0 * angle), 3.0 + 4.0 * size
    elif regime == "cool":
        theta, magnitude = np.radians(215.0 + 90.0 * angle), 2.0 + 4.0 * size
    else:
        theta, magnitude = np.radians(90.0 + 255.0 * angle), 0.5 + 5.5 * size
    r, g, b = (magnitude * np.cos(theta - np.radians(phase)) for phase in (0.0, 120.0, 240.0))
    return float(r - g), float(b - g)


def _film(rng: np.random.Generator) -> dict:
    """The plasma film's strength, from a child generator so that the draws above keep their values."""
    child = rng.spawn(1)[0]
    return {"film_mottle": child.uniform(0.004, 0.02), "film_grain": child.uniform(0.002, 0.006)}


def sample_defocus(rng: np.random.Generator, *, largest: float) -> dict:
    """A slight defocus of one image (``SynthConfig.defocus``): halo strength in [0, largest) and its width.

    Slightly out of focus, a transparent cell acts as a weak lens: the transport-of-intensity equation gives a
    change of intensity proportional to minus the Laplacian of the optical path, so every edge of the smear gets
    a bright band outside and a dark band inside (the halo of BCCD's and many brightfield photographs), and the
    edge of a cell lying on another shows as a line across it. Only the sign seen in smear photographs (bright
    outside) is drawn; the width is in pixels at AneRBC's scale (cells about 19 px across).
    """
    return {"defocus_halo": float(rng.uniform(0.0, largest)), "defocus_width_px": float(rng.uniform(1.0, 2.5))}


def defocus_light(path: np.ndarray, *, halo: float, width: float) -> np.ndarray:
    """Multiplicative light field of a defocus halo: 1 + halo x the scale-normalised Laplacian of ``path``.

    ``path`` is the optical path (here the optical density, which haemoglobin sets as it sets the refractive
    index), smoothed over ``width`` px first. A step of height h peaks at about 0.24 h on either side, so a halo
    of 0.6 brightens the background next to a typical cell by about 14 %.
    """
    smooth = cv2.GaussianBlur(path.astype(np.float32), (0, 0), width)
    laplacian = cv2.Laplacian(smooth, cv2.CV_32F) * np.float32(width * width)
    return np.clip(1.0 + np.float32(halo) * laplacian, 0.25, 2.0)


def _lab_acquisition(regime: str, rng: np.random.Generator, *, lab: dict[str, float]) -> dict:
    """Acquisition drawn close to a lab's measured look (``rbc-dataset calibrate``): small spreads around it.

    The white-balance regime still shifts the tint a little (warm: red up, blue down), so the colour shortcut
    can be planted on a calibrated set too.
    """
    shift = {"warm": (3.0, -4.0), "cool": (-1.0, 2.0)}.get(regime, (0.0, 0.0))
    background = [lab["background_r"] + shift[0], lab["background_g"], lab["background_b"] + shift[1]]
    spread = lab["absorption_spread"]  # each channel on its own: the lab's images differ in stain hue too
    absorption = [lab[f"absorption_{c}"] * float(np.exp(rng.normal(0.0, spread))) for c in "rgb"]
    return {
        "white_balance": regime,
        "background_rgb": [round(float(c + rng.normal(0.0, lab["background_spread"])), 3) for c in background],
        "stain_absorption_rgb": absorption,
        "vignetting": rng.uniform(0.1, 0.18),
        "gradient": rng.uniform(-0.04, 0.04),
        "illumination_blotches": rng.uniform(0.01, 0.025),
        "gradient_angle": rng.uniform(0.0, 2 * np.pi),
        "blur_sigma": lab["blur_sigma"] * rng.uniform(0.92, 1.08),
        "noise_common": rng.uniform(1.5, 2.2),  # grey noise as the default draws it (calibrate measures chroma only)
        "noise_channel": lab["noise_channel"] * rng.uniform(0.92, 1.08),
        "noise_grain": rng.uniform(0.45, 0.6),
        "texture": rng.uniform(0.02, 0.04),
        "foreground_target": float(np.clip(lab["foreground_fraction"] + rng.normal(0.0, 0.02), 0.15, 0.6)),
        **_film(rng),
        **({"platelet_density": lab["platelet_density"]} if "platelet_density" in lab else {}),
    }


def render_smear(
    condition: ImageCondition,
    acquisition: dict,
    *,
    rng: np.random.Generator,
    width: int = 1224,
    height: int = 960,
    rates: DistractorRates = DEFAULT_RATES,
    overlap: float = 0.0,
    rounded_edge: float = 0.0,
) -> Smear:
    """Draw a full smear image with its instance map, platelet map, dark-object map and cell table.

    ``rates`` sets how often white cells, precipitate, debris, platelet clumps and the plasma film appear
    (``distractors.NO_DISTRACTORS`` for none); ``overlap`` lets cells overlap deeper (``place_cells``);
    ``rounded_edge`` thins each cell to nothing over that share of its radius (``_cell_patches``).
    Distractors draw from child generators of ``rng``, so they do not move the cells' draws.
    """
    # One child per kind, spawned before any draw: switching one kind off leaves the others as they were.
    kids = dict(zip(("white", "specks", "debris", "clumps", "film"), rng.spawn(5), strict=True))
    mean_area = np.pi * (condition.normal_diameter / 2) ** 2
    wanted = int(np.clip(acquisition["foreground_target"] * width * height / mean_area * 1.1, 1000, 1600))
    population = sample_population(condition, wanted, rng=rng)
    centres, kept = place_cells(population.radius, width, height=height, rng=rng, overlap=overlap)
    population = _subset(population, kept)
    pad = 2 * (int(np.ceil(population.outline.max())) + 3)  # canvas margin: centres may lie outside the image
    shape = (height + 2 * pad, width + 2 * pad)
    count = distractors.white_cell_count(kids["white"], rates)
    od_white, dark, whites = distractors.draw_white_cells(
        kids["white"],
        shape,
        count=count,
        cell_diameter=condition.normal_diameter,
        region=(pad, pad, pad + width, pad + height),
    )
    clear = _clear_of_white_cells(population, centres + pad, whites)
    population, centres = _subset(population, clear), centres[clear]
    od_cells, instances, table = _draw_cells(
        population, centres, width=width, height=height, pad=pad, rounded_edge=rounded_edge
    )
    od_platelets, platelets = _draw_platelets(width, height, pad, rng, density=acquisition.get("platelet_density"))
    od_extra, dark = _distractor_density(shape, acquisition, kids=kids, rates=rates, od_white=od_white, dark=dark)
    if kids["clumps"].uniform() < rates.platelet_clumps:
        od_clumps, clumps = distractors.draw_platelet_clumps(kids["clumps"], shape)
        od_platelets, platelets = od_platelets + od_clumps, platelets | clumps
    image = _expose(od_cells, od_platelets, acquisition, rng, od_extra=od_extra)
    crop = (slice(pad, pad + height), slice(pad, pad + width))
    instances = instances[crop]
    table["visible_area_px"] = np.bincount(instances.ravel(), minlength=len(table) + 1)[1:]
    platelets = platelets[crop]
    params = {**acquisition, "n_cells": int(len(table)), "n_platelet_blobs": _count(platelets)}
    params["white_cells"] = [w.kind for w in whites]
    return Smear(image[crop], instances, platelets=platelets, cells=table, params=params, dark_objects=dark[crop])


def _clear_of_white_cells(population: CellPopulation, centres: np.ndarray, whites) -> np.ndarray:
    """Indices of the red cells that do not reach any white cell's nucleus (they may overlap its cytoplasm)."""
    keep = np.ones(len(population), bool)
    reach = population.outline.max(axis=1) + 1.0
    for white in whites:
        distance = np.hypot(centres[:, 0] - white.x, centres[:, 1] - white.y)
        keep &= distance >= white.nucleus_radius + reach
    return np.flatnonzero(keep)


def _distractor_density(shape, acquisition: dict, *, kids: dict, rates: DistractorRates, od_white, dark):
    """Per-channel density of white cells, specks, debris and film on the canvas, and the dark-object map."""
    specks = kids["specks"]
    precipitate, dust = specks.uniform() < rates.precipitate, specks.uniform() < rates.dust
    od, dense = distractors.draw_specks(specks, shape, precipitate=precipitate, dust=dust)
    od += od_white
    if kids["debris"].uniform() < rates.debris:
        od += distractors.draw_debris(kids["debris"], shape)
    if kids["film"].uniform() < rates.film:
        mottle, grain = acquisition.get("film_mottle", 0.0), acquisition.get("film_grain", 0.0)
        od += distractors.draw_film(kids["film"], shape, mottle=mottle, grain=grain)
    return od, dark | dense


def _count(mask: np.ndarray) -> int:
    return int(cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)[0] - 1)


def _subset(population: CellPopulation, kept: np.ndarray) -> CellPopulation:
    return CellPopulation(**{name: getattr(population, name)[kept] for name in population.__dataclass_fields__})


def _density_field(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth field in [0.35, 1] on a coarse grid: smears are denser in some places than others."""
    coarse = rng.uniform(0.0, 1.0, (6, 8)).astype(np.float32)
    field = cv2.resize(cv2.GaussianBlur(coarse, (0, 0), 1.0), (width // 16 + 1, height // 16 + 1))
    field = (field - field.min()) / max(float(np.ptp(field)), 1e-6)
    return 0.35 + 0.65 * field


def place_cells(
    radius: np.ndarray,
    width: int,
    *,
    height: int,
    rng: np.random.Generator,
    clump: float = 0.12,
    overlap: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Random sequential placement allowing touching and partial overlap.

    Returns the (n, 2) centres (x, y) of the cells that found a place and the indices of those cells.
    A share ``clump`` of attempts starts next to an already placed cell, so cells touch and form
    small clusters as in a real smear. ``overlap`` (a share of r1 + r2) lets two cells' centres come that much
    closer than AneRBC's near-touching cells do, as in thick smears (BCCD) where cells lie on each other; the
    draws are the same in number, so ``overlap=0`` gives the same smears as before it existed.
    """
    field = _density_field(width, height, rng)
    tolerance = rng.uniform(0.95 - overlap, 1.08, len(radius))  # how close two cells may come, share of r1 + r2
    cell = 2.0 * float(radius.max())
    grid: dict[tuple[int, int], list[int]] = {}
    centres = np.zeros((len(radius), 2))
    placed: list[int] = []
    for i in range(len(radius)):
        for _attempt in range(30):
            x, y = _candidate(
                placed, centres, radius=radius, i=i, width=width, height=height, rng=rng, clump=clump, overlap=overlap
            )
            if not (-radius[i] < x < width + radius[i] and -radius[i] < y < height + radius[i]):
                continue
            if rng.uniform() > field[min(max(int(y), 0), height - 1) // 16, min(max(int(x), 0), width - 1) // 16]:
                continue
            if _fits(x, y, i=i, grid=grid, centres=centres, radius=radius, tolerance=tolerance, cell=cell):
                centres[i] = (x, y)
                grid.setdefault((int(x // cell), int(y // cell)), []).append(i)
                placed.append(i)
                break
    kept = np.array(placed, dtype=np.int64)
    return centres[kept], kept


def _candidate(placed, centres, *, radius, i, width, height, rng, clump, overlap):
    """A random position, or one touching (or, with ``overlap``, lying on) a random placed cell."""
    if placed and rng.uniform() < clump:
        j = placed[int(rng.integers(len(placed)))]
        distance = (radius[i] + radius[j]) * rng.uniform(0.92 - overlap, 1.05)
        theta = rng.uniform(0.0, 2 * np.pi)
        return centres[j, 0] + distance * np.cos(theta), centres[j, 1] + distance * np.sin(theta)
    margin = radius[i] * 0.6  # centres may lie just outside: cells are cut by the image border
    return rng.uniform(-margin, width + margin), rng.uniform(-margin, height + margin)


def _fits(x, y, *, i, grid, centres, radius, tolerance, cell) -> bool:
    gx, gy = int(x // cell), int(y // cell)
    for nx in (gx - 1, gx, gx + 1):
        for ny in (gy - 1, gy, gy + 1):
            for j in grid.get((nx, ny), ()):
                limit = (radius[i] + radius[j]) * min(tolerance[i], tolerance[j])
                if (centres[j, 0] - x) ** 2 + (centres[j, 1] - y) ** 2 < limit * limit:
                    return False
    return True


def _cell_patches(population: CellPopulation, centres: np.ndarray, size: int, *, rounded_edge: float = 0.0):
    """Optical density and signed edge distance of every cell on a size x size patch around its centre.

    With ``rounded_edge`` > 0 a cell thins to nothing over that outer share of its radius, as the rounded rim of a
    real red cell does (Evans and Fung's profile falls from its peak at 0.8 of the radius to 0 at the edge): two
    cells that touch then show a faint light line where they meet. 0 keeps the thickness up to the outline.
    """
    origin = np.floor(centres).astype(np.int64) - size // 2
    offsets = np.arange(size, dtype=np.float32)
    dx = (origin[:, 0:1] + offsets[None, :] - centres[:, 0:1] + 0.5).astype(np.float32)[:, None, :]
    dy = (origin[:, 1:2] + offsets[None, :] - centres[:, 1:2] + 0.5).astype(np.float32)[:, :, None]
    cos = np.cos(population.angle).astype(np.float32)[:, None, None]
    sin = np.sin(population.angle).astype(np.float32)[:, None, None]
    u, v = dx * cos + dy * sin, -dx * sin + dy * cos
    distance = np.sqrt(u * u + v * v)
    position = (np.arctan2(v, u) - np.float32(ANGLES[0])) * np.float32(N_ANGLES / (2 * np.pi))
    lower = position.astype(np.int32)  # position >= 0, so truncation is floor
    frac = position - lower
    lower %= N_ANGLES
    base = (np.arange(len(population), dtype=np.int32) * N_ANGLES)[:, None, None]
    table = np.ascontiguousarray(population.outline, np.float32).ravel()
    rho = table[base + lower] * (1 - frac) + table[base + (lower + 1) % N_ANGLES] * frac
    inside = rho - distance  # px, positive inside the outline
    coverage = np.clip(inside + 0.5, 0.0, 1.0)
    r = distance / rho
    pr = population.pallor_radius.astype(np.float32)[:, None, None]
    q = (r / pr) ** 2
    plain = np.exp(-(q * q * q))  # a flat pale centre with a steep edge, as the biconcave disc shows
    ring = np.exp(-(((r - 0.62 * pr) / (0.3 * pr)) ** 2))
    pallor = np.where(population.target_spot[:, None, None], ring, plain)
    rim = population.rim.astype(np.float32)[:, None, None] * np.exp(-(((r - 0.8) / 0.14) ** 2))
    thickness = 1.0 - population.pallor_depth.astype(np.float32)[:, None, None] * pallor + rim
    if rounded_edge > 0:
        thickness = thickness * np.sqrt(np.clip((1.0 - r) / np.float32(rounded_edge), 0.0, 1.0))
    od = population.density.astype(np.float32)[:, None, None] * thickness * coverage
    return od, inside, coverage.sum(axis=(1, 2)), origin


def _patches_by_size(population: CellPopulation, centres: np.ndarray, *, rounded_edge: float = 0.0):
    """Cell patches, computed in buckets of similar size so that small cells do not pay for the largest one."""
    halves = np.ceil(population.outline.max(axis=1)).astype(np.int64) + 3
    buckets = np.minimum(np.ceil(halves / 4) * 4, halves.max()).astype(np.int64)
    patches: list = [None] * len(population)
    area = np.zeros(len(population), np.float32)
    for half in np.unique(buckets):
        members = np.flatnonzero(buckets == half)
        size = 2 * int(half) - 1
        subset = _subset(population, members)
        od, inside, covered, origin = _cell_patches(subset, centres[members], size, rounded_edge=rounded_edge)
        area[members] = covered
        for j, k in enumerate(members):
            patches[k] = (od[j], inside[j] >= 0, origin[j], size)
    return patches, area


def _draw_cells(
    population: CellPopulation, centres: np.ndarray, *, width: int, height: int, pad: int, rounded_edge: float = 0.0
):
    """Composite all cells on a canvas padded by ``pad``; the later cell lies on top where cells overlap."""
    patches, area = _patches_by_size(population, centres, rounded_edge=rounded_edge)
    od_canvas = np.zeros((height + 2 * pad, width + 2 * pad), np.float32)
    instances = np.zeros(od_canvas.shape, np.uint16)
    overlaps: list[set[int]] = [set() for _ in range(len(population))]
    for k, (od, own, origin, size) in enumerate(patches):
        x0, y0 = origin + pad
        window = (slice(y0, y0 + size), slice(x0, x0 + size))
        od_canvas[window] += od
        under = instances[window][own]
        for other in np.unique(under[under > 0]):
            overlaps[k].add(int(other) - 1)
            overlaps[int(other) - 1].add(k)
        instances[window][own] = k + 1
    return od_canvas, instances, cell_table(population, centres, area=area, overlaps=overlaps)


def cell_table(population: CellPopulation, centres: np.ndarray, *, area: np.ndarray, overlaps) -> pd.DataFrame:
    """Per-cell truth: id (= value in the instance map), type, centre, axes, angle, area, pallor, overlaps."""
    radius = population.outline.mean(axis=1)
    return pd.DataFrame(
        {
            "cell_id": np.arange(1, len(population) + 1),
            "type": [CELL_TYPES[t] for t in population.types],
            "cx": centres[:, 0].round(2),
            "cy": centres[:, 1].round(2),
            "major_axis_px": (2 * radius / np.sqrt(population.aspect)).round(2),
            "minor_axis_px": (2 * radius * np.sqrt(population.aspect)).round(2),
            "angle_deg": np.degrees(population.angle).round(2),
            "area_px": area.round(1),
            "pallor_ratio": population.pallor_radius.round(3),
            "pallor_depth": population.pallor_depth.round(3),
            "haemoglobin_density": population.density.round(3),
            "overlaps": [";".join(str(o + 1) for o in sorted(s)) for s in overlaps],
        }
    )


def _draw_platelets(width: int, height: int, pad: int, rng: np.random.Generator, *, density: float | None = None):
    """Small dense magenta dots, some in clumps: distractors that are not red cells.

    ``density``: a lab's platelets per megapixel on average (``rbc-dataset calibrate``); each image varies it
    by x0.8..1.2 (the draw of the default's 40..160 per image, rescaled), as a lab's other settings vary.
    """
    od = np.zeros((height + 2 * pad, width + 2 * pad), np.float32)
    n = int(rng.integers(40, 160))
    if density is not None:
        n = int(round(density * width * height / 1e6 * (0.8 + 0.4 * (n - 40) / 120)))
    xs = rng.uniform(pad, width + pad, n)
    ys = rng.uniform(pad, height + pad, n)
    for x, y in zip(xs, ys, strict=True):
        for _ in range(1 if rng.uniform() < 0.8 else int(rng.integers(2, 6))):
            centre = (int(x + rng.normal(0, 4)), int(y + rng.normal(0, 4)))
            axes = (int(rng.integers(1, 4)), int(rng.integers(1, 3)))
            cv2.ellipse(od, centre, axes, float(rng.uniform(0, 180)), 0, 360, float(rng.uniform(0.8, 1.4)), -1)
    return od, od > 0


def _illumination(width: int, height: int, acquisition: dict, rng: np.random.Generator) -> np.ndarray:
    """Vignetting, a linear gradient and soft blotches, as a multiplicative field around 1."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    nx, ny = (xx - width / 2) / (width / 2), (yy - height / 2) / (height / 2)
    theta = acquisition["gradient_angle"]
    field = 1.0 - acquisition["vignetting"] * (nx * nx + ny * ny) / 2.0
    blotches = cv2.resize(
        rng.standard_normal((4, 5)).astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC
    )
    field += acquisition["illumination_blotches"] * blotches
    return field + acquisition["gradient"] * (nx * np.cos(theta) + ny * np.sin(theta))


def _expose(
    od_cells: np.ndarray, od_platelets: np.ndarray, acquisition: dict, rng: np.random.Generator, *, od_extra: np.ndarray
):
    """Light through the smear: Beer-Lambert per channel (``od_extra``: distractors, per channel), then blur and
    camera noise."""
    height, width = od_cells.shape
    texture = cv2.GaussianBlur(rng.standard_normal(od_cells.shape, dtype=np.float32), (0, 0), 1.2)
    od_cells = od_cells * (1.0 + acquisition["texture"] * 2.5 * texture)
    light = _illumination(width, height, acquisition, rng)
    k_cells = np.asarray(acquisition["stain_absorption_rgb"], np.float32)
    k_platelets = np.array([0.3, 1.2, 0.25], np.float32)  # magenta: mostly green absorbed
    if acquisition.get("defocus_halo"):  # optical path in cell-density units: mean absorbance over the cells' mean
        absorbance = k_platelets.mean() * od_platelets + od_extra.mean(axis=0)
        path = od_cells + absorbance / k_cells.mean()
        light = light * defocus_light(path, halo=acquisition["defocus_halo"], width=acquisition["defocus_width_px"])
    image = np.empty((height, width, 3), np.float32)
    for c in range(3):
        image[..., c] = (
            acquisition["background_rgb"][c]
            * light
            * np.exp(-k_cells[c] * od_cells - k_platelets[c] * od_platelets - od_extra[c])
        )
    image = cv2.GaussianBlur(image, (0, 0), acquisition["blur_sigma"])
    common = rng.standard_normal((height, width, 1), dtype=np.float32) * acquisition["noise_common"]
    # Colour noise of a Bayer camera: independent per channel and a little smoothed by demosaicing.
    channel = rng.standard_normal((height, width, 3), dtype=np.float32)
    channel = cv2.GaussianBlur(channel, (0, 0), acquisition["noise_grain"]) * acquisition["noise_channel"]
    channel -= channel @ LUMA[:, None]  # chroma only: real cameras' colour noise leaves brightness nearly clean
    return np.clip(np.rint(image + common + channel), 0, 255).astype(np.uint8)
