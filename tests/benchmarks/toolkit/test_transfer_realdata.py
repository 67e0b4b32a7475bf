"""``rbc-bench transfer`` on the real AneRBC-I pairs of ../shared/realdata with the real morphometric baseline.

Trained on the tiny synthetic ``bench_build``; the scores themselves are not checked (nothing is fitted to the
real files), only that all eight images are scored once, per image, and left as they were. Slow (measuring the
cells of 96 real and 96 synthetic tiles takes about half a minute on 2 cores): run it with ``-m slow``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.toolkit import transfer
from tests.helpers import REALDATA, tree_hashes

REAL_DIR = REALDATA / "AneRBC-I"


@pytest.mark.realdata
def test_morphometric_trained_on_synthetic_scores_every_real_image_once(bench_build, tmp_path: Path) -> None:
    before = tree_hashes(REAL_DIR)
    settings = transfer.TransferSettings(models=("morphometric",), workers=2, n_resamples=200)
    result = transfer.run_transfer(
        REAL_DIR, json_out=tmp_path / "t.json", train=bench_build, settings=settings, show_progress=False
    )
    assert result["status"] == "done" and json.loads((tmp_path / "t.json").read_text())["status"] == "done"
    (entry,) = result["models"]
    real = entry["real"]
    assert real["n_images_per_class"] == {"healthy": 4, "anaemic": 4} and real["n_tiles"] == 8 * 12
    assert sorted(image["image"] for image in real["images"]) == [
        f"anerbc1_{c}_00{n}" for c in "ah" for n in range(1, 5)
    ]
    for name in ("balanced_accuracy", "roc_auc"):
        low, high = real[f"{name}_ci"]
        assert 0.0 <= low <= real[name] <= high <= 1.0, (name, real[name], low, high)
    assert [access["case"] for access in result["real_accesses"]] == ["morphometric"]
    assert "8 real images (4 healthy + 4 anaemic)" in result["caveat"]
    assert tree_hashes(REAL_DIR) == before
