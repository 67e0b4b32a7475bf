"""Tests for ``rbc-bench transfer`` (benchmarks/toolkit/transfer.py): the real set is only scored, the JSON is
complete, an absent or one-class real folder is a skip, and bad input is refused naming the folder.

The feature extractor of ``morphometric`` is replaced by a cheap one that records which split it reads (the real
feature baseline is measured in test_transfer_realdata.py); the CNN trains for real, one epoch at 32 px.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import benchmarks.baselines.classical as classical
import benchmarks.training.loop as loop
from benchmarks.baselines.features import FeatureTable
from benchmarks.commands import app as bench_app
from benchmarks.toolkit import transfer
from benchmarks.toolkit import transfer_models as tm
from rbc_dataset.errors import DataError, UsageError
from tests.helpers import squeezed, tree_hashes

runner = CliRunner()
CLASS_DIRS = {"a": "Anemic_individuals", "h": "Healthy_individuals"}
FAST = {"input_size": 32, "epochs": 1, "batch_size": 16, "workers": 1, "n_resamples": 50}


def copy_real_like(synthetic_root: Path, out: Path, *, suffixes: tuple[str, ...] = ("a", "h")) -> Path:
    """AneRBC-I image/mask pairs of ``synthetic_root`` (full size) under ``out``, standing in for real ones."""
    source = synthetic_root / "AneRBC_dataset" / "AneRBC-I"
    for suffix in suffixes:
        for role in ("Original_images", "Binary_segmented"):
            target = out / CLASS_DIRS[suffix] / role
            target.mkdir(parents=True)
            for path in sorted((source / CLASS_DIRS[suffix] / role).glob(f"*_{suffix}.png")):
                shutil.copyfile(path, target / path.name)
    return out


def _cheap_features(calls: list):
    """A stand-in for the morphometric features: mean colour per sample; records (build folder, split) per call."""

    def extract(view, workers=1) -> FeatureTable:
        calls.append((view.built_dir.name, view.split, len(view)))
        rows = [image.reshape(-1, 3).mean(axis=0) for image, _ in view.iter_samples(with_mask=False)]
        return FeatureTable(np.vstack(rows).astype(np.float64), ("r", "g", "b"))

    return extract


@pytest.fixture(scope="module")
def real_like(synthetic_root, tmp_path_factory) -> Path:
    return copy_real_like(synthetic_root, tmp_path_factory.mktemp("real") / "AneRBC-I")


@pytest.fixture(scope="module")
def finished(bench_build, real_like, tmp_path_factory) -> dict:
    """One run of both models on ``bench_build``, recording what every fit and every training saw."""
    out = tmp_path_factory.mktemp("transfer")
    seen = {"extract": [], "fit_rows": [], "train_rows": [], "real_before": tree_hashes(real_like)}
    fit, train_stages = classical.FeatureBaseline.fit, loop.train_stages

    def recording_fit(self, train_X, train_y, **kwargs):
        seen["fit_rows"].append((len(train_X), len(kwargs["val_X"])))
        return fit(self, train_X, train_y, **kwargs)

    def recording_train(model, stages, *, source, **kwargs):
        seen["train_rows"].append(len(source))
        return train_stages(model, stages, source=source, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(classical, "morphometric_features", _cheap_features(seen["extract"]))
        patch.setattr(classical.FeatureBaseline, "fit", recording_fit)
        patch.setattr(loop, "train_stages", recording_train)
        settings = transfer.TransferSettings(models=("morphometric", "resnet18"), **FAST)
        result = transfer.run_transfer(
            real_like, json_out=out / "t.json", train=bench_build, settings=settings, show_progress=False
        )
    return {"result": result, "json": json.loads((out / "t.json").read_text()), "seen": seen, "real": real_like}


def _split_sizes(build: Path) -> dict[str, int]:
    from benchmarks.training.data import open_split

    return {split: len(open_split(build, split=split)) for split in ("train", "validation", "test")}


def test_the_real_images_are_only_scored_never_fitted_or_trained_on(finished, bench_build) -> None:
    sizes, seen = _split_sizes(bench_build), finished["seen"]
    # The feature baseline reads train, validation, test of the training build, and only then the real build.
    assert seen["extract"] == [
        ("dataset", "train", sizes["train"]),
        ("dataset", "validation", sizes["validation"]),
        ("dataset", "test", sizes["test"]),
        ("real_build", "train", 48),  # every real image in one split: 4 images x 12 tiles, only scored
    ]
    assert seen["fit_rows"] == [(sizes["train"], sizes["validation"])]
    # The CNN trains on the synthetic training split only (the loop imports train_stages from this module).
    assert seen["train_rows"] == [sizes["train"]]
    # One look at the real set per model, after its selection was closed.
    assert [entry["case"] for entry in finished["json"]["real_accesses"]] == ["morphometric", "resnet18"]
    assert tree_hashes(finished["real"]) == seen["real_before"]


def test_the_json_has_every_field(finished) -> None:
    data = finished["json"]
    for key in ("status", "command", "real_dir", "settings", "train", "real", "caveat", "wall_seconds", "environment"):
        assert key in data, key
    assert data["status"] == "done" and data["command"].startswith("rbc-bench transfer --real ")
    assert data["train"]["kind"] == "build" and data["real"]["pairs_per_class"] == {"anaemic": 2, "healthy": 2}
    assert "4 real images" in data["caveat"] and "wide" in data["caveat"]
    models = {entry["model"]: entry for entry in data["models"]}
    assert set(models) == {"morphometric", "resnet18"}
    assert models["resnet18"]["device"] == "cpu" and models["resnet18"]["settings"]["input_size"] == 32
    assert models["morphometric"]["selection"]["C"] in (0.01, 0.1, 1.0, 10.0)
    for entry in models.values():
        for side in ("synthetic_test", "real"):
            scores = entry[side]
            for key in ("n_images", "n_images_per_class", "n_tiles", "balanced_accuracy", "roc_auc", "images"):
                assert key in scores, (entry["model"], side, key)
            assert len(scores["balanced_accuracy_ci"]) == 2 and len(scores["roc_auc_ci"]) == 2
        assert entry["real"]["n_images_per_class"] == {"healthy": 2, "anaemic": 2}
        assert entry["real"]["n_tiles"] == 48


def test_image_scores_are_the_mean_of_their_tiles() -> None:
    from benchmarks.training.data import SplitView

    table = pd.DataFrame(
        {
            "parent_id": ["a1", "a1", "h1", "h1", "h2", "h2"],
            "group_id": ["a1", "a1", "h1", "h1", "h2", "h2"],
            "label": [1, 1, 0, 0, 0, 0],
        }
    )
    view = SplitView(
        Path("."), "model", "test", fmt="hdf5", table=table, class_names=["healthy", "anemic"], has_masks=True
    )
    images = tm.image_table(tm.LabelledSplit(view, anaemic=1), np.array([0.9, 0.5, 0.2, 0.4, 0.8, 0.6]))
    assert images["score"].round(6).tolist() == [0.7, 0.3, 0.7]
    scores = tm.score_images(images, n_resamples=50, seed=0)
    assert scores["n_images_per_class"] == {"healthy": 2, "anaemic": 1} and scores["called_anaemic"] == 2
    assert scores["balanced_accuracy"] == pytest.approx(0.75) and scores["roc_auc"] == pytest.approx(0.75)
    # Labels are compared by class name: a build that calls class 0 anaemic scores the other way round.
    flipped = tm.image_table(tm.LabelledSplit(view, anaemic=0), np.zeros(6))
    assert flipped["anaemic"].tolist() == [0, 1, 1]


def test_a_real_image_in_the_training_build_is_refused(bench_build, real_like) -> None:
    with pytest.raises(DataError, match="training data without the real images"):
        transfer.refuse_overlap(bench_build, real_like, real_built=bench_build)


@pytest.mark.parametrize("classes", ["absent", "one class"])
def test_an_absent_or_one_class_real_folder_is_a_skip(classes, synthetic_root, tmp_path: Path) -> None:
    real = tmp_path / "real"
    if classes == "one class":
        copy_real_like(synthetic_root, real, suffixes=("h",))
    work = tmp_path / "work"
    result = transfer.run_transfer(real, json_out=tmp_path / "t.json", work_dir=work, show_progress=False)
    assert result["status"] == "skipped" and str(real) in result["reason"]
    assert ("no such folder" if classes == "absent" else "2 healthy and 0 anaemic") in result["reason"]
    assert json.loads((tmp_path / "t.json").read_text())["status"] == "skipped"
    assert not work.exists()  # nothing synthesized, built or trained


def test_a_cnn_on_an_absent_gpu_is_refused_before_anything_runs(monkeypatch, tmp_path: Path) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    settings = transfer.TransferSettings(models=("morphometric", "resnet18"), device="cuda")
    with pytest.raises(UsageError, match="no CUDA GPU is visible"):
        transfer.run_transfer(tmp_path / "real", json_out=tmp_path / "t.json", settings=settings, show_progress=False)
    assert not (tmp_path / "t.json").exists()
    transfer.check_models(("morphometric",), device="cuda")  # the feature baseline needs no GPU


def test_settings_are_checked() -> None:
    with pytest.raises(UsageError, match="--epochs must be at least 1"):
        transfer.TransferSettings(epochs=0)
    with pytest.raises(UsageError, match="valid choices: .*morphometric.*resnet18"):
        transfer.check_models(("no-such-model",))
    with pytest.raises(UsageError, match="valid choices"):
        transfer.check_models(("shortcut-cbc",))  # a shortcut probe says nothing about transfer


def _invoke(args: list[str]):
    result = runner.invoke(bench_app, ["transfer", *args, "-q"])
    assert "Traceback" not in result.output
    return result


def test_cli_a_missing_data_folder_exits_2_naming_it(real_like, tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    result = _invoke(["--data", str(missing), "--real", str(real_like), "--json", str(tmp_path / "t.json")])
    assert result.exit_code == 2 and squeezed(f"no such file or folder: {missing}") in squeezed(result.output)
    assert not (tmp_path / "t.json").exists()


def test_training_data_that_is_a_file_is_refused_naming_it(real_like, tmp_path: Path) -> None:
    afile = tmp_path / "train.txt"
    afile.write_text("x")
    with pytest.raises(UsageError, match=f"--data {afile}: a file"):
        transfer.run_transfer(real_like, json_out=tmp_path / "t.json", train=afile, show_progress=False)


def test_cli_a_data_folder_without_data_exits_1_naming_it(real_like, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = _invoke(["--data", str(empty), "--real", str(real_like), "--json", str(tmp_path / "t.json")])
    assert result.exit_code == 1 and squeezed(str(empty)) in squeezed(result.output)


def test_cli_a_real_file_or_an_output_inside_the_real_folder_exits_2(real_like, tmp_path: Path) -> None:
    afile = tmp_path / "real.txt"
    afile.write_text("x")
    result = _invoke(["--real", str(afile), "--json", str(tmp_path / "t.json")])
    assert result.exit_code == 2 and squeezed(f"--real {afile} is a file") in squeezed(result.output)
    result = _invoke(["--real", str(real_like), "--json", str(real_like / "t.json")])
    assert result.exit_code == 2 and squeezed("lies inside the input") in squeezed(result.output)


def test_cli_an_unknown_model_exits_2_listing_the_choices(tmp_path: Path) -> None:
    result = _invoke(["--models", "morphometric,resnet1", "--json", str(tmp_path / "t.json")])
    assert result.exit_code == 2 and squeezed("unknown model 'resnet1'; valid choices") in squeezed(result.output)


def test_cli_skips_an_absent_real_folder_with_exit_0(tmp_path: Path) -> None:
    result = _invoke(["--real", str(tmp_path / "absent"), "--json", str(tmp_path / "t.json")])
    assert result.exit_code == 0 and "skipped" in result.output
    assert json.loads((tmp_path / "t.json").read_text())["status"] == "skipped"
