"""All checks of one image/mask pair. Runs in worker processes: takes a manifest row, returns plain dicts.

Every problem becomes a finding ``{code, severity, path, expected, found, fix, sample_id}``; nothing stops
the other checks except what makes them impossible (no mask, no decodable image, sizes that differ).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from rbc_dataset import masks
from rbc_dataset.issues import Issue
from rbc_dataset.manifest import absolute_path
from rbc_dataset.parallel import opencv_single_thread
from rbc_dataset.validate.alignment import measure_alignment, working_scale
from rbc_dataset.validate.config import ValidateConfig
from rbc_dataset.validate.fix import FixOptions, write_canonical
from rbc_dataset.validate.loading import Loaded, load_file

NEAR_BINARY_FIX = "binarise as grey < 128 and use canonical 0/255 masks (validate-masks --fix); never feed raw masks"


class PairReport:
    """Findings and statistics of one sample."""

    def __init__(self, row: dict):
        self.sample_id = row["sample_id"]
        self.findings: list[dict] = []
        self.stats: dict = {"sample_id": self.sample_id}
        self.fix: dict | None = None  # provenance of the canonical mask written for --fix

    def add(self, code: str, severity: str, *, path: str | None, expected: str, found: str, fix: str) -> None:
        self.findings.append(
            Issue(
                code, severity, path=path, expected=expected, found=found, fix=fix, sample_id=self.sample_id
            ).to_dict()
        )

    def to_dict(self) -> dict:
        return {"sample_id": self.sample_id, "findings": self.findings, "stats": self.stats, "fix": self.fix}


def _load(row: dict, role: str, config: ValidateConfig, report: PairReport) -> Loaded | None:
    path = absolute_path(row, role)
    if path is None:
        return None
    rel = row[f"{role}_path"]
    loaded = load_file(path, rel, max_pixels=config.max_pixels, root=Path(row["root"]))
    for code, severity, expected, found, fix in loaded.findings:
        report.add(code, severity, path=rel, expected=expected, found=found, fix=fix)
    return loaded


def _check_presence(image: Loaded | None, mask: Loaded | None, row: dict, report: PairReport) -> None:
    if mask is None and image is not None:
        report.add(
            "missing_mask",
            "error",
            path=image.rel,
            expected="a mask with the same name in the mask folder",
            found="none",
            fix="add the mask or exclude the sample",
        )
    if image is None and mask is not None:
        report.add(
            "orphan_mask",
            "error",
            path=mask.rel,
            expected="an image for this mask",
            found="none",
            fix="add the image or remove the orphan mask",
        )


def _check_mask_format(mask: Loaded, report: PairReport) -> None:
    """Lossy, alpha, palette and 16-bit masks."""
    if mask.format == "jpeg":
        report.add(
            "lossy_mask",
            "error",
            path=mask.rel,
            expected="a lossless mask (PNG)",
            found="JPEG-compressed mask values",
            fix="re-export the mask as PNG from the original annotation",
        )
    if mask.mode in ("RGBA", "LA", "PA") or (
        mask.array is not None and mask.array.ndim == 3 and mask.array.shape[2] == 4
    ):
        report.add(
            "mask_alpha",
            "warning",
            path=mask.rel,
            expected="a mask without alpha",
            found=f"mode {mask.mode}",
            fix="drop the alpha channel; it is ignored here",
        )
    if mask.mode == "P":
        report.add(
            "mask_palette",
            "warning",
            path=mask.rel,
            expected="grey or RGB values",
            found="a palette (indexed) PNG",
            fix="convert to grey; palette indices are read as colours",
        )
    if mask.array is not None and mask.array.dtype == np.uint16:
        report.add(
            "mask_16bit",
            "warning",
            path=mask.rel,
            expected="an 8-bit mask",
            found="16-bit values",
            fix="convert to 8-bit 0/255 (an instance map belongs in its own file)",
        )


def _check_encoding(mask: Loaded, report: PairReport) -> masks.MaskEncoding:
    encoding = masks.classify_encoding(mask.array)
    report.stats.update(
        encoding=encoding.kind,
        mask_values=encoding.n_values,
        ambiguous_fraction=round(encoding.ambiguous_fraction, 5),
        mask_channels=encoding.channels,
    )
    if encoding.kind == "near_binary":
        report.add(
            "mask_near_binary",
            "warning",
            path=mask.rel,
            expected="a binary mask (two values)",
            found=f"{encoding.n_values} grey values; {encoding.ambiguous_fraction:.2%} of pixels between the sides",
            fix=NEAR_BINARY_FIX,
        )
    elif encoding.kind == "multi_valued":
        report.add(
            "mask_multi_valued",
            "warning",
            path=mask.rel,
            expected="a binary mask",
            found=f"{encoding.n_values} grey values without one exact background value",
            fix="check what the values mean (labels? probabilities?)",
        )
    if not encoding.channels_agree:
        report.add(
            "mask_channels_disagree",
            "info",
            path=mask.rel,
            expected="equal R, G and B in an RGB mask",
            found="channels that differ (the values carry image texture)",
            fix=NEAR_BINARY_FIX,
        )
    return encoding


def _check_sizes(image: Loaded, mask: Loaded, rgb: Loaded | None, report: PairReport) -> bool:
    shape = image.array.shape[:2]
    report.stats.update(height=shape[0], width=shape[1])
    ok = mask.array.shape[:2] == shape
    if not ok:
        report.add(
            "size_mismatch",
            "error",
            path=mask.rel,
            expected=f"the image size {shape[1]}x{shape[0]}",
            found=f"{mask.array.shape[1]}x{mask.array.shape[0]}",
            fix="re-export the mask at the image's size",
        )
    if rgb is not None and rgb.array is not None and rgb.array.shape[:2] != shape:
        report.add(
            "rgb_mask_size_mismatch",
            "error",
            path=rgb.rel,
            expected=f"the image size {shape[1]}x{shape[0]}",
            found=f"{rgb.array.shape[1]}x{rgb.array.shape[0]}",
            fix="re-export RGB_segmented at the image's size",
        )
    if image.orientation != mask.orientation:
        report.add(
            "exif_orientation_differs",
            "warning",
            path=mask.rel,
            expected=f"EXIF orientation {image.orientation} (image)",
            found=f"orientation {mask.orientation}",
            fix="apply the orientation to both files and strip the tag",
        )
    return ok


def _best_fit(result) -> float:
    return max(result.iou_best, result.iou_flip)


def _choose_polarity(low: np.ndarray, image: np.ndarray, config: ValidateConfig):
    """Polarity from the image; when that side fits nowhere (a shifted or flipped mask), the side that fits better."""
    scale = working_scale(*low.shape)
    image_cells = masks.image_cell_map(image, scale)  # computed once for both candidate polarities
    polarity = masks.detect_polarity(low, image) or "cells_low"
    result = measure_alignment(low if polarity == "cells_low" else ~low, image_cells, scale=scale)
    if _best_fit(result) < config.mismatch_iou + 0.2:
        other = "cells_high" if polarity == "cells_low" else "cells_low"
        alternative = measure_alignment(low if other == "cells_low" else ~low, image_cells, scale=scale)
        if _best_fit(alternative) > _best_fit(result):
            return other, alternative
    return polarity, result


def _check_alignment(result, mask: Loaded, config: ValidateConfig, report: PairReport) -> bool:
    """Findings for shifted, flipped and foreign masks; True when the mask fits its image as stored."""
    best = _best_fit(result)
    report.stats.update(
        iou_zero=round(result.iou_zero, 4),
        iou_best_shift=round(result.iou_best, 4),
        best_shift=list(result.shift),
        iou_flip=round(result.iou_flip, 4),
        polarity_reliable=best >= config.mismatch_iou,
    )
    errors_before = len(report.findings)
    if best < config.mismatch_iou:
        report.add(
            "mask_mismatch",
            "error",
            path=mask.rel,
            expected=f"agreement (IoU) >= {config.mismatch_iou} with the image's cells",
            found=f"{result.iou_zero:.2f} as stored, {best:.2f} at best over shifts and flips",
            fix="the mask belongs to another image (swapped?) or is not a cell mask: re-pair the files",
        )
    elif result.iou_flip > max(result.iou_best, result.iou_zero) + config.flip_gain:
        report.add(
            "flipped_mask",
            "error",
            path=mask.rel,
            expected="the mask fitting its image as stored",
            found=f"IoU {result.iou_zero:.2f} as stored, {result.iou_flip:.2f} with a {result.flip} flip",
            fix=f"flip the mask back ({result.flip})",
        )
    elif max(map(abs, result.shift)) >= config.shift_min_px and result.iou_best > result.iou_zero + config.shift_gain:
        dy, dx = result.shift
        report.add(
            "shifted_mask",
            "error",
            path=mask.rel,
            expected="the mask fitting its image at zero shift",
            found=f"IoU {result.iou_zero:.2f} as stored, {result.iou_best:.2f} shifted by dy={dy}, dx={dx} px",
            fix="re-export the mask aligned with the image",
        )
    return len(report.findings) == errors_before


def _border_mask(stats: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    x, y, w, h = stats[:, 0], stats[:, 1], stats[:, 2], stats[:, 3]
    return (x == 0) | (y == 0) | (x + w == shape[1]) | (y + h == shape[0])


def _count_holes(cells: np.ndarray, max_px: int) -> int:
    """Enclosed background components under ``max_px``: flood the background from outside, label what is left."""
    padded = np.pad((~cells).astype(np.uint8), 1, constant_values=1)
    cv2.floodFill(padded, None, (0, 0), 0, flags=4)
    _, _, stats, _ = cv2.connectedComponentsWithStats(padded, connectivity=4)
    return int(np.sum(stats[1:, 4] < max_px))


def _check_components(cells: np.ndarray, mask: Loaded, config: ValidateConfig, report: PairReport) -> None:
    """Specks, holes and merged blobs, counted so users can decide on clean-up (cut cells at the border excluded)."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(cells.astype(np.uint8), connectivity=8)
    areas, inner = stats[1:, 4], ~_border_mask(stats[1:], cells.shape)
    specks = int(np.sum((areas < config.speck_max_px) & inner))
    bodies = areas[(areas >= config.speck_max_px) & inner]
    median = float(np.median(bodies)) if len(bodies) else 0.0
    merged = int(np.sum(bodies > config.merged_factor * median)) if median else 0
    holes = _count_holes(cells, config.hole_max_px)
    report.stats.update(
        components=int(n - 1), specks=specks, holes=holes, merged_blobs=merged, median_cell_area_px=round(median, 1)
    )
    if specks >= config.speck_warn_count:
        report.add(
            "specks",
            "warning",
            path=mask.rel,
            expected=f"fewer than {config.speck_warn_count} components under {config.speck_max_px} px",
            found=f"{specks} specks",
            fix=f"remove with --fix --remove-specks {config.speck_max_px} if they are noise",
        )
    if holes >= config.hole_warn_count:
        report.add(
            "holes",
            "warning",
            path=mask.rel,
            expected=f"fewer than {config.hole_warn_count} enclosed holes under {config.hole_max_px} px",
            found=f"{holes} holes",
            fix=f"fill with --fix --fill-holes {config.hole_max_px}",
        )
    if merged:
        report.add(
            "merged_blobs",
            "info",
            path=mask.rel,
            expected="one component per cell",
            found=f"{merged} of {len(bodies)} components larger than {config.merged_factor}x the median cell "
            f"({median:.0f} px): touching cells merged",
            fix="split them with `annotate instances` if you need cells",
        )


