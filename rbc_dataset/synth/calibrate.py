"""``rbc-dataset calibrate``: measure a lab's look on a few real smears; write the synth config that draws it.

Each image is measured where its cells are (from its mask when one lies beside it in the AneRBC layout, else
from an Otsu threshold of the green channel with holes filled): background colour, the cells' optical
density per channel, the width of cell edges, the camera's colour noise, the cell size and how much of the
smear is covered; on its isolated single cells (``rbc_dataset.cell_profiles.measure_cells``) their elongation,
pallor depth and width and the spread of their darkness; and its platelets per megapixel. The medians over
images become the generator's ``lab`` section (``SynthConfig.lab``), through conversions measured once on
synthetic smears of known settings (the constants below), so that calibrating on the generator's own output
gives back its settings (tests/rbc_dataset/synth).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import yaml
from scipy import ndimage, stats

from rbc_dataset import masks
from rbc_dataset.cell_profiles import MIN_AREA_PX, MIN_PALLOR_DEPTH, background_level, measure_cells
from rbc_dataset.errors import DataError, UsageError
from rbc_dataset.fileio import atomic_write_bytes, read_image
from rbc_dataset.progress import track
from rbc_dataset.synth.config import LAB_OPTIONAL_KEYS, SynthConfig

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
MASK_FOLDERS = ("Binary_segmented", "RGB_segmented", "masks", "Label", "synthetic_truth")
# Conversions from what an image shows to the generator's settings, measured on synthetic smears.
# (3 synthetic labs x 3 images: blur 1.0-1.6, noise 3-6, diameter 18.5-22, absorption 0.1-0.4)
BACKGROUND_PER_SETTING = 0.962  # median background / background setting (vignetting and fall-off darken it)
OD_PER_ABSORPTION = 0.908  # median cell optical density / stain absorption (mean thickness of eroded cell pixels)
CHROMA_NOISE_PER_SETTING = 0.835  # robust std of the blue-minus-red residual / noise_channel
DIAMETER_OFFSET_PX = 0.6  # normocyte diameter setting - median measured single-cell diameter
FOREGROUND_PER_TARGET = 0.967  # measured cell fraction / foreground_target
EDGE_WIDTH_PER_BLUR = 1.85  # edge width (contrast / steepest gradient, px) per px of blur sigma, after the offset
EDGE_WIDTH_OFFSET_PX = 0.63  # edge width of an unblurred cell edge
# Cells and platelets (rbc_dataset.cell_profiles on isolated cells; 6 synthetic images per setting, the others
# at the generator's defaults: cell_aspect 1.03-1.18, pallor_depth 0.35-0.8, pallor_radius 0.28-0.48,
# cell_density_spread 0.03-0.16, platelet_density 30-300 on 2 x 6 images; scratch script, linear fits).
ASPECT_PER_MEASURED, ASPECT_OFFSET = 1.106, -0.0177  # drawn major/minor - 1 = a * (measured median - 1) + b
# Measured median pallor depth and width (rho at half depth) at the generator's mean depth 0.6 and radius 0.37,
# and how each moves per unit of depth and of radius: both depend on both, so the pair is solved together.
PALLOR_AT_DEFAULT = (0.495, 0.380)  # (measured depth, measured width)
PALLOR_SLOPES = ((0.714, 0.749), (-0.048, 0.600))  # d(measured depth, width) / d(depth, radius)
PALLOR_DEFAULT = (0.6, 0.37)  # the generator's mean pallor depth and radius
OD_SPREAD_FLOOR = 0.055  # robust std of log mean OD between cells with no density spread (pallor, size, noise)
OD_SPREAD_PER_SETTING = 1.02  # measured spread = sqrt(floor^2 + (this x cell_density_spread)^2)
# Magenta blobs per background megapixel = a x platelet_density + b (groups split and clumps add blobs; b: specks).
PLATELETS_PER_SETTING, PLATELETS_OFFSET = 1.545, 4.8
MIN_CELLS = 10  # isolated single cells an image needs for its cell shape and pallor to count
PLATELET_OD = 0.25  # green optical density (natural log) above which a magenta pixel is a platelet's


def find_images(root: Path) -> list[tuple[Path, Path | None]]:
    """Smear images under ``root`` with their mask when the AneRBC layout holds one (``Binary_segmented``)."""
    found = []
    for path in sorted(Path(root).rglob("*")):
        if path.suffix.lower() not in IMAGE_SUFFIXES or any(part in MASK_FOLDERS for part in path.parts):
            continue
        if len(path.stem.split("_")) > 2:  # AneRBC-II tiles (NNNN_SS_a): their parent is measured instead
            continue
        mask = path.parent.parent / "Binary_segmented" / path.name
        found.append((path, mask if mask.is_file() else None))
    return found


def cell_map(image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Boolean cell pixels: the mask on the side that is darker in the image, or Otsu with holes filled."""
    cells = None if mask is None else masks.mask_cells(mask, image)
    if cells is not None:
        return cells
    cells = ndimage.binary_fill_holes(masks.image_cell_map(image))
    return masks.remove_small_components(cells, 30)[0]


