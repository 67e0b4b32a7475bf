"""benchmarks/toolkit/annotate_fit_recipes.py: the folds it plans, the dihedral average, one job, the summary."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from annotation.learned.model_folder import CellModel
from benchmarks.toolkit.annotate_fit import real_pairs
from benchmarks.toolkit.annotate_fit_recipes import RECIPES, Job, _rows, dihedral_maps, plan_jobs, run_job, summarise
from tests.helpers.smears import add_drawn_pairs, tiny_realdata


def test_every_fold_keeps_its_held_out_image_out_of_training():
    jobs = plan_jobs(8, recipes=["v2", "long"], curve_recipes=["long"])
    loo = [job for job in jobs if job.kind == "loo"]
    curve = [job for job in jobs if job.kind == "curve"]
    assert len(loo) == 16 and len(curve) == 8 * 3
    assert jobs[: len(loo)] == loo  # leave-one-out first: a run cut at its budget has those
    for job in jobs:
        assert job.held not in job.training
    assert all(len(job.training) == 7 for job in loo)
    assert sorted(len(job.training) for job in curve if job.held == 0) == [1, 2, 4]
    assert plan_jobs(8, recipes=["v2"], curve_recipes=["long"]) == plan_jobs(8, recipes=["v2"], curve_recipes=["long"])


def test_the_dihedral_average_of_a_pixelwise_model_is_its_plain_prediction():
    network = torch.nn.Conv2d(3, 2, 1).eval()  # no neighbourhood: flips and turns cannot change a pixel's value
    model = CellModel(path=None, network=network, description={})
    image = np.random.default_rng(0).integers(0, 256, (24, 40, 3), dtype=np.uint8)
    from annotation.learned.infer import predict_maps

    np.testing.assert_allclose(dihedral_maps(model, image), predict_maps(model, image, scale=1.0).cell, atol=1e-6)


def test_a_directional_model_is_averaged_over_the_eight_orientations():
    network = torch.nn.Conv2d(3, 2, 3, padding=1).eval()
    with torch.no_grad():
        network.weight.zero_()
        network.weight[:, :, 1, 2] = 1.0  # looks at the right-hand neighbour only
    model = CellModel(path=None, network=network, description={})
    image = np.zeros((16, 16, 3), np.uint8)
    image[8, 8] = 255
    averaged = dihedral_maps(model, image)
    neighbours = [averaged[8, 9], averaged[8, 7], averaged[7, 8], averaged[9, 8]]
    assert max(neighbours) - min(neighbours) < 1e-6  # the one bright pixel reaches all four sides alike


@pytest.fixture(scope="module")
def pairs(tmp_path_factory, synthetic_root):
    root = tiny_realdata(tmp_path_factory.mktemp("real") / "realdata", synthetic_root)
    add_drawn_pairs(root)
    return real_pairs(root)


def test_one_job_scores_the_held_out_image_and_the_training_images(pairs):
    job = Job("v2", held=0, training=tuple(range(1, len(pairs))), kind="loo")
    row = run_job(job, pairs=pairs, rehearse=[], device="cpu", max_epochs=1)
    assert row["image"] == pairs[0].name and row["annotated"] == len(pairs) - 1
    for key in ("dice", "dice_dihedral", "in_sample_dice"):
        assert 0.0 <= row[key] <= 1.0
    summary = summarise([row, row | {"kind": "curve", "annotated": 1, "dice": 0.5}])
    assert summary["v2"]["loo_images"] == 1 and summary["v2"]["curve"] == {1: 0.5}
    assert summary["v2"]["loo_dice_ci95"] == pytest.approx((row["dice"], row["dice"]))  # one image: no spread
    table = dict(_rows({"recipes": summary, "jobs_done": 2, "jobs_planned": 2}))
    assert table["v2: leave-one-out Dice"].startswith(f"{row['dice']:.4f} [{row['dice']:.3f}, {row['dice']:.3f}]")
    assert summary["v2"]["why"] == RECIPES["v2"].why


def test_unknown_recipes_and_missing_pairs_are_refused_before_any_fit(tmp_path):
    from benchmarks.toolkit.annotate_fit_recipes import run_recipes
    from rbc_dataset.errors import DataError, UsageError

    with pytest.raises(UsageError, match="unknown recipe fast: choose from v2"):
        run_recipes(realdata=tmp_path, json_out=tmp_path / "r.json", recipes=["fast"], curve_recipes=[])
    with pytest.raises(DataError, match="at least two image/mask pairs"):
        run_recipes(realdata=tmp_path, json_out=tmp_path / "r.json", recipes=["v2"], curve_recipes=[])
    assert not (tmp_path / "r.json").exists() and not (tmp_path / "r.jsonl").exists()