def _check_rgb_mask(
    rgb: Loaded, image: np.ndarray, *, cells: np.ndarray, config: ValidateConfig, report: PairReport
) -> None:
    """RGB_segmented should show the image on cells and one flat colour elsewhere (sampled every 4th pixel)."""
    sample = (slice(None, None, 4), slice(None, None, 4))
    colour = rgb.array[..., :3][sample].astype(np.int16)
    on_cells = cells[sample]
    diff = np.abs(colour - image[sample][..., :3].astype(np.int16)).max(axis=-1)
    matches = float(np.mean(diff[on_cells] <= config.rgb_tolerance)) if on_cells.any() else 1.0
    background = colour[~on_cells].reshape(-1, 3)
    flat = 1.0
    if len(background):
        typical = np.median(background, axis=0)
        flat = float(np.mean(np.all(background == typical, axis=1)))
    report.stats.update(rgb_cells_match=round(matches, 4), rgb_background_flat=round(flat, 4))
    if matches < 0.9 or flat < 0.8:
        report.add(
            "rgb_mask_mismatch",
            "error",
            path=rgb.rel,
            expected="image colours on the mask's cells, one colour elsewhere",
            found=f"{matches:.0%} of cell pixels match the image, background {flat:.0%} one colour",
            fix="re-export RGB_segmented from this image and mask",
        )


