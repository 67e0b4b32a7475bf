"""Dataset-level checks of validate-masks on hand-made statistics: each finds its broken case, passes the clean one."""

from __future__ import annotations

import pandas as pd

from rbc_dataset.validate.config import ValidateConfig
from rbc_dataset.validate.dataset import dataset_findings


def _frames(n: int = 12, **overrides):
    ids = [f"s{i}" for i in range(n)]
    rows = pd.DataFrame(
        {
            "sample_id": ids,
            "source": "folder",
            "mask_path": [f"m/{i}.png" for i in ids],
            "image_path": [f"i/{i}.png" for i in ids],
            "image_sha256": [f"a{i}" for i in range(n)],
            "mask_sha256": [f"b{i}" for i in range(n)],
        }
    )
    stats = pd.DataFrame(
        {
            "sample_id": ids,
            "polarity": "cells_low",
            "polarity_reliable": True,
            "foreground_fraction": [0.38 + 0.005 * (i % 4) for i in range(n)],
            "encoding": "binary_0_255",
        }
    )
    for column, (index, value) in overrides.items():
        frame = rows if column in rows else stats
        frame.loc[index, column] = value
    return rows, stats


def _codes(rows, stats) -> dict[str, set[str]]:
    findings, _ = dataset_findings(rows, stats, config=ValidateConfig())
    out: dict[str, set[str]] = {}
    for f in findings:
        out.setdefault(f["code"], set()).add(f["sample_id"])
    return out


def test_clean_dataset_has_no_findings() -> None:
    assert _codes(*_frames()) == {}


def test_minority_polarity_is_inverted_but_not_for_unreliable_masks() -> None:
    assert _codes(*_frames(polarity=(3, "cells_high"))) == {"inverted_polarity": {"s3"}}
    rows, stats = _frames(polarity=(3, "cells_high"), polarity_reliable=(3, False))
    assert _codes(rows, stats) == {}


def test_one_sided_masks_are_empty_or_full_by_the_majority_polarity() -> None:
    rows, stats = _frames()
    stats["one_sided"] = None
    stats.loc[2, "one_sided"], stats.loc[5, "one_sided"] = "high", "low"
    assert _codes(rows, stats) == {"empty_mask": {"s2"}, "full_mask": {"s5"}}


def test_foreground_outlier() -> None:
    assert _codes(*_frames(foreground_fraction=(7, 0.9))) == {"foreground_outlier": {"s7"}}


def test_duplicate_ids_identical_images_and_shared_masks() -> None:
    codes = _codes(*_frames(sample_id=(4, "s3")))
    assert "duplicate_id" in codes
    codes = _codes(*_frames(image_sha256=(4, "a3"), mask_sha256=(6, "b1")))
    assert codes == {"identical_images": {"s3", "s4"}, "same_mask_for_two_images": {"s1", "s6"}}
