"""Per-sample feature matrices of one split, for the feature baselines of ``rbc-bench run``.

Every ``*_features(view)`` function returns a :class:`FeatureTable`: a float64 ``(N, F)`` matrix whose rows
follow ``view.table`` (shard order) and the names of its ``F`` columns; NaN marks a value that is missing.

Three tables are *shortcut* probes: they see something that should carry no diagnostic information, so a
classifier that scores well on them shows that the dataset is confounded (docs/RBC_BENCH.md, ANERBC.md):

- ``background_colour_features``: the colour of the empty background only: per-channel 10/50/90th
  percentiles, chromaticity and the red/green and blue/green log ratios (white balance, exposure);
- ``raw_mask_intensity_features``: the grey levels of the raw release mask files (never their shape);
- ``cbc_features``: the CBC report values, which are per report, not per image.

``morphometric_features`` is the diagnostic baseline: cell size, shape, pallor and type shares measured on
the canonical cell mask.

The per-image functions (``background_colour_vector``, ``raw_mask_intensity_vector``,
``morphometric_vector``) are public so that each can be checked on plain arrays.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.training.data import BUILD_FIX, SplitView
from rbc_dataset.errors import DataError

RGB = ("r", "g", "b")
BACKGROUND_PERCENTILES = (10, 50, 90)  # spread of the background level, not just its centre
BACKGROUND_HALO_PX = 3  # background this close to a cell is left out: blur and anti-aliasing carry cell colour
MIN_BACKGROUND_PIXELS = 64  # fewer background pixels than this: the colour is not measurable (NaN)
GREY_WEIGHTS = np.array([0.299, 0.587, 0.114])  # luminance, as image viewers (and to_gray) compute grey
RAW_MASK_BINS = 16  # grey histogram bins of a raw mask (16 levels each)
MORPHOMETRIC_MEDIANS = (  # per-cell columns of annotation.morphometry summarised over the cells away from the border
    "elongation",
    "circularity",
    "solidity",
    "pallor_ratio",
    "pallor_depth",
    "centre_contrast",
    "rim_od",
    "mean_od",
)


@dataclass(frozen=True)
class FeatureTable:
    """Features of one split: one row per sample in ``view.table`` order."""

    values: np.ndarray  # (N, F) float64; NaN = missing
    names: tuple[str, ...]  # F column names

    def to_frame(self, index=None) -> pd.DataFrame:
        """The table as a DataFrame (handy for inspection and reports)."""
        return pd.DataFrame(self.values, columns=list(self.names), index=index)


def _stack(rows: list[np.ndarray], names: tuple[str, ...]) -> FeatureTable:
    values = np.vstack(rows).astype(np.float64) if rows else np.zeros((0, len(names)), np.float64)
    return FeatureTable(values, names)


def shard_location(view: SplitView) -> Path:
    """The shard file (HDF5) or folder (Parquet) a split is read from, for error messages."""
    if view.fmt == "hdf5":
        return view.built_dir / "hdf5" / view.config / f"{view.split}.h5"
    return view.built_dir / "data" / view.config


def require_masks(view: SplitView, what: str) -> None:
    """A DataError naming the shards when the split carries no canonical masks (``what`` needs them)."""
    if not view.has_masks:
        raise DataError(
            shard_location(view),
            f"canonical cell masks in the shards ({what} is measured on them)",
            "shards without masks",
            "build from a source with Binary_segmented masks (`rbc-dataset build ROOT --out DIR`)",
        )


# ----------------------------------------------------------------------------------------------- background colour

BACKGROUND_COLOUR_NAMES = (
    *(f"bg_{c}_p{p}" for c in RGB for p in BACKGROUND_PERCENTILES),
    *(f"bg_chroma_{c}" for c in RGB),
    "bg_log_r_over_g",
    "bg_log_b_over_g",
)


def background_pixels(image: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Boolean map of the background: ``mask == 0`` at least BACKGROUND_HALO_PX from any cell when a mask is
    given, else the brighter half of the pixels by grey level.

    Without a mask the brighter half is the nearest thing to background: cells absorb light, and a smear is
    mostly less than half cells (AneRBC: 32-47 %).
    """
    if mask is not None:
        import cv2

        cells = (np.asarray(mask) > 0).astype(np.uint8)
        near_cells = cv2.dilate(cells, np.ones((2 * BACKGROUND_HALO_PX + 1,) * 2, np.uint8))
        return near_cells == 0
    grey = image[..., :3].astype(np.float64) @ GREY_WEIGHTS
    return grey >= np.median(grey)