def _check_instances(instances: Loaded, cells: np.ndarray, encoding: str, report: PairReport) -> None:
    """Instance label maps: same size, every cell pixel in an instance (clean masks), instances connected."""
    from skimage.measure import label

    labels = instances.array if instances.array.ndim == 2 else instances.array[..., 0]
    if labels.shape != cells.shape:
        report.add(
            "instance_size_mismatch",
            "error",
            path=instances.rel,
            expected=f"the mask size {cells.shape[::-1]}",
            found=f"{labels.shape[::-1]}",
            fix="re-export the instance map at the image's size",
        )
        return
    inside = labels > 0
    outside_share = float(np.mean(~cells[inside])) if inside.any() else 0.0
    gap_share = float(np.mean(~inside[cells])) if cells.any() else 0.0
    regions = label(labels, background=0, connectivity=1)  # equal neighbouring labels form one region
    owner = np.zeros(int(regions.max()) + 1, np.int64)
    owner[regions[inside]] = labels[inside]
    disconnected = int(np.sum(np.bincount(owner[1:]) > 1))  # labels owning several regions
    report.stats.update(
        instances=int(np.count_nonzero(np.bincount(labels[inside]))), instances_disconnected=disconnected
    )
    if encoding in masks.CLEAN_BINARY and gap_share > 0.01:
        report.add(
            "instance_gaps",
            "warning",
            path=instances.rel,
            expected="every mask cell pixel inside an instance",
            found=f"{gap_share:.1%} of cell pixels in no instance",
            fix="label the missing cells",
        )
    if encoding in masks.CLEAN_BINARY and outside_share > 0.01:  # release-style masks grade their edges
        report.add(
            "instance_outside_mask",
            "warning",
            path=instances.rel,
            expected="instances inside the mask's cells",
            found=f"{outside_share:.1%} of instance pixels on mask background",
            fix="re-derive one from the other",
        )
    if disconnected:
        report.add(
            "instance_disconnected",
            "warning",
            path=instances.rel,
            expected="each instance one connected region",
            found=f"{disconnected} instances in several pieces (occluded cells split by another?)",
            fix="check these instances; split or merge them",
        )


