"""benchmarks/toolkit/annotate_fit.py on a tiny stand-in for ../shared/realdata (drawn pairs, tiny fits)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from annotation.learned.fit import FitSettings, fit_cell_model
from benchmarks.toolkit.annotate_fit import learned_instances, missed_share, real_pairs, run_fit_bench
from rbc_dataset.errors import DataError
from tests.helpers.smears import add_drawn_pairs, tiny_realdata

TINY = FitSettings(crop_size=64, batch_size=2, steps_per_epoch=3, epochs=1, base_width=8, rehearsal=0)


@pytest.fixture(scope="module")
def realdata(tmp_path_factory, synthetic_root):
    root = tiny_realdata(tmp_path_factory.mktemp("real") / "realdata", synthetic_root)
    add_drawn_pairs(root)
    return root


def test_every_number_is_measured_on_held_out_images_next_to_the_baselines(realdata, tmp_path):
    out = tmp_path / "fit.json"
    settings = replace(TINY, rehearsal=0.5)  # the fits rehearse synthetic smears, as `annotate fit` does
    result = run_fit_bench(
        realdata, out, init=None, settings=settings, curve_sizes=(0, 1, 2), curve_folds=1, log=lambda _: None
    )
    assert result["rehearsal_images"] == 4
    saved = json.loads(out.read_text())
    assert saved["benchmark"] == "annotation_fit" and "environment" in saved
    loo = result["leave_one_out"]
    assert loo["images"] == 3 and set(loo["mean_dice"]) == {"learned", "propose", "otsu_fill_speck"}
    assert all(row["fit_images"] == 2 for row in loo["per_image"])  # each fold fits on the others only
    assert loo["missed_share_anaemic"]["learned"] is not None
    for method, (low, high) in loo["mean_dice_ci95"].items():  # 3 images resampled: around the mean
        assert low <= loo["mean_dice"][method] <= high
    gain = loo["learned_minus_otsu_fill"]
    expected = loo["mean_dice"]["learned"] - loo["mean_dice"]["otsu_fill_speck"]
    assert gain["mean"] == pytest.approx(expected) and gain["ci95"][0] <= gain["mean"] <= gain["ci95"][1]
    curve = result["learning_curve"]
    assert set(curve["mean_dice"]) == {1, 2}  # no pretrained model: no point at 0 annotated images
    first = loo["per_image"][0]
    assert [r["dice"] for r in curve["per_fold"] if r["annotated"] == 2] == [first["dice_learned"]]
    assert {"learned", "ours", "plain"} <= set(result["bccd"]) and "merged_share" in result["bccd"]["learned"]
    assert {"learned", "ours"} <= set(result["chula"])
    assert result["propose_speed"]["images"] == 3 and result["fit_all"]["images"] == 3


def test_a_curve_starts_at_the_pretrained_model_alone(realdata, tmp_path):
    init = fit_cell_model([real_pairs(realdata)[0]], out=tmp_path / "init", settings=TINY).out
    result = run_fit_bench(
        realdata, tmp_path / "f.json", init=init, settings=TINY, curve_sizes=(0,), curve_folds=1, log=lambda _: None
    )
    assert set(result["learning_curve"]["mean_dice"]) == {0}


def test_missed_share_and_too_few_pairs(tmp_path):
    true = np.array([[1, 1, 0, 0]], bool)
    assert missed_share(np.array([[1, 0, 0, 1]], bool), true) == 0.5
    with pytest.raises(DataError, match="at least two image/mask pairs"):
        run_fit_bench(tmp_path, tmp_path / "x.json", init=None, settings=TINY)
    assert callable(learned_instances(None))


def test_without_folds_only_the_fit_on_all_pairs_is_measured(realdata, tmp_path):
    result = run_fit_bench(realdata, tmp_path / "f.json", init=None, settings=TINY, folds=False, log=lambda _: None)
    assert result["leave_one_out"] is None and result["learning_curve"]["per_fold"] == []
    assert result["fit_all"]["images"] == 3 and result["propose_speed"]["images"] == 3
    assert json.loads((tmp_path / "f.json").read_text())["leave_one_out"] is None


def test_curve_points_are_paired_with_the_starting_model_on_the_same_held_out_image():
    from benchmarks.toolkit.annotate_fit import curve_against_start

    rows = [
        {"image": "a", "annotated": 0, "dice": 0.90},
        {"image": "b", "annotated": 0, "dice": 0.80},
        {"image": "a", "annotated": 2, "dice": 0.92},
        {"image": "b", "annotated": 2, "dice": 0.81},
        {"image": "c", "annotated": 2, "dice": 0.10},  # no point 0 for c: left out, not paired with another image
    ]
    [(size, gain)] = curve_against_start(rows).items()
    assert size == 2 and gain["mean"] == pytest.approx(0.015)
    assert gain["ci95"][0] == pytest.approx(0.01) and gain["ci95"][1] == pytest.approx(0.02)
    assert curve_against_start([r for r in rows if r["annotated"] == 2]) == {}
