"""Automatic cell-mask proposals with no training: a starting point for annotators.

Per image: (1) a first cell map by Otsu on green (red cells absorb green most) gives background and cell
colours and a first cell size; (2) each channel is divided by a smooth background estimate (uneven
illumination); (3) the pixels are projected on this image's Fisher axis between background and cell colours,
so the feature follows the stain (lavender AneRBC cells, pink Chula and BCCD cells) and a pale cell whose hue
differs from the background still counts; (4) Otsu on that feature; (5) holes smaller than a cell are filled
(pale centres), cell-sized C shapes (pale cells with a broken rim) are closed, and specks much smaller than a
cell are removed. Every size is a multiple of the cell radius estimated from the image itself (granulometry,
``estimate_cell_radius``), so 20 px and 90 px cells are handled alike; no constant was fitted to a data set.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage as ndi

from rbc_dataset.errors import UsageError
from rbc_dataset.masks import fill_small_holes, remove_small_components

FEATURES = ("colour", "fisher", "green")
# Share of the mask area that discs of the typical cell radius still cover (see estimate_cell_radius): above one
# half, so that regions filled between packed cells (which fit larger discs) do not set the size.
GRANULOMETRY_SHARE = 0.65


@dataclass(frozen=True)
class ProposeConfig:
    """How cell masks are proposed (sizes are in cell radii estimated from each image)."""

    feature: str = "fisher"  # fisher: Fisher colour axis of this image; colour: mean background-to-cell axis; green
    flat_field: bool = True  # divide by a smooth background estimate (uneven illumination)
    background_sigma_radii: float = 4.0  # smoothing of the background estimate, in cell radii
    smooth_sigma_radii: float = 0.05  # Gaussian smoothing of the feature before thresholding (>= 0.5 px)
    fill_holes_cells: float = 1.0  # fill holes smaller than this many cell areas (pale centres)
    ring_cells: float = 1.5  # blobs whose convex hull is under this many cell areas may be open rings ...
    ring_solidity: float = 0.75  # ... and are filled to their hull when their solidity is below this (C shapes)
    speck_cells: float = 0.04  # remove blobs smaller than this many cell areas (platelets are kept)
    min_radius_px: float = 3.0  # lower bound of the estimated cell radius
    default_radius_px: float = 10.0  # radius assumed when an image shows no cell at all

    def __post_init__(self):
        if self.feature not in FEATURES:
            raise UsageError(f"unknown feature {self.feature!r}; valid choices: {', '.join(FEATURES)}")
        for name in ("background_sigma_radii", "fill_holes_cells", "speck_cells", "min_radius_px"):
            if getattr(self, name) < 0:
                raise UsageError(f"{name} must be >= 0, got {getattr(self, name)}")


def otsu_cells(channel: np.ndarray) -> np.ndarray:
    """Pixels darker than the Otsu threshold of an 8-bit channel (cells absorb light)."""
    channel = channel if channel.dtype == np.uint8 else np.clip(channel, 0, 255).astype(np.uint8)
    _, cells = cv2.threshold(channel, 0, 1, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    return cells.astype(bool)


def estimate_cell_radius(cells: np.ndarray, *, min_radius: float = 3.0, default: float = 10.0) -> float:
    """Typical cell radius in pixels, by granulometry of the mask (holes filled first).

    The opening of the mask by a disc of radius rho keeps the pixels covered by some disc of radius rho that
    fits inside the mask; the estimate is the rho at which the opening keeps ``GRANULOMETRY_SHARE`` of the
    mask (interpolated on an 8 % grid). Touching cells keep their own discs, so clumps barely move it; specks
    and thin fragments hold little area. Blobs thinner than ``min_radius`` never set it.
    """
    filled = ndi.binary_fill_holes(cells).astype(np.uint8)
    total = int(filled.sum())
    dist = cv2.distanceTransform(filled, cv2.DIST_L2, 5)
    top = float(dist.max(initial=0))
    if total == 0 or top < min_radius:
        return float(default)
    radii = min_radius * 1.08 ** np.arange(int(np.log(top / min_radius) / np.log(1.08)) + 1)
    previous = (float(radii[0]), 1.0)
    for rho in radii:
        core = (dist > rho).astype(np.uint8)
        share = 0.0
        if core.any():
            # Dilating the eroded mask by rho (a distance threshold) completes the opening.
            kept = (cv2.distanceTransform(1 - core, cv2.DIST_L2, 5) <= rho) & (filled > 0)
            share = float(kept.sum()) / total
        if share < GRANULOMETRY_SHARE:
            (r0, s0), r1 = previous, float(rho)
            return r0 + (r1 - r0) * (s0 - GRANULOMETRY_SHARE) / max(s0 - share, 1e-9)
        previous = (float(rho), share)
    return float(radii[-1])


def fill_open_rings(cells: np.ndarray, max_hull_px: float, *, max_solidity: float) -> np.ndarray:
    """Fill cell-sized C-shaped blobs (a pale cell whose rim is broken) to their convex hull.

    Only blobs whose hull is smaller than ``max_hull_px`` and whose area / hull area is below
    ``max_solidity`` change: a clump of several cells has a larger hull, a whole cell a solidity near 1.
    """
    if max_solidity <= 0 or max_hull_px <= 0:
        return cells
    out = cells.astype(np.uint8)
    contours, _ = cv2.findContours(out, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    for contour in contours:
        hull = cv2.convexHull(contour)
        hull_area = cv2.contourArea(hull)
        if 0 < hull_area <= max_hull_px and cv2.contourArea(contour) / hull_area < max_solidity:
            cv2.fillPoly(out, [hull], 1)
    return out.astype(bool)


def _background_field(image: np.ndarray, background: np.ndarray, sigma: float) -> np.ndarray:
    """Smooth per-channel background level (normalised convolution of background pixels).

    Computed at quarter scale when the smoothing is wide (the field is smooth anyway; 16x fewer pixels).
    """
    h, w = background.shape
    scale = 0.25 if sigma > 8 else 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    weight = cv2.resize(background.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    values = cv2.resize(image.astype(np.float32) * background[..., None], size, interpolation=cv2.INTER_AREA)
    s = max(sigma * scale, 0.5)
    weight_s = cv2.GaussianBlur(weight, (0, 0), s)
    values_s = cv2.GaussianBlur(values, (0, 0), s)
    global_level = image[background].mean(axis=0) if background.any() else image.reshape(-1, 3).max(axis=0)
    # Where no background lies within a few sigma, fall back to the image-wide background level.
    trust = np.clip(weight_s / 0.05, 0, 1)[..., None]
    field = trust * values_s / np.maximum(weight_s, 1e-6)[..., None] + (1 - trust) * global_level
    return cv2.resize(field, (w, h), interpolation=cv2.INTER_LINEAR)


def cell_feature(image_rgb: np.ndarray, first: np.ndarray, *, radius: float, config: ProposeConfig) -> np.ndarray:
    """8-bit map where cells are dark: flat-fielded colour projected on this image's background-to-cell axis."""
    image = image_rgb.astype(np.float32)
    background = ~ndi.binary_dilation(first, iterations=max(1, round(radius * 0.2)))
    if not background.any():
        background = ~first
    if config.flat_field and background.any():
        field = _background_field(image, background, config.background_sigma_radii * radius)
        level = image[background].mean(axis=0) if background.any() else field.reshape(-1, 3).mean(axis=0)
        image = image / np.maximum(field, 1.0) * level
    if config.feature == "green" or not first.any() or not background.any():
        feature = image[..., 1]
    elif config.feature == "fisher":
        feature = _fisher_projection(image, background, first)
    else:
        axis = image[background].mean(axis=0) - image[first].mean(axis=0)  # background minus cell colour
        axis = np.clip(axis, 0, None)
        axis = axis / axis.sum() if axis.sum() > 0 else np.array([0, 1, 0], np.float32)
        feature = image @ axis.astype(np.float32)  # weighted mean of the channels: brightness along the axis
    sigma = max(0.5, config.smooth_sigma_radii * radius)
    feature = cv2.GaussianBlur(feature, (0, 0), sigma)
    return np.clip(feature, 0, 255).astype(np.uint8)


