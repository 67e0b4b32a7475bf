"""Checks that need the whole dataset: polarity against the majority, empty/full masks, foreground outliers,
duplicate ids, identical images and the same mask used for two images."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from rbc_dataset.issues import Issue
from rbc_dataset.validate.config import ValidateConfig


def _finding(code, severity, *, path, expected, found, fix, sample_id) -> dict:
    return Issue(code, severity, path=path, expected=expected, found=found, fix=fix, sample_id=sample_id).to_dict()


def _reliable(stats: pd.DataFrame) -> pd.Series:
    """Polarity is only known for masks that fit their image somewhere (not for swapped or foreign masks)."""
    return stats["polarity_reliable"].fillna(False).astype(bool) if "polarity_reliable" in stats else True


def majority_polarity(stats: pd.DataFrame) -> str | None:
    counts = Counter(stats.loc[_reliable(stats), "polarity"].dropna()) if "polarity" in stats else Counter()
    return counts.most_common(1)[0][0] if counts else None


def _polarity_findings(stats: pd.DataFrame, mask_paths: dict, majority: str | None) -> list[dict]:
    if majority is None or "polarity" not in stats:
        return []
    minority = stats[stats["polarity"].notna() & (stats["polarity"] != majority) & _reliable(stats)]
    return [
        _finding(
            "inverted_polarity",
            "error",
            path=mask_paths.get(sid),
            expected=f"{majority} like the dataset's other masks",
            found=polarity,
            fix="invert this mask (validate-masks --fix writes it the right way round)",
            sample_id=sid,
        )
        for sid, polarity in zip(minority["sample_id"], minority["polarity"], strict=True)
    ]


def _one_sided_findings(stats: pd.DataFrame, mask_paths: dict, majority: str | None) -> list[dict]:
    """A mask with one side only is empty or full depending on which side holds cells in this dataset."""
    if "one_sided" not in stats:
        return []
    cell_side = "low" if majority in (None, "cells_low") else "high"
    out = []
    for sid, side in zip(stats["sample_id"], stats["one_sided"], strict=True):
        if not isinstance(side, str):
            continue
        if side == cell_side:
            out.append(
                _finding(
                    "full_mask",
                    "error",
                    path=mask_paths.get(sid),
                    expected="background in the mask",
                    found="every pixel on the cell side",
                    fix="re-export the mask (inverted or blank?)",
                    sample_id=sid,
                )
            )
        else:
            out.append(
                _finding(
                    "empty_mask",
                    "error",
                    path=mask_paths.get(sid),
                    expected="cells in the mask",
                    found="no cell pixel",
                    fix="re-export the mask",
                    sample_id=sid,
                )
            )
    return out


def _outlier_findings(stats: pd.DataFrame, rows: pd.DataFrame, config: ValidateConfig, mask_paths: dict) -> list[dict]:
    """Foreground fraction far from the dataset's own distribution (robust z-score, per source)."""
    if "foreground_fraction" not in stats:
        return []
    merged = stats[["sample_id", "foreground_fraction"]].merge(rows[["sample_id", "source"]], on="sample_id")
    out = []
    for source, group in merged.dropna().groupby("source"):
        values = group["foreground_fraction"].to_numpy()
        if len(values) < 8:
            continue  # too few to call anything an outlier
        median = float(np.median(values))
        spread = 1.4826 * float(np.median(np.abs(values - median))) or 1e-6
        for sid, value in zip(group["sample_id"], values, strict=True):
            z = (value - median) / spread
            if abs(z) > config.outlier_z:
                out.append(
                    _finding(
                        "foreground_outlier",
                        "warning",
                        path=mask_paths.get(sid),
                        expected=f"a foreground fraction near the {source} median {median:.3f}",
                        found=f"{value:.3f} (robust z = {z:+.1f})",
                        fix="look at the mask: wrong file, wrong threshold or an unusual smear?",
                        sample_id=sid,
                    )
                )
    return out


def _same_file_findings(rows: pd.DataFrame, column: str, code: str, what: str) -> list[dict]:
    out = []
    present = rows[rows[column].notna()]
    for _, group in present.groupby(column):
        if len(group) < 2:
            continue
        ids = list(group["sample_id"])
        for sid, path in zip(ids, group[column.replace("_sha256", "_path")], strict=True):
            others = [o for o in ids if o != sid]
            out.append(
                _finding(
                    code,
                    "error",
                    path=path,
                    expected=f"a {what} of its own",
                    found=f"the same bytes as {', '.join(others[:5])}"
                    + (f" and {len(others) - 5} more" if len(others) > 5 else ""),
                    fix="remove the duplicate or restore the right file",
                    sample_id=sid,
                )
            )
    return out


def dataset_findings(rows: pd.DataFrame, stats: pd.DataFrame, *, config: ValidateConfig) -> tuple[list[dict], dict]:
    """Findings across samples, and dataset facts for the report."""
    mask_paths = dict(zip(rows["sample_id"], rows["mask_path"], strict=True))
    majority = majority_polarity(stats)
    findings = _polarity_findings(stats, mask_paths, majority) + _one_sided_findings(stats, mask_paths, majority)
    findings += _outlier_findings(stats, rows, config, mask_paths)
    duplicated = rows[rows["sample_id"].duplicated(keep=False)]
    findings += [
        _finding(
            "duplicate_id",
            "error",
            path=path,
            expected="a unique sample id",
            found=f"{sid} on several rows",
            fix="make ids unique (re-run ingest)",
            sample_id=sid,
        )
        for sid, path in zip(duplicated["sample_id"], duplicated["image_path"], strict=True)
    ]
    findings += _same_file_findings(rows, "image_sha256", "identical_images", "image")
    findings += _same_file_findings(rows, "mask_sha256", "same_mask_for_two_images", "mask")
    encodings = Counter(stats["encoding"].dropna()) if "encoding" in stats else Counter()
    facts = {"majority_polarity": majority, "encodings": dict(encodings)}
    return findings, facts