def background_colour_vector(image: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Background colour of one RGB image: per-channel 10/50/90th percentiles and median chromaticity.

    Args:
        image: (H, W, 3) RGB.
        mask: (H, W) canonical mask (0 = background); None uses the brighter half of the pixels.

    Returns:
        Values in ``BACKGROUND_COLOUR_NAMES`` order; all NaN when fewer than MIN_BACKGROUND_PIXELS
        background pixels exist (no cell pixel is ever used instead).
    """
    pixels = image[..., :3][background_pixels(image, mask)].astype(np.float64)
    if len(pixels) < MIN_BACKGROUND_PIXELS:
        return np.full(len(BACKGROUND_COLOUR_NAMES), np.nan)
    levels = np.percentile(pixels, BACKGROUND_PERCENTILES, axis=0).T.ravel()  # r_p10, r_p50, r_p90, g_...
    # Chromaticity removes the brightness (vignetting, exposure) and keeps the white balance.
    chroma = np.median(pixels / np.maximum(pixels.sum(axis=1, keepdims=True), 1.0), axis=0)
    # White balance as the camera sets it: gains of red and blue against green (a warm regime lifts both).
    median = np.maximum(levels[1::3], 1.0)
    balance = np.log([median[0] / median[1], median[2] / median[1]])
    return np.concatenate([levels, chroma, balance])


def background_colour_features(view: SplitView) -> FeatureTable:
    """Background colour of every sample (``background_colour_vector``); the canonical mask when the split has
    one, else the brighter half of each image. Nothing is measured on the cells."""
    rows = [background_colour_vector(image, mask) for image, mask in view.iter_samples()]
    return _stack(rows, BACKGROUND_COLOUR_NAMES)


# ----------------------------------------------------------------------------------------------- raw mask intensity

RAW_MASK_NAMES = (
    *(f"raw_hist_{k:02d}" for k in range(RAW_MASK_BINS)),
    "raw_n_values",
    "raw_fg_mean",
    *(f"raw_fg_mean_{c}" for c in RGB),
    "raw_is_rgb",
)
MANIFEST_COLUMNS = ("sample_id", "parent_id", "root", "mask_path")


def raw_mask_intensity_vector(raw: np.ndarray) -> np.ndarray:
    """Grey-level statistics of one raw mask array, in ``RAW_MASK_NAMES`` order.

    The background is the most frequent grey value (the release's exact white; 0 in a clean binary mask), so
    no polarity is assumed. Means are taken over the other pixels, so they measure how dark the cells are
    drawn, not how much of the image is cell.

    Returns:
        Normalised 16-bin grey histogram, number of distinct grey values, mean grey of the non-background
        pixels, their per-channel means (grey repeated for single-channel masks), 1.0 if the file is RGB(A).
    """
    from rbc_dataset.masks import to_gray

    raw = np.asarray(raw)
    grey = to_gray(raw)
    counts = np.bincount(grey.ravel(), minlength=256)
    histogram = counts.reshape(RAW_MASK_BINS, -1).sum(axis=1) / max(grey.size, 1)
    foreground = grey != int(counts.argmax())
    is_rgb = raw.ndim == 3 and raw.shape[2] >= 3
    if is_rgb:
        channels = raw[..., :3]
        if raw.dtype == np.uint16:
            channels = channels >> 8  # the same 0..255 scale as to_gray
    else:
        channels = np.repeat(grey[..., None], 3, axis=2)
    if foreground.any():
        fg_mean = float(grey[foreground].mean())
        channel_means = channels[foreground].astype(np.float64).mean(axis=0)
    else:
        fg_mean, channel_means = np.nan, np.full(3, np.nan)
    summary = [float((counts > 0).sum()), fg_mean, *channel_means, float(is_rgb)]
    return np.concatenate([histogram, summary]).astype(np.float64)


def _manifest_rows(view: SplitView) -> pd.DataFrame:
    """The build's manifest indexed by sample_id, checked for the columns that lead to the raw masks."""
    manifest = view.manifest
    path = view.built_dir / "manifest.parquet"
    missing = [name for name in MANIFEST_COLUMNS if name not in manifest.columns]
    if missing:
        raise DataError(path, f"manifest columns {', '.join(MANIFEST_COLUMNS)}", f"no {', '.join(missing)}", BUILD_FIX)
    return manifest.drop_duplicates("sample_id").set_index("sample_id")


def _has_value(value) -> bool:
    return isinstance(value, str) and value.strip() != ""


def raw_mask_path(rows: pd.DataFrame, sample_id: str, *, parent_id: str, manifest_path: Path) -> Path:
    """The raw release mask of a sample: ``root / mask_path`` of its own manifest row, else of its parent's.

    Raises:
        DataError: neither row names a mask (the message names the sample and the manifest).
    """
    for key in (sample_id, parent_id):
        if key in rows.index and _has_value(rows.at[key, "mask_path"]) and _has_value(rows.at[key, "root"]):
            return Path(rows.at[key, "root"]) / rows.at[key, "mask_path"]
    raise DataError(
        manifest_path,
        f"a mask_path for sample {sample_id!r} or its parent {parent_id!r}",
        "no manifest row that names a raw mask for it",
        "build from a folder with its Binary_segmented/ masks, or leave shortcut-raw-mask out with --models",
    )


def read_raw_mask(path: Path) -> np.ndarray:
    """Decode a raw release mask file exactly as stored (no binarisation).

    Raises:
        DataError: the file is missing or undecodable (the message names it and the fix).
    """
    from rbc_dataset.fileio import ImageRefused, read_image

    fix = "restore the source folder the build read (manifest.parquet `root`), or rebuild from where the data is"
    if not path.is_file():
        raise DataError(path, "the raw release mask named by the build's manifest", "no such file", fix)
    try:
        return read_image(path)
    except ImageRefused as error:
        raise DataError(path, "a decodable mask image", error.found, fix) from error


def raw_mask_intensity_features(view: SplitView) -> FeatureTable:
    """Intensity statistics of each sample's raw release mask file (``raw_mask_intensity_vector``).

    The raw masks are not in the shards: they are found through the build's ``manifest.parquet`` (the sample's
    own row, else its parent's). Each file is read once, however many samples share it.

    Raises:
        DataError: no manifest, a sample without a mask_path, or a missing / undecodable mask file.
    """
    rows = _manifest_rows(view)
    manifest_path = view.built_dir / "manifest.parquet"
    cache: dict[Path, np.ndarray] = {}
    vectors = []
    for sample_id, parent_id in zip(view.table["sample_id"], view.table["parent_id"], strict=True):
        path = raw_mask_path(rows, str(sample_id), parent_id=str(parent_id), manifest_path=manifest_path)
        if path not in cache:
            cache[path] = raw_mask_intensity_vector(read_raw_mask(path))
        vectors.append(cache[path])
    return _stack(vectors, RAW_MASK_NAMES)


# ----------------------------------------------------------------------------------------------------------- CBC


def cbc_features(view: SplitView) -> FeatureTable:
    """The ``cbc_<TEST>`` columns of the split's table (NaN = not reported); no column when the shards carry none.

    Shards without CBC columns and shards whose CBC values are all missing are the same to a user (the source had
    no CBC reports): ``FeatureBaseline.fit`` says so once, in the baseline's words.
    """
    columns = view.cbc_columns
    return FeatureTable(view.table[columns].to_numpy(np.float64).reshape(len(view.table), len(columns)), tuple(columns))


# -------------------------------------------------------------------------------------------------- morphometric


def _morphometric_names() -> tuple[str, ...]:
    from annotation.cell_types import CELL_TYPES

    base = ("n_cells", "mean_diameter_px", "std_diameter_px", "rdw_cv_pct", "mean_area_px")
    medians = tuple(f"median_{name}" for name in MORPHOMETRIC_MEDIANS)
    return base + medians + tuple(f"share_{t}" for t in CELL_TYPES)


MORPHOMETRIC_NAMES = _morphometric_names()


def morphometric_vector(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Summary morphometry of one image from its canonical 0/1 mask, in ``MORPHOMETRIC_NAMES`` order.

    Instances come from ``annotation.instances.split_cells``; cells are measured and typed by
    ``annotation.morphometry.cell_features`` and ``annotation.cell_types.classify_cells``. Cells touching the
    border are left out (their size is not theirs). Size is summarised by mean, SD and CV (MCV- and RDW-like),
    per-cell shape, pallor and OD by their median. Without such cells every value but ``n_cells`` is NaN.
    """
    from annotation.cell_types import CELL_TYPES, classify_cells
    from annotation.instances import split_cells
    from annotation.morphometry import cell_features, image_summary

    labels = split_cells(np.asarray(mask) > 0)
    cells = classify_cells(cell_features(image, labels))
    summary = image_summary(cells)
    inner = cells[~cells["touches_border"].astype(bool)]
    diameter = inner["eq_diameter_px"].to_numpy(np.float64)
    std = float(diameter.std(ddof=1)) if diameter.size > 1 else np.nan
    # Medians, not means: a speck with a near-zero rim OD gives pallor ratios in the hundreds.
    medians = [float(inner[name].median()) if inner[name].notna().any() else np.nan for name in MORPHOMETRIC_MEDIANS]
    shares = [summary.get(f"share_{name}", np.nan) for name in CELL_TYPES]
    base = [summary["n_cells"], summary["mean_diameter_px"], std, summary["rdw_cv_pct"], summary["mean_area_px"]]
    return np.array(base + medians + shares, np.float64)


@contextmanager
def single_threaded_opencv() -> Iterator[None]:
    """Run OpenCV on one thread inside the block, then restore the caller's setting.

    Some OpenCV operations of the cell splitting give slightly different values with several threads
    (a diameter moved in the 4th significant digit), so features are always computed single-threaded: the
    same in this process as in any number of workers.
    """
    import cv2

    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(previous)


def _morphometric_job(pair: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Worker: ``morphometric_vector`` of one (image, mask) pair."""
    with single_threaded_opencv():
        return morphometric_vector(*pair)


def _masked_samples(view: SplitView) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(image, mask) per sample in table order; callers check ``require_masks`` first (this is lazy)."""
    for index, (image, mask) in enumerate(view.iter_samples(with_mask=True)):
        if mask is None:  # a loader that drops a mask would otherwise give silently wrong features
            sample_id = view.table["sample_id"].iloc[index]
            found = f"no mask for sample {sample_id!r}"
            raise DataError(shard_location(view), f"a mask for sample {sample_id!r}", found, "rebuild the shards")
        yield image, mask


def morphometric_features(view: SplitView, workers: int = 1) -> FeatureTable:
    """Morphometric summary of every sample (``morphometric_vector``), measured on the canonical masks.

    Args:
        view: the split.
        workers: processes (1 = in this process); a 300x300 tile takes about 0.1-0.3 s.

    Raises:
        DataError: the split has no masks (this baseline needs them).
    """
    from rbc_dataset.parallel import bounded_map

    require_masks(view, "the morphometric baseline")
    rows = list(bounded_map(_morphometric_job, _masked_samples(view), workers=max(1, workers)))
    return _stack(rows, MORPHOMETRIC_NAMES)