def _fisher_projection(image: np.ndarray, background: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Colour projected on the Fisher axis of background vs cells, scaled so background ~ 200, cells ~ 80.

    Fisher's axis divides the colour difference by the within-class spread: the brightness of cells varies a
    lot (pale centres, pale cells) while their hue does not, so a faint pink cell on a grey background still
    projects on the cell side.
    """
    rng = np.random.default_rng(0)
    bg, fg = image[background], image[cells]
    bg = bg[rng.choice(len(bg), min(len(bg), 20000), replace=False)]
    fg = fg[rng.choice(len(fg), min(len(fg), 20000), replace=False)]
    within = np.cov(bg.T) + np.cov(fg.T) + np.eye(3) * 1e-2
    axis = np.linalg.solve(within, bg.mean(axis=0) - fg.mean(axis=0))
    level_bg, level_fg = float(np.median(bg @ axis)), float(np.median(fg @ axis))
    if level_bg - level_fg <= 1e-6:
        return image[..., 1]
    return 80.0 + 120.0 * (image @ axis.astype(np.float32) - level_fg) / (level_bg - level_fg)


def propose_mask(image_rgb: np.ndarray, config: ProposeConfig | None = None) -> np.ndarray:
    """Boolean cell map proposed for one RGB image (True = cell), see the module docstring."""
    mask, _ = propose_mask_with_radius(image_rgb, config)
    return mask


def propose_mask_with_radius(image_rgb: np.ndarray, config: ProposeConfig | None = None) -> tuple[np.ndarray, float]:
    """``propose_mask`` and the cell radius (px) estimated from the image."""
    config = config or ProposeConfig()
    if image_rgb.ndim == 2:
        image_rgb = np.repeat(image_rgb[..., None], 3, axis=2)
    image_rgb = image_rgb[..., :3]
    first = otsu_cells(image_rgb[..., 1])
    radius = estimate_cell_radius(first, min_radius=config.min_radius_px, default=config.default_radius_px)
    # Pale cells break the first map into rings and fragments, which makes the radius too small: refine it once
    # from the colour-feature map (holes filled) before the size-dependent clean-up.
    cells = otsu_cells(cell_feature(image_rgb, first, radius=radius, config=config))
    radius = max(radius, estimate_cell_radius(cells, min_radius=config.min_radius_px, default=config.default_radius_px))
    area = np.pi * radius**2
    cells = fill_small_holes(cells, config.fill_holes_cells * area)[0]
    cells = fill_open_rings(cells, config.ring_cells * area, max_solidity=config.ring_solidity)
    cells = remove_small_components(cells, config.speck_cells * area)[0]
    return cells, radius


def overlay_contours(image_rgb: np.ndarray, labels: np.ndarray, *, colour=(255, 255, 0)) -> np.ndarray:
    """The image with the outline of each labelled region (or of a boolean mask) drawn on it."""
    labels = labels.astype(np.int32)
    edge = labels != ndi.grey_erosion(labels, size=3)
    edge &= labels > 0
    out = image_rgb[..., :3].copy()
    out[edge] = colour
    return out


def _propose_one(task: tuple) -> dict:
    """Worker: propose, encode and write one image's mask and overlay; return its summary."""
    from annotation.folder_runner import write_image_outputs
    from annotation.images import load_rgb
    from rbc_dataset.masks import canonical_mask

    tmp, item, config = task
    image = load_rgb(item)
    cells, radius = propose_mask_with_radius(image, config)
    write_image_outputs(tmp, item.stem, result=canonical_mask(cells), overlay=overlay_contours(image, cells))
    n_blobs = int(ndi.label(cells)[1])
    return {
        "stem": item.stem,
        "image": str(item.path),
        "cell_fraction": float(cells.mean()),
        "radius_px": radius,
        "blobs": n_blobs,
    }


@dataclass(frozen=True)
class ProposeResult:
    """What ``propose_folder`` wrote."""

    out: Path  # output folder
    n_images: int
    mean_blobs: float  # connected foreground blobs per image (touching cells count once)
    seconds: float
    per_image: tuple  # one summary dict per image


def propose_folder(
    source: Path,
    out: Path,
    *,
    config: ProposeConfig | None = None,
    overwrite: bool = False,
    workers: int | None = None,
    show_progress: bool = True,
) -> ProposeResult:
    """Propose a mask for every image of ``source`` (folder or manifest) into ``out``, atomically.

    Writes ``out/<stem>.png`` (cell = 255), ``out/overlays/<stem>.png`` (outlines on the image) and
    ``out/propose_config.json`` (the resolved config and per-image summaries).

    Raises:
        DataError: no images, or an unreadable image (nothing is written then).
        UsageError: ``out`` exists and is not empty without ``overwrite``, or overlaps the input.
    """
    from annotation.folder_runner import run_per_image
    from annotation.images import list_images

    config = config or ProposeConfig()
    start = time.perf_counter()
    items = list_images(source)
    tasks = [(item, config) for item in items]
    per_image = run_per_image(
        _propose_one,
        tasks,
        source=Path(source),
        out=out,
        overwrite=overwrite,
        workers=workers,
        show_progress=show_progress,
        description="proposing",
        sidecar=("propose_config.json", {"config": asdict(config)}),
    )
    blobs = [p["blobs"] for p in per_image]
    return ProposeResult(
        Path(out),
        len(items),
        mean_blobs=float(np.mean(blobs)),
        seconds=time.perf_counter() - start,
        per_image=tuple(per_image),
    )