@opencv_single_thread()
def validate_pair(row: dict, config: ValidateConfig, *, fix: FixOptions | None = None) -> dict:
    """Every check of one manifest row; returns findings and statistics as plain dicts.

    With ``fix``, the canonical mask of the pair is written too (decoded once for both).
    """
    report = PairReport(row)
    image, mask = _load(row, "image", config, report), _load(row, "mask", config, report)
    rgb, instances = _load(row, "rgb_mask", config, report), _load(row, "instances", config, report)
    _check_presence(image, mask, row, report)
    if mask is None or mask.array is None:
        return report.to_dict()
    _check_mask_format(mask, report)
    encoding = _check_encoding(mask, report)
    if image is None or image.array is None or not _check_sizes(image, mask, rgb, report):
        return report.to_dict()
    colour = image.array[..., :3] if image.array.ndim == 3 else np.repeat(image.array[..., None], 3, axis=2)
    low = masks.low_side(mask.array, colour)  # the cut follows the cells' shading: the canonical mask's rule
    if low.all() or not low.any():  # empty or full: which one depends on the dataset's polarity (decided later)
        report.stats["one_sided"] = "low" if low.all() else "high"
        return report.to_dict()
    polarity, alignment = _choose_polarity(low, colour, config)
    cells = low if polarity == "cells_low" else ~low
    report.stats.update(polarity=polarity, foreground_fraction=round(float(cells.mean()), 5))
    aligned = _check_alignment(alignment, mask, config, report)
    _check_components(cells, mask, config, report)
    if fix is not None:
        sha = row.get("mask_sha256")
        report.fix = write_canonical(
            cells,
            mask.rel,
            source_sha=sha,
            polarity=polarity,
            encoding=encoding.kind,
            options=fix,
            sample_id=report.sample_id,
        )
    # A misplaced mask is already an error; comparing RGB_segmented with it would only repeat that.
    if aligned and rgb is not None and rgb.array is not None and rgb.array.shape[:2] == cells.shape:
        _check_rgb_mask(rgb, colour, cells=cells, config=config, report=report)
    if instances is not None and instances.array is not None:
        _check_instances(instances, cells, encoding.kind, report)
    return report.to_dict()


def validate_many(rows: list[dict], config: ValidateConfig, *, fix: FixOptions | None = None) -> list[dict]:
    """Worker entry: validate a chunk of rows."""
    return [validate_pair(row, config, fix=fix) for row in rows]
