"""``validate-masks --fix OUT``: canonical masks (single-channel PNG, cell = 255, background = 0) and provenance.

The worker that validated a pair also writes its canonical mask (the mask is decoded once); after the
dataset-level checks, masks of pairs with errors that canonicalisation does not cure are removed again and
listed as skipped. Speck removal and hole filling happen only when asked, with the sizes recorded.

A canonical mask is named ``masks/<safe_name(sample_id)>.png``, never after the source mask's path: that path
comes from the data (a metadata CSV may name ``../x.png`` or an absolute path), and joining it under the output
folder once wrote over the user's original mask. The source path and checksums stay in provenance.csv.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rbc_dataset.fileio import encode_png, path_inside, safe_name, sha256_bytes
from rbc_dataset.masks import fill_small_holes, remove_small_components

CURED_BY_CANONICAL = {
    "inverted_polarity",
    "mask_near_binary",
    "mask_multi_valued",
    "mask_channels_disagree",
    "mask_alpha",
    "mask_palette",
    "mask_16bit",
}


@dataclass(frozen=True)
class FixOptions:
    """What --fix does beyond re-encoding."""

    out: Path  # temporary folder the canonical masks are written into
    remove_specks_px: int | None = None  # drop cell components smaller than this (None: keep them)
    fill_holes_px: int | None = None  # fill enclosed background smaller than this (None: keep holes)

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("out")
        return data


def canonicalise(cells: np.ndarray, options: FixOptions) -> tuple[np.ndarray, dict]:
    """Apply the requested clean-up to a boolean cell map; return it and what was done."""
    done = {"specks_removed": 0, "holes_filled": 0}
    # Components touching the border are kept: a cut cell at a tile's edge is no speck, an open gap no hole.
    if options.remove_specks_px:
        cells, done["specks_removed"] = remove_small_components(cells, options.remove_specks_px, keep_border=True)
    if options.fill_holes_px:
        cells, done["holes_filled"] = fill_small_holes(cells, options.fill_holes_px, keep_border=True)
    return cells, done


def canonical_rel(sample_id: str) -> str:
    """Path of a sample's canonical mask relative to the --fix folder: named by a safe slug of the sample id."""
    return f"masks/{safe_name(sample_id)}.png"


def write_canonical(
    cells: np.ndarray,
    mask_rel: str,
    *,
    source_sha: str | None,
    polarity: str,
    encoding: str,
    options: FixOptions,
    sample_id: str,
) -> dict:
    """Write one canonical mask as ``options.out/masks/<safe sample id>.png``; return its provenance."""
    cells, done = canonicalise(cells, options)
    data = encode_png(np.where(cells, 255, 0).astype(np.uint8))
    rel = canonical_rel(sample_id)
    target = path_inside(options.out, rel)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return {
        "source_mask": mask_rel,
        "source_sha256": source_sha,
        "encoding": encoding,
        "polarity": polarity,
        **done,
        "canonical_mask": rel,
        "canonical_sha256": sha256_bytes(data),
    }