def _robust_std(values: np.ndarray) -> float:
    return float(stats.median_abs_deviation(values, scale="normal"))


def measure_image(image: np.ndarray, cells: np.ndarray) -> dict[str, float]:
    """What one smear shows (see the module docstring); ``image`` is RGB uint8, ``cells`` boolean."""
    kernel = np.ones((3, 3), np.uint8)
    background = cv2.erode((~cells).astype(np.uint8), kernel, iterations=4).astype(bool)
    inner = cv2.erode(cells.astype(np.uint8), kernel, iterations=2).astype(bool)
    if background.sum() < 1000 or inner.sum() < 1000:
        return {}
    rgb = image.astype(np.float32)
    bg = np.median(rgb[background], axis=0)
    cell = np.median(rgb[inner], axis=0)
    od = np.log(np.maximum(bg, 1.0) / np.maximum(cell, 1.0))
    chroma = rgb[..., 2] - rgb[..., 0]
    residual = chroma - cv2.GaussianBlur(chroma, (0, 0), 3.0)
    grey = rgb.mean(axis=2)
    gx, gy = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3) / 8, cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3) / 8
    edge = cv2.dilate(cells.astype(np.uint8), kernel).astype(bool) & ~inner
    contrast = float(np.median(grey[background]) - np.median(grey[inner]))
    steepest = float(np.percentile(np.hypot(gx, gy)[edge], 90))
    return {
        **{f"background_{c}": float(v) for c, v in zip("rgb", bg, strict=True)},
        **{f"od_{c}": float(v) for c, v in zip("rgb", od, strict=True)},
        "chroma_noise": _robust_std(residual[background]),
        "edge_width_px": contrast / max(steepest, 1e-3),
        "cell_diameter_px": _single_cell_diameter(cells),
        "foreground_fraction": float(cells.mean()),
        **measure_cell_profiles(image, cells),
        "platelets_per_mpx": platelets_per_megapixel(image, cells),
    }


def measure_cell_profiles(image: np.ndarray, cells: np.ndarray) -> dict[str, float]:
    """Shape, pallor and darkness spread of the isolated single cells (``rbc_dataset.cell_profiles``).

    Medians over cells: major/minor axis, pallor depth (1 - centre / rim OD) and, over cells with a pale
    centre, its half-depth radius; the cell-to-cell spread of mean OD as the robust std of its log.
    NaN where fewer than ``MIN_CELLS`` cells are isolated.
    """
    table = measure_cells(image, cells)
    keys = ("aspect_ratio", "pallor_depth", "pallor_width", "od_spread")
    if len(table) < MIN_CELLS:
        return {f"cell_{key}": float("nan") for key in keys}
    pale = table["pallor_depth"] >= MIN_PALLOR_DEPTH
    od = table["od_mean"].to_numpy(float)
    return {
        "cell_aspect_ratio": float(table["aspect_ratio"].median()),
        "cell_pallor_depth": float(table["pallor_depth"].median()),
        "cell_pallor_width": float(table.loc[pale, "pallor_width"].median()) if pale.any() else float("nan"),
        "cell_od_spread": _robust_std(np.log(od[od > 0])),
    }


