"""The segmentation suite on the tiny synthetic build: rows, files, selection on validation, test opened last."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch.utils.data import Subset

from benchmarks.suite import segmentation as suite
from benchmarks.suite.segmentation import SegmentationSettings, run_segmentation
from benchmarks.training.data import open_split
from rbc_dataset.errors import DataError, UsageError

ROW_KEYS = {
    "model",
    "seed",
    "split",
    "task",
    "dice",
    "iou",
    "dice_per_image",
    "iou_per_image",
    "ap50",
    "ap75",
    "n",
    "selected_epoch",
    "validation_dice",
}


TEST_TILES = 8


class RecordingView:
    """A SplitView that records each ``dataset()`` call in ``events`` (and may keep only its first samples)."""

    def __init__(self, view, events: list, limit: int | None = None):
        self._view, self._events, self._limit = view, events, limit

    def __getattr__(self, name):
        return getattr(self._view, name)

    def __len__(self):
        return min(self._limit or len(self._view), len(self._view))

    def dataset(self, **kwargs):
        self._events.append(f"open {self._view.split}")
        dataset = self._view.dataset(**kwargs)
        return Subset(dataset, range(self._limit)) if self._limit else dataset


def _views(built, events, limit=None, fmt="hdf5", test_limit=None):
    train, validation, test = (open_split(built, split=s, fmt=fmt) for s in ("train", "validation", "test"))
    return [
        RecordingView(train, events, limit),
        RecordingView(validation, events, limit),
        RecordingView(test, events, test_limit or limit),
    ]


def _segment(views, settings, out_dir, **kwargs):
    """``run_segmentation`` on the (train, validation, test) views of ``_views``."""
    train, validation, test = views
    return run_segmentation(train, validation, test=test, settings=settings, out_dir=out_dir, **kwargs)


@pytest.fixture(scope="module")
def tiny_run(bench_build, tmp_path_factory):
    """One U-Net seed for one epoch at 32 px, and propose; all of train and validation, the first test tiles."""
    out = tmp_path_factory.mktemp("segmentation_run")
    events: list[str] = []
    settings = SegmentationSettings(input_size=32, epochs=1, batch_size=8, seeds=(0,))
    views = _views(bench_build, events, test_limit=TEST_TILES)  # propose and the instance split cost ~0.2 s a tile
    rows = _segment(views, settings, out, log=lambda line: events.append(line))
    return rows, events, out


def _square_mask(columns: int = 3) -> np.ndarray:
    """A 10x10 0/1 mask with a 3-row cell block of ``columns`` columns (0: no cell)."""
    mask = np.zeros((10, 10), np.uint8)
    mask[2:5, 2 : 2 + columns] = 1
    return mask


def test_per_image_scores_are_of_the_cell_class():
    from annotation.instances import split_cells

    true, empty = _square_mask(), _square_mask(0)
    scores = suite.ModelScores("unet", 0, resolution="10x10")
    scores.add("perfect", true, true=true, true_instances=split_cells(true > 0))
    # All background: the background class would score ~0.95 here, the cell class scores 0.
    scores.add("all background", empty, true=true, true_instances=split_cells(true > 0))
    scores.add("half", _square_mask(2), true=true, true_instances=split_cells(true > 0))
    row = scores.row(None, None)
    assert row["dice_per_image"] == pytest.approx((1 + 0 + 0.8) / 3)
    assert row["iou_per_image"] == pytest.approx((1 + 0 + 2 / 3) / 3)
    assert row["dice"] == pytest.approx(2 * (9 + 0 + 6) / ((9 + 9) + (0 + 9) + (6 + 9)))  # pooled over all pixels
    # Both empty: NaN per image (segmentation_metrics), left out of the per-image mean instead of counting as 1.
    scores.add("both empty", empty, true=empty, true_instances=split_cells(empty > 0))
    both_empty_row = scores.row(None, None)
    assert both_empty_row["dice_per_image"] == pytest.approx(row["dice_per_image"])
    assert both_empty_row["iou_per_image"] == pytest.approx(row["iou_per_image"])
    assert both_empty_row["n"] == 4


def test_per_image_mean_of_only_empty_images_is_nan(recwarn):
    empty = _square_mask(0)
    scores = suite.ModelScores("propose", 0, resolution="native")
    scores.add("empty", empty, true=empty, true_instances=np.zeros(empty.shape, np.uint16))
    row = scores.row(None, None)
    assert np.isnan(row["dice_per_image"]) and np.isnan(row["iou_per_image"])
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]  # no "mean of empty slice"


@pytest.mark.parametrize(
    "changes, phrase",
    [
        ({"input_size": 0}, "input_size"),
        ({"epochs": 0}, "epochs"),
        ({"lr": 0.0}, "lr"),
        ({"seeds": ()}, "seeds"),
        ({"seeds": (1, 1)}, "seeds"),
        ({"num_workers": -1}, "num_workers"),
        ({"models": ("unet", "mask_rcnn")}, "valid choices: unet, propose"),
    ],
)
def test_settings_refuse_bad_values(changes, phrase):
    SegmentationSettings()  # the defaults are valid
    with pytest.raises(UsageError, match=phrase):
        SegmentationSettings(**changes)


def test_rows_for_unet_and_propose(tiny_run):
    rows, _, _ = tiny_run
    assert [(row["model"], row["seed"]) for row in rows] == [("unet", 0), ("propose", 0)]
    for row in rows:
        assert ROW_KEYS <= set(row)
        assert (row["split"], row["task"], row["n"]) == ("test", "segmentation", TEST_TILES)
        for name in ("dice", "iou", "dice_per_image", "iou_per_image", "ap50", "ap75"):
            assert 0.0 <= row[name] <= 1.0, name
    unet, propose = rows
    assert unet["selected_epoch"] == 1 and 0.0 <= unet["validation_dice"] <= 1.0
    assert 0.0 <= unet["dice_native"] <= 1.0 and unet["resolution"] == "32x32"
    assert propose["selected_epoch"] is None and propose["validation_dice"] is None


def test_propose_segments_synthetic_tiles_well(tiny_run):
    propose = tiny_run[0][1]
    assert propose["dice"] > 0.5
    assert propose["iou"] < propose["dice"]  # IoU <= Dice, equal only at 0 or 1


def test_prediction_files(tiny_run, bench_build):
    _, _, out = tiny_run
    test_ids = open_split(bench_build, split="test").table["sample_id"].tolist()[:TEST_TILES]
    with np.load(out / "predictions" / "unet" / "seed0_test_masks.npz") as unet:
        assert unet["masks"].shape == (len(test_ids), 32, 32) and unet["masks"].dtype == np.uint8
        assert unet["masks_native"].shape == (len(test_ids), 300, 300)
        assert unet["sample_ids"].tolist() == test_ids
    with np.load(out / "predictions" / "propose" / "seed0_test_masks.npz") as propose:
        assert propose["masks"].shape == (len(test_ids), 300, 300)
        assert set(np.unique(propose["masks"]).tolist()) <= {0, 1}
    state = torch.load(out / "checkpoints" / "unet" / "seed0.pt", weights_only=True)
    assert "head.weight" in state


def test_test_split_is_opened_once_after_training(tiny_run):
    _, events, _ = tiny_run
    opened = [event for event in events if event.startswith("open ")]
    assert opened == ["open train", "open validation", "open test"]
    selected = next(k for k, event in enumerate(events) if "selected epoch" in event)
    assert selected < events.index("open test")


@pytest.mark.parametrize("validation_scores, expected_epoch", [([0.2, 0.9, 0.4], 2), ([0.9, 0.2, 0.9], 1)])
def test_epoch_is_selected_on_validation(bench_build, tmp_path, monkeypatch, validation_scores, expected_epoch):
    scores = iter(validation_scores)
    monkeypatch.setattr(suite, "validation_dice", lambda model, loader, device: next(scores))
    settings = SegmentationSettings(input_size=16, epochs=3, batch_size=4, seeds=(3,), models=("unet",))
    events: list[str] = []
    rows = _segment(_views(bench_build, events, limit=4), settings, tmp_path)
    assert [row["model"] for row in rows] == ["unet"]
    assert rows[0]["seed"] == 3
    assert rows[0]["selected_epoch"] == expected_epoch
    assert rows[0]["validation_dice"] == max(validation_scores)
    assert (tmp_path / "predictions" / "unet" / "seed3_test_masks.npz").is_file()


def test_split_without_masks_is_refused_before_training(bench_build, tmp_path):
    events: list[str] = []
    train, validation, test = _views(bench_build, events)
    no_masks = RecordingView(dataclasses.replace(open_split(bench_build, split="test"), has_masks=False), events)
    with pytest.raises(DataError, match="needs canonical masks.*rebuild from masks"):
        run_segmentation(
            train, validation, test=no_masks, settings=SegmentationSettings(input_size=16), out_dir=tmp_path
        )
    assert events == []
    assert not (tmp_path / "predictions").exists()


def test_empty_split_is_refused(bench_build, tmp_path):
    train, validation, test = _views(bench_build, [])
    empty = open_split(bench_build, split="validation")
    empty = dataclasses.replace(empty, table=empty.table.iloc[:0])
    with pytest.raises(DataError, match="empty split"):
        run_segmentation(train, empty, test=test, settings=SegmentationSettings(input_size=16), out_dir=tmp_path)


def test_a_seed_reproduces_the_run_with_or_without_workers(bench_build, tmp_path):
    results = []
    for workers in (0, 1):
        settings = SegmentationSettings(input_size=16, epochs=1, batch_size=4, seeds=(1,), num_workers=workers)
        rows = _segment(_views(bench_build, [], limit=4), settings, tmp_path / f"w{workers}")
        with np.load(tmp_path / f"w{workers}" / "predictions" / "unet" / "seed1_test_masks.npz") as saved:
            results.append((rows, saved["masks_native"].copy()))
    (rows_a, masks_a), (rows_b, masks_b) = results
    assert rows_a == rows_b
    assert np.array_equal(masks_a, masks_b)


def test_parquet_shards_score_the_same_way(bench_build, tmp_path):
    settings = SegmentationSettings(models=("propose",))
    rows = _segment(_views(bench_build, [], limit=4, fmt="parquet"), settings, tmp_path)
    assert [(row["model"], row["n"]) for row in rows] == [("propose", 4)]
    assert rows[0]["dice"] > 0.5


@pytest.mark.skipif(torch.cuda.is_available(), reason="the machine has CUDA")
def test_unavailable_device_is_a_usage_error(bench_build, tmp_path):
    with pytest.raises(UsageError, match="CUDA is not available"):
        _segment(_views(bench_build, []), SegmentationSettings(device="cuda"), tmp_path)
    with pytest.raises(UsageError, match="unknown device"):
        _segment(_views(bench_build, []), SegmentationSettings(device="tpu9"), tmp_path)
