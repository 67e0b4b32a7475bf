"""benchmarks/toolkit/annotate_pretrain.py on a tiny stand-in for ../shared/realdata (tiny pretraining runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import benchmarks.toolkit.annotate_pretrain as bench
from annotation.learned.fit import FitSettings
from rbc_dataset.errors import DataError, UsageError
from tests.helpers.smears import tiny_realdata

TINY = FitSettings(crop_size=64, batch_size=2, steps_per_epoch=2, epochs=1, base_width=8, validation_images=1)


@pytest.fixture(scope="module")
def realdata(tmp_path_factory, synthetic_root):
    return tiny_realdata(tmp_path_factory.mktemp("real") / "realdata", synthetic_root)


def test_every_overlap_and_seed_is_pretrained_and_scored_on_the_real_images(realdata, tmp_path):
    out = tmp_path / "pretrain.json"
    arms = [bench.Arm(0.0), bench.Arm(0.3), bench.Arm(0.3, 0.5)]
    result = bench.run_pretrain_bench(
        realdata=realdata, json_out=out, arms=arms, seeds=[1, 2], settings=TINY, n_images=1, log=print
    )
    rows = result["rows"]
    assert [(r["overlap"], r["hue_turn"], r["seed"]) for r in rows] == [
        (0.0, None, 1),
        (0.3, None, 1),
        (0.3, 0.5, 1),
        (0.0, None, 2),
        (0.3, None, 2),
        (0.3, 0.5, 2),
    ]
    for row in rows:
        assert list(row["anerbc_dice_per_image"]) == ["Anemic_individuals/001_a.png"]
        assert 0 <= row["bccd_recall"] <= 1 and 0 <= row["chula_one_point"] <= 1
        assert row["anerbc_area_ratio"] >= 0
    summary = result["summary"]
    assert summary["paired_against"] == "overlap 0.0, hue default"
    paired = summary["paired"]["overlap 0.3, hue 0.5"]["bccd_recall"]
    assert paired["seeds"] == 2 and 0 <= paired["seeds_up"] <= 2
    for row in rows:  # per-image counts and intervals (one image here: the interval is the value itself)
        assert row["bccd_recall_ci95"] == pytest.approx((row["bccd_recall"],) * 2)
        assert row["anerbc_dice_ci95"] == pytest.approx((row["anerbc_dice"],) * 2)
        assert sum(total for _, total in row["chula_per_image"].values()) == 1
    assert paired["ci95"] == pytest.approx((paired["mean_difference"],) * 2)
    expected = sum(r["bccd_recall"] for r in rows if r["hue_turn"] == 0.5) / 2
    assert summary["per_arm"]["overlap 0.3, hue 0.5"]["bccd_recall"]["mean"] == pytest.approx(expected)
    saved = json.loads(out.read_text())
    assert saved["benchmark"] == "annotation_pretrain" and len(saved["rows"]) == 6


def test_arms_are_read_as_overlap_hue_zoom_defocus_and_edge():
    assert bench.Arm.parse("0.35/0.5") == bench.Arm(0.35, 0.5)
    assert bench.Arm.parse("0/default") == bench.Arm.parse("0") == bench.Arm(0.0, None)
    zoomed = bench.Arm.parse("0.35/0.5/0.25")
    assert zoomed == bench.Arm(0.35, 0.5, 0.25) and zoomed.label == "overlap 0.35, hue 0.5, zoom 0.25"
    assert zoomed.settings(FitSettings()).zoom == 0.25 and bench.Arm(0.35, 0.5).label == "overlap 0.35, hue 0.5"
    defocused = bench.Arm.parse("0.35/0.5/0/0.8")
    assert defocused == bench.Arm(0.35, 0.5, 0.0, 0.8) and defocused.label == "overlap 0.35, hue 0.5, defocus 0.8"
    assert defocused.synth_config().defocus == 0.8 and defocused.synth_config().cell_overlap == 0.35
    assert defocused.folder_name != bench.Arm(0.35, 0.5).folder_name
    rounded = bench.Arm.parse("0.35/0.5/0/0/0.2")
    assert (
        rounded == bench.Arm(0.35, 0.5, rounded_edge=0.2) and rounded.label == "overlap 0.35, hue 0.5, rounded edge 0.2"
    )
    assert rounded.synth_config().rounded_edge == 0.2 and rounded.smears_name != defocused.smears_name
    for text in ("thick/any", "0.35/0.5/0/0.8/0.2/1"):
        with pytest.raises(UsageError, match="OVERLAP/HUE"):
            bench.Arm.parse(text)


def test_bad_requests_are_refused_before_any_pretraining(realdata, tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "pretrain_and_score", lambda **_: pytest.fail("a job ran"))
    run = {"json_out": tmp_path / "x.json", "seeds": [1]}
    with pytest.raises(UsageError, match="--cell-overlap must lie in"):
        bench.run_pretrain_bench(realdata=realdata, arms=[bench.Arm(0.0), bench.Arm(0.9)], **run)
    with pytest.raises(UsageError, match="hue_turn must be in"):
        bench.run_pretrain_bench(realdata=realdata, arms=[bench.Arm(0.0, 0.7)], **run)
    with pytest.raises(UsageError, match="zoom must be in"):
        bench.run_pretrain_bench(realdata=realdata, arms=[bench.Arm(0.0, 0.5, 2.0)], **run)
    with pytest.raises(UsageError, match="--defocus must lie in"):
        bench.run_pretrain_bench(realdata=realdata, arms=[bench.Arm(0.0, 0.5, 0.0, 3.0)], **run)
    with pytest.raises(UsageError, match="--synth-seeds"):
        bench.run_pretrain_bench(realdata=realdata, arms=[bench.Arm(0.0)], json_out=tmp_path / "x.json", seeds=[])
    with pytest.raises(DataError, match="none of them"):
        bench.run_pretrain_bench(realdata=tmp_path, arms=[bench.Arm(0.0)], **run)
    assert not (tmp_path / "x.json").exists()


def test_an_arms_smears_are_drawn_as_it_says_and_shared_by_arms_that_differ_in_crops_only(tmp_path):
    import yaml

    from rbc_dataset.layout import SYNTH_CONFIG_FILE, TRUTH_FOLDER

    arm = bench.Arm(0.3, 0.5, 0.0, 0.5, 0.2)
    folder = bench._smears(tmp_path, arm=arm, seed=2, n_images=1)
    drawn = yaml.safe_load((folder / TRUTH_FOLDER / SYNTH_CONFIG_FILE).read_text())
    assert (drawn["cell_overlap"], drawn["defocus"], drawn["rounded_edge"]) == (0.3, 0.5, 0.2)
    assert (drawn["seed"], drawn["with_tiles"]) == (2, False)
    assert bench._smears(tmp_path, arm=bench.Arm(0.3, None, 0.25, 0.5, 0.2), seed=2, n_images=1) == folder


def test_the_command_draws_as_many_smears_as_asked_and_as_make_pretrained_by_default(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from cli import bench_app

    calls = []
    monkeypatch.setattr(bench, "run_pretrain_bench", lambda **kwargs: calls.append(kwargs))
    command = ["annotate-pretrain", "--realdata", str(tmp_path), "--arms", "0.35/0.5", "--synth-seeds", "1"]
    for extra in ([], ["--n-images", "60", "--epochs", "30"]):
        result = CliRunner().invoke(bench_app, [*command, *extra])
        assert result.exit_code == 0, result.output
    assert [call["n_images"] for call in calls] == [bench.PRETRAIN_IMAGES, 60]
    assert [call["epochs"] for call in calls] == [None, 30]  # None: PRETRAIN_SETTINGS' epochs
    assert calls[0]["arms"] == [bench.Arm(0.35, 0.5)] and calls[0]["seeds"] == [1]


def test_epochs_override_the_pretraining_settings_of_every_job(realdata, tmp_path, monkeypatch):
    jobs = []

    def job(**kwargs):
        jobs.append(kwargs)
        scores = dict.fromkeys([*bench.METRICS, "bccd_merged", "chula_merged"], 0.5)
        return {"arm": kwargs["arm"].label, "seed": kwargs["seed"]} | scores

    monkeypatch.setattr(bench, "pretrain_and_score", job)
    run = {"realdata": realdata, "json_out": tmp_path / "x.json", "arms": [bench.Arm(0.35, 0.5)], "seeds": [1, 3]}
    result = bench.run_pretrain_bench(settings=TINY, epochs=30, **run)
    assert [j["settings"].epochs for j in jobs] == [30, 30] and result["settings"]["epochs"] == 30
    assert all(j["settings"].crop_size == TINY.crop_size for j in jobs)  # only the epochs change
    jobs.clear()
    bench.run_pretrain_bench(settings=TINY, **run)
    assert [j["settings"].epochs for j in jobs] == [TINY.epochs] * 2


def test_paired_intervals_resample_images_and_average_the_seeds():
    def row(arm, seed, matched):
        dice = {f"i{k}": 0.9 for k in range(4)}
        per_image = {f"i{k}": [m, 10] for k, m in enumerate(matched)}
        return {"arm": arm, "seed": seed, "anerbc_dice": 0.9, "anerbc_dice_per_image": dice}, per_image

    rows = []
    for arm, seed, matched in [
        ("a", 1, [5, 5, 5, 5]),
        ("b", 1, [7, 5, 6, 5]),
        ("a", 2, [5, 5, 5, 5]),
        ("b", 2, [7, 7, 6, 5]),
    ]:
        r, per_image = row(arm, seed, matched)
        recall = sum(matched) / 40
        rows.append(r | {"bccd_recall": recall, "bccd_per_image": per_image, "chula_one_point": None})
    paired = bench.summarise(rows)["paired"]["b"]
    # Per image, the mean difference over seeds is 2, 1, 1, 0 of 10 boxes: every resample lies in [0, 0.2].
    assert paired["bccd_recall"]["mean_difference"] == pytest.approx(0.1)
    low, high = paired["bccd_recall"]["ci95"]
    assert 0 <= low < 0.1 < high <= 0.2
    assert paired["anerbc_dice"]["ci95"] == pytest.approx((0.0, 0.0))
    assert paired["chula_one_point"]["ci95"] is None  # rows saved without per-image counts


def test_model_folders_are_scored_alone_and_against_the_first_image_by_image(realdata, synthetic_root, tmp_path):
    import shutil

    from annotation.learned.pretrain import pretrain

    model = pretrain(synthetic_root, out=tmp_path / "model", settings=TINY, max_images=2).out
    copy = Path(shutil.copytree(model, tmp_path / "copy"))
    result = bench.run_score_bench(realdata=realdata, models=[model, copy], json_out=tmp_path / "s.json", log=print)
    first, second = result["rows"]
    assert first["bccd_per_image"] == second["bccd_per_image"] and first["arm"] == str(model)
    for metric, paired in result["summary"]["paired"][str(copy)].items():  # the same weights: no difference
        assert paired["mean_difference"] == 0 and paired["ci95"] == (0, 0), metric
    assert json.loads((tmp_path / "s.json").read_text())["benchmark"] == "annotation_models"
    with pytest.raises(DataError, match="model.json"):
        bench.run_score_bench(realdata=realdata, models=[model, tmp_path], json_out=tmp_path / "x.json")
    with pytest.raises(UsageError, match="--cell-model"):
        bench.run_score_bench(realdata=realdata, models=[], json_out=tmp_path / "x.json")
    with pytest.raises(UsageError, match="each folder once"):
        bench.run_score_bench(realdata=realdata, models=[model, copy, model], json_out=tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


def test_the_score_command_scores_the_packaged_model_unless_given_folders(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from annotation.learned.pretrain import PRETRAINED
    from cli import bench_app

    calls = []
    monkeypatch.setattr(bench, "run_score_bench", lambda **kwargs: calls.append(kwargs))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    command = ["annotate-score", "--realdata", str(tmp_path)]
    for extra in ([], ["--cell-model", str(tmp_path / "a"), "--cell-model", str(tmp_path / "b")]):
        result = CliRunner().invoke(bench_app, [*command, *extra])
        assert result.exit_code == 0, result.output
    assert [call["models"] for call in calls] == [[PRETRAINED], [tmp_path / "a", tmp_path / "b"]]
    result = CliRunner().invoke(bench_app, [*command, "--cell-model", str(tmp_path / "absent")])
    assert result.exit_code == 2 and "no such file or folder" in result.output


def test_two_saved_runs_are_compared_arm_by_arm_and_seed_by_seed(tmp_path):
    def saved(name, matched_by_seed):
        rows = []
        for seed, matched in matched_by_seed.items():
            per_image = {f"i{k}": [m, 10] for k, m in enumerate(matched)}
            rows.append(
                {
                    "arm": "overlap 0.35, hue 0.5",
                    "seed": seed,
                    "bccd_recall": sum(matched) / 30,
                    "bccd_per_image": per_image,
                }
                | {"anerbc_dice": None, "chula_one_point": None}
            )
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"benchmark": "annotation_pretrain", "rows": rows}))
        return path

    base = saved("base", {1: [5, 5, 5], 3: [6, 6, 6]})
    other = saved("more", {1: [7, 6, 5], 3: [6, 6, 6], 5: [9, 9, 9]})  # seed 5 has no base: left out
    [summary] = bench.compare_runs(base=base, other=other).values()
    assert summary["paired_against"] == "base: overlap 0.35, hue 0.5"
    paired = summary["paired"]["more: overlap 0.35, hue 0.5"]["bccd_recall"]
    assert paired["seeds"] == 2 and paired["seeds_up"] == 1 and paired["mean_difference"] == pytest.approx(0.05)
    assert 0 <= paired["ci95"][0] < 0.05 < paired["ci95"][1] <= 0.1
    (tmp_path / "other.json").write_text(json.dumps({"benchmark": "annotation_fit"}))
    with pytest.raises(DataError, match="annotate-pretrain"):
        bench.compare_runs(base=base, other=tmp_path / "other.json")
    with pytest.raises(DataError, match="an arm and seed"):
        bench.compare_runs(base=base, other=saved("far", {7: [1, 1, 1]}))
