"""Known ground-truth defects planted into a synthetic dataset, and CBC reports reused across images.

Both run after all images are written, so that a defect can involve two samples (a swapped mask, a
duplicated image). Which samples get which defect is decided by the seed alone; the list is written
to ``synthetic_truth/defects.csv`` so that validators can be scored against it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from rbc_dataset.fileio import read_image, write_png
from rbc_dataset.layout import image_stem, report_stem, role_folder, sample_id
from rbc_dataset.synth.config import SynthConfig

DEFECT_TYPES = (
    "missing_mask",
    "orphan_mask",
    "size_mismatch",
    "truncated_file",
    "jpeg_mask",
    "inverted_polarity",
    "shifted_mask",
    "flipped_mask",
    "swapped_mask",
    "empty_mask",
    "duplicate_image",
)
# The validate-masks error code each planted defect must produce (a swap makes both masks foreign).
EXPECTED_FINDING = {
    "missing_mask": "missing_mask",
    "orphan_mask": "orphan_mask",
    "size_mismatch": "size_mismatch",
    "truncated_file": "truncated_file",
    "jpeg_mask": "lossy_mask",
    "inverted_polarity": "inverted_polarity",
    "shifted_mask": "shifted_mask",
    "flipped_mask": "flipped_mask",
    "swapped_mask": "mask_mismatch",
    "empty_mask": "empty_mask",
    "duplicate_image": "identical_images",
}
DEFECT_COLUMNS = ["sample_id", "kind", "defect", "file", "partner_id", "detail"]
PAIR_DEFECTS = ("duplicate_image", "swapped_mask")  # applied first, while both files are still clean


def _samples(config: SynthConfig) -> list[tuple[str, str, int, int | None]]:
    """Every (kind, class, number, tile) the config writes, in a fixed order."""
    classes = ("anemic", "healthy")
    out = [("I", c, n, None) for c in classes for n in range(1, config.n_images + 1)]
    if config.with_tiles:
        out += [("II", c, n, t) for c in classes for n in range(1, config.n_images + 1) for t in range(1, 13)]
    return out


def _paths(root: Path, sample: tuple) -> dict[str, Path]:
    kind, cls, number, tile = sample
    stem = image_stem(kind, cls, number=number, tile=tile)
    return {role: role_folder(root, kind, cls=cls, role=role) / f"{stem}.png" for role in ("image", "mask", "rgb_mask")}


def _id(sample: tuple) -> str:
    kind, cls, number, tile = sample
    return sample_id(kind, cls, number=number, tile=tile)


def plan_defects(config: SynthConfig) -> list[tuple[tuple, str, tuple | None]]:
    """(sample, defect, partner) triples; types cycle so that every type appears once enough samples are hit."""
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 7919]))
    samples = _samples(config)
    chosen = [s for s, u in zip(samples, rng.uniform(size=len(samples)), strict=True) if u < config.defect_rate]
    order = [DEFECT_TYPES[i] for i in rng.permutation(len(DEFECT_TYPES))]
    busy = set(chosen)
    plan = []
    for j, sample in enumerate(chosen):
        defect = order[j % len(order)]
        partner = None
        if defect in PAIR_DEFECTS:
            partner = _pick_partner(sample, samples, busy, rng)
            if partner is None:
                defect = "flipped_mask"
            elif defect == "swapped_mask":
                busy.add(partner)
        plan.append((sample, defect, partner))
    return sorted(plan, key=lambda item: (item[1] not in PAIR_DEFECTS, _id(item[0])))


def _pick_partner(sample: tuple, samples: list[tuple], busy: set, rng: np.random.Generator) -> tuple | None:
    """Another sample of the same kind, preferably one without a defect of its own."""
    same_kind = [s for s in samples if s[0] == sample[0] and s != sample]
    free = [s for s in same_kind if s not in busy] or same_kind
    return free[int(rng.integers(len(free)))] if free else None


def _background_value(config: SynthConfig) -> int:
    return 0 if config.mask_style == "binary" else 255


def _shift(mask: np.ndarray, rng: np.random.Generator, fill: int) -> tuple[np.ndarray, str]:
    """Shift by 5-15 px in a random direction, filling the uncovered border with background."""
    dy, dx = (int(rng.integers(5, 16)) * int(rng.choice([-1, 1])) for _ in range(2))
    out = np.full_like(mask, fill)
    h, w = mask.shape[:2]
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = mask[
        max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)
    ]
    return out, f"dy={dy},dx={dx}"


def _apply(root: Path, config: SynthConfig, *, sample: tuple, defect: str, partner, rng) -> tuple[str, str]:
    """Plant one defect; return the affected file (relative to root) and a detail string."""
    paths = _paths(root, sample)
    mask_path, image_path = paths["mask"], paths["image"]
    fill = _background_value(config)
    detail = ""
    if defect == "missing_mask":
        mask_path.unlink()
    elif defect == "orphan_mask":
        image_path.unlink()
        return str(image_path.relative_to(root)), "image removed, mask kept"
    elif defect == "truncated_file":
        target = image_path if rng.uniform() < 0.5 else mask_path
        data = target.read_bytes()
        target.write_bytes(data[: int(len(data) * 0.6)])
        return str(target.relative_to(root)), f"cut to 60 % of {len(data)} bytes"
    elif defect == "jpeg_mask":
        mask = read_image(mask_path)
        bgr = cv2.cvtColor(mask, cv2.COLOR_RGB2BGR) if mask.ndim == 3 else mask
        mask_path.write_bytes(cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes())
        detail = "JPEG bytes under a .png name, quality 85"
    elif defect == "swapped_mask":
        other = _paths(root, partner)["mask"]
        a, b = mask_path.read_bytes(), other.read_bytes()
        mask_path.write_bytes(b)
        other.write_bytes(a)
    elif defect == "duplicate_image":
        for role, path in _paths(root, partner).items():
            shutil.copyfile(path, paths[role])
        return str(image_path.relative_to(root)), "image, mask and RGB mask copied from the partner"
    else:
        mask = read_image(mask_path)
        mask, detail = _edit_mask(mask, defect, rng, fill)
        write_png(mask_path, mask)
    return str(mask_path.relative_to(root)), detail


def _edit_mask(mask: np.ndarray, defect: str, rng: np.random.Generator, fill: int) -> tuple[np.ndarray, str]:
    if defect == "size_mismatch":
        return mask[:-16, :-10].copy(), f"cropped from {mask.shape[1]}x{mask.shape[0]} by 10x16 px"
    if defect == "inverted_polarity":
        return 255 - mask, "values inverted"
    if defect == "shifted_mask":
        return _shift(mask, rng, fill)
    if defect == "flipped_mask":
        axis = int(rng.integers(2))
        return np.flip(mask, axis=axis).copy(), "vertical flip" if axis == 0 else "horizontal flip"
    if defect == "empty_mask":
        return np.full_like(mask, fill), "all background"
    raise ValueError(f"unknown defect type {defect!r}; valid: {', '.join(DEFECT_TYPES)}")


def inject_defects(root: Path, config: SynthConfig) -> pd.DataFrame:
    """Plant the planned defects into the written dataset and return their list."""
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 6007]))
    rows = []
    for sample, defect, partner in plan_defects(config):
        file, detail = _apply(root, config, sample=sample, defect=defect, partner=partner, rng=rng)
        partner_id = _id(partner) if partner else ""
        rows.append([_id(sample), sample[0], defect, Path(file).as_posix(), partner_id, detail])
        if defect == "swapped_mask":
            other_file = _paths(root, partner)["mask"].relative_to(root).as_posix()
            rows.append([partner_id, partner[0], defect, other_file, _id(sample), "partner of a swap"])
    return pd.DataFrame(rows, columns=DEFECT_COLUMNS)


def reuse_cbc_reports(root: Path, config: SynthConfig) -> pd.DataFrame:
    """Overwrite a share of CBC reports with another image's report, as the release does (528 distinct of 1000)."""
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 104729]))
    images = [s for s in _samples(config) if s[0] == "I"]
    rows = []
    for target in images:
        if rng.uniform() >= config.cbc_reuse:
            continue
        source = images[int(rng.integers(len(images)))]
        if source == target:
            continue
        for kind in ("I", "II") if config.with_tiles else ("I",):
            shutil.copyfile(_report_path(root, kind, source), _report_path(root, kind, target))
        rows.append([_id(target), _id(source), target[1] == source[1]])
    return pd.DataFrame(rows, columns=["sample_id", "copied_from", "same_class"])


def _report_path(root: Path, kind: str, sample: tuple) -> Path:
    _, cls, number, _ = sample
    return role_folder(root, kind, cls=cls, role="cbc") / f"{report_stem(kind, cls, number=number)}.txt"