def platelets_per_megapixel(image: np.ndarray, cells: np.ndarray) -> float:
    """Small magenta blobs (green absorbed, red hardly) off the red cells, per megapixel of background.

    Platelets absorb green several times more than red, red cells only about 1.3 times: a pixel is magenta where
    its green OD exceeds ``PLATELET_OD`` and twice its red OD. Red cells are the cell map's components of at
    least ``MIN_AREA_PX`` that are not magenta (AneRBC masks count platelets as foreground too), widened by 2 px.
    """
    rgb = image.astype(np.float32)
    od_g, od_r = (
        np.log(np.maximum(background_level(rgb[..., c], cells), 1.0) / np.maximum(rgb[..., c], 1.0)) for c in (1, 0)
    )
    magenta = (od_g > PLATELET_OD) & (od_g > 2.0 * np.maximum(od_r, 0.02))
    red_cells = masks.remove_small_components(cells & ~magenta, MIN_AREA_PX)[0]
    red_cells = cv2.dilate(red_cells.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    n, _, stats, _ = cv2.connectedComponentsWithStats((magenta & ~red_cells).astype(np.uint8), connectivity=8)
    blobs = int((stats[1:, cv2.CC_STAT_AREA] >= 2).sum())
    return blobs / max(float((~red_cells).sum()) / 1e6, 1e-6)


def _single_cell_diameter(cells: np.ndarray) -> float:
    """Median equivalent diameter of components of a single cell's size (touching cells left out)."""
    _, _, stats, _ = cv2.connectedComponentsWithStats(cells.astype(np.uint8), connectivity=4)
    areas = stats[1:, cv2.CC_STAT_AREA].astype(float)
    areas = areas[areas >= 50]
    if not len(areas):
        return float("nan")
    typical = np.median(areas)
    single = areas[(areas > 0.6 * typical) & (areas < 1.4 * typical)]
    return float(np.median(2.0 * np.sqrt(single / np.pi)))


def lab_from_measurements(rows: list[dict[str, float]]) -> dict[str, float]:
    """The generator's ``lab`` settings from per-image measurements (medians over images, then conversions).

    The spreads across images (background level, log absorption per channel) let the generator vary from
    image to image as much as the lab's images do; one image gives the generator's usual small spreads.
    """
    median = {key: float(np.nanmedian([row[key] for row in rows])) for key in rows[0]}
    background = np.array([[row[f"background_{c}"] for c in "rgb"] for row in rows])
    log_od = np.log(np.maximum([[row[f"od_{c}"] for c in "rgb"] for row in rows], 0.01))
    width = max(median["edge_width_px"] - EDGE_WIDTH_OFFSET_PX, 0.0)
    fraction = np.clip(median["foreground_fraction"] / FOREGROUND_PER_TARGET, 0.15, 0.6)
    return {
        **{f"background_{c}": round(median[f"background_{c}"] / BACKGROUND_PER_SETTING, 2) for c in "rgb"},
        **{f"absorption_{c}": round(max(median[f"od_{c}"], 0.01) / OD_PER_ABSORPTION, 4) for c in "rgb"},
        "blur_sigma": round(float(np.clip(width / EDGE_WIDTH_PER_BLUR, 0.3, 4.0)), 3),
        "noise_channel": round(max(median["chroma_noise"] / CHROMA_NOISE_PER_SETTING, 0.1), 3),
        "cell_diameter_px": round(median["cell_diameter_px"] + DIAMETER_OFFSET_PX, 2),
        "foreground_fraction": round(float(fraction), 3),
        "background_spread": round(max(float(np.median(background.std(axis=0))), 1.5), 3),
        "absorption_spread": round(max(float(np.median(log_od.std(axis=0))), 0.05), 4),
        **_cell_settings(median),
    }


def _cell_settings(median: dict[str, float]) -> dict[str, float]:
    """Cell shape, pallor, darkness spread and platelet settings from the median measurements (the conversions
    above), kept within ``LAB_OPTIONAL_KEYS``' ranges; a measure no image gave (too few isolated cells) is left
    out, so the generator keeps its default for it."""
    settings: dict[str, float] = {}
    if np.isfinite(median.get("cell_aspect_ratio", np.nan)):
        settings["cell_aspect"] = 1.0 + ASPECT_PER_MEASURED * (median["cell_aspect_ratio"] - 1.0) + ASPECT_OFFSET
    if np.isfinite(median.get("cell_pallor_depth", np.nan)) and np.isfinite(median.get("cell_pallor_width", np.nan)):
        seen = np.array([median["cell_pallor_depth"], median["cell_pallor_width"]]) - PALLOR_AT_DEFAULT
        depth, radius = np.linalg.solve(np.array(PALLOR_SLOPES), seen) + PALLOR_DEFAULT
        settings["pallor_depth"], settings["pallor_radius"] = float(depth), float(radius)
    if np.isfinite(median.get("cell_od_spread", np.nan)):
        excess = max(median["cell_od_spread"] ** 2 - OD_SPREAD_FLOOR**2, 0.0)
        settings["cell_density_spread"] = float(np.sqrt(excess)) / OD_SPREAD_PER_SETTING
    if np.isfinite(median.get("platelets_per_mpx", np.nan)):
        settings["platelet_density"] = (median["platelets_per_mpx"] - PLATELETS_OFFSET) / PLATELETS_PER_SETTING
    return {key: round(float(np.clip(value, *LAB_OPTIONAL_KEYS[key])), 4) for key, value in settings.items()}


def calibrate(
    real_dir: Path, *, max_images: int = 20, base: SynthConfig | None = None, show_progress: bool = False
) -> SynthConfig:
    """A ``SynthConfig`` whose ``lab`` section draws smears that look like the images under ``real_dir``.

    Args:
        real_dir: a folder of real smear images (any layout; AneRBC masks are used when present).
        max_images: measure at most this many images (the first ones in path order).
        base: the other settings (n_images, seed, ...) to keep; defaults otherwise.
        show_progress: draw a progress bar.

    Raises:
        DataError: no image under ``real_dir``, or none with enough background and cells to measure.
    """
    if max_images < 1:
        raise UsageError(f"--max-images must be at least 1, got {max_images}")
    images = find_images(Path(real_dir))[:max_images]
    if not images:
        raise DataError(real_dir, "smear images (.png, .jpg, .tif) to measure", "none", "point at a folder of images")
    rows = []
    for image_path, mask_path in track(images, len(images), description="measuring", show=show_progress):
        image = read_image(image_path)  # RGB
        image = image[..., :3] if image.ndim == 3 else np.dstack([image] * 3)
        mask = None if mask_path is None else read_image(mask_path)
        row = measure_image(image, cell_map(image, mask))
        if row:
            rows.append(row)
    if not rows:
        raise DataError(real_dir, "images with both background and cells", "none measurable", "check the images")
    base = base or SynthConfig()
    return SynthConfig(**{**base.__dict__, "lab": lab_from_measurements(rows)})


def write_synth_config(config: SynthConfig, path: Path, *, source: Path) -> None:
    """The config as YAML that ``rbc-dataset synth --config`` reads, with a comment naming what it measured."""
    header = f"# rbc-dataset calibrate {Path(source).name}: the look of those images (lab); edit n_images, seed\n"
    text = header + yaml.safe_dump(config.to_dict(), sort_keys=False)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(Path(path), text.encode())
