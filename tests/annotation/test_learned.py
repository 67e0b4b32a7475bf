"""The learned cell model: its targets, instance decoding, fitting, the model folder and continuing a fit."""

from __future__ import annotations

import json
from dataclasses import replace

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from scipy.ndimage import label as ndi_label

from annotation.learned.fit import (
    AnnotatedImage,
    CropSampler,
    FitSettings,
    fit_cell_model,
    hold_back,
    training_batches,
)
from annotation.learned.infer import CellMaps, decode_instances, image_scale, predict_maps
from annotation.learned.model_folder import load_model, read_description
from annotation.learned.targets import centre_map, targets_from_instances, targets_from_mask
from annotation.metrics import cell_dice as dice
from annotation.metrics import instance_scores
from rbc_dataset.errors import DataError, UsageError
from tests.helpers.smears import drawn_instances

TINY = FitSettings(crop_size=64, batch_size=4, steps_per_epoch=25, epochs=6, base_width=8, lr=3e-3)


def touching_pair(size: int = 40, radius: int = 9) -> np.ndarray:
    instances = np.zeros((size, size), np.uint16)
    cv2.circle(instances, (11, 20), radius, 1, -1)
    second = np.zeros_like(instances)
    cv2.circle(second, (27, 20), radius, 1, -1)
    instances[second > 0] = 2
    return instances


def test_the_centre_map_peaks_at_each_centre_and_is_zero_where_cells_touch():
    instances = touching_pair()
    centre = centre_map(instances)
    assert centre[20, 11] == pytest.approx(1.0, abs=0.15) and centre[20, 27] == pytest.approx(1.0, abs=0.15)
    touching = (instances == 2) & (np.roll(instances, 1, axis=1) == 1)
    assert touching.any() and centre[touching].max() == 0
    assert centre[instances == 0].max() == 0 and centre.max() <= 1


def test_perfect_maps_decode_one_instance_per_touching_cell():
    instances = touching_pair()
    targets = targets_from_instances(instances)
    labels = decode_instances(CellMaps(cell=targets.cell.astype(np.float32), centre=targets.centre))
    assert labels.max() == 2
    assert instance_scores(instances, labels)["ap@0.5"] == 1.0


def test_a_plain_mask_gives_no_centre_truth():
    mask = touching_pair() > 0
    targets = targets_from_mask(mask)
    assert not targets.has_centres and targets.cell.sum() == mask.sum()
    with_platelet = mask.copy()
    with_platelet[2:4, 2:4] = True  # a platelet: foreground for the annotators, no instance
    mixed = targets_from_instances(touching_pair(), cell=with_platelet)
    assert mixed.cell[2, 2] and mixed.centre[2, 2] == 0 and mixed.packed[2].min() == 1


def test_colour_jitter_keeps_grey_grey_and_moves_colours_within_its_strength():
    from annotation.learned.fit import colour_jitter, colour_matrix

    assert np.allclose(colour_matrix(brightness=1, saturation=1, hue=0), np.eye(3))
    grey = colour_matrix(brightness=1, saturation=1, hue=0.1) @ np.array([100.0, 100.0, 100.0])
    assert np.allclose(grey, 100)  # a hue turn leaves grey alone
    images = torch.from_numpy(drawn_instances(1)[0].transpose(2, 0, 1)[None].repeat(16, axis=0).copy())
    jittered = colour_jitter(images, strength=0.15, rng=np.random.default_rng(0))
    assert jittered.dtype == torch.float32 and float(jittered.min()) >= 0 and float(jittered.max()) <= 255
    means = jittered.mean(dim=(1, 2, 3)) / images.float().mean()
    assert float(means.min()) > 0.8 and float(means.max()) < 1.2 and float(means.std()) > 0.01


def test_a_hue_turn_of_half_the_circle_gives_crops_of_any_hue_and_small_turns_keep_the_stain():
    from annotation.learned.fit import colour_jitter

    lavender = torch.tensor([150.0, 130.0, 200.0]).reshape(1, 3, 1, 1).repeat(200, 1, 4, 4)

    def hue_angles(turn):
        out = colour_jitter(lavender, strength=0.0, rng=np.random.default_rng(1), hue_turn=turn)[:, :, 0, 0].numpy()
        r, g, b = out.T
        return np.degrees(np.arctan2(np.sqrt(3) * (g - b), 2 * r - g - b))

    spread_any, spread_small = np.ptp(hue_angles(0.5)), np.ptp(hue_angles(None))
    assert spread_any > 300 and spread_small == 0  # strength 0: the default turn (strength / 8) is none
    assert np.ptp(hue_angles(0.05)) < 40
    with pytest.raises(UsageError, match="hue_turn must be in"):
        FitSettings(hue_turn=0.6)


def test_hold_back_keeps_one_image_for_training():
    images = [AnnotatedImage(str(i), np.zeros((4, 4, 3), np.uint8), targets_from_mask(np.zeros((4, 4)))) for i in "ab"]
    training, held = hold_back(images, count=5, seed=0)
    assert len(training) == 1 and len(held) == 1
    with pytest.raises(UsageError, match="no annotated images"):
        hold_back([], count=1, seed=0)


def annotated(seeds) -> list[AnnotatedImage]:
    return [
        AnnotatedImage(f"s{seed}", image, targets_from_instances(instances))
        for seed in seeds
        for image, instances in [drawn_instances(seed)]
    ]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A small model fitted from scratch on three drawn smears, one held back."""
    out = tmp_path_factory.mktemp("models") / "model"
    return fit_cell_model(annotated([1, 2, 3]), out=out, settings=TINY, source={"kind": "drawn smears"})


def test_a_fit_learns_cells_and_their_instances_on_an_image_it_never_saw(fitted):
    image, instances = drawn_instances(99)
    maps = predict_maps(fitted.model, image)
    assert dice(maps.mask(), instances > 0) > 0.9
    unseen = [drawn_instances(seed) for seed in (97, 98, 99)]
    aps = [instance_scores(truth, decode_instances(predict_maps(fitted.model, im)))["ap@0.5"] for im, truth in unseen]
    assert np.mean(aps) > 0.6
    washed_out = (0.25 * image + 0.75 * np.array((214, 210, 218))).astype(np.uint8)  # cells it has never seen
    assert predict_maps(fitted.model, washed_out).uncertainty() > 1.5 * maps.uncertainty()


def test_a_model_reads_cells_three_times_larger_by_resizing_them_to_its_training_scale(fitted):
    image, instances = drawn_instances(99, size=288, radius=21)
    assert read_description(fitted.out)["cell_radius_px"] == pytest.approx(7, abs=1.5)
    assert image_scale(fitted.model, image) == pytest.approx(1 / 3, rel=0.2)
    resized = predict_maps(fitted.model, image)
    assert resized.cell.shape == instances.shape and dice(resized.mask(), instances > 0) > 0.85
    as_is = predict_maps(fitted.model, image, scale=1.0)  # at 3x its training size the model splits every cell
    learned_ap = instance_scores(instances, decode_instances(resized))["ap@0.5"]
    assert learned_ap > 0.4 and learned_ap > 5 * instance_scores(instances, decode_instances(as_is))["ap@0.5"]
    native, _ = drawn_instances(99)
    assert image_scale(fitted.model, native) == 1.0


def test_the_model_folder_holds_weights_config_validation_and_history(fitted):
    names = {path.name for path in fitted.out.iterdir()}
    assert names == {"weights.pt", "model.json", "validation.json", "history.csv"}
    state = torch.load(fitted.out / "weights.pt", weights_only=True)
    assert all(torch.is_tensor(value) for value in state.values())
    description = read_description(fitted.out)
    assert description["outputs"] == ["cell", "centre"] and description["trained"]["continued_from"] is None
    validation = json.loads((fitted.out / "validation.json").read_text())
    assert len(validation["per_image"]) == 1 and validation["epoch_kept"] in range(1, TINY.epochs + 1)
    history = pd.read_csv(fitted.out / "history.csv")
    assert list(history["epoch"]) == list(range(1, TINY.epochs + 1))
    assert validation["mean_dice"] == pytest.approx(history["validation_dice"].max())
    reloaded = load_model(fitted.out)
    image, _ = drawn_instances(7)
    assert np.allclose(predict_maps(reloaded, image).cell, predict_maps(fitted.model, image).cell, atol=1e-5)


def test_a_fit_continues_from_an_earlier_model_and_records_it(fitted, tmp_path):
    settings = FitSettings(**{**TINY.__dict__, "epochs": 1, "base_width": 32})
    result = fit_cell_model(annotated([4, 5]), out=tmp_path / "next", init=fitted.out, settings=settings)
    parent = read_description(result.out)["trained"]["continued_from"]
    assert parent["path"] == str(fitted.out.resolve()) and len(parent["weights_sha256"]) == 64
    assert read_description(result.out)["base_width"] == 8  # the width of the model it continued from


def test_a_continued_fit_turns_hues_as_far_as_its_starting_model_learned_to(fitted, tmp_path):
    quick = FitSettings(**{**TINY.__dict__, "epochs": 1, "steps_per_epoch": 1, "validation_images": 0})
    any_hue = fit_cell_model(
        annotated([4, 5]), out=tmp_path / "any", init=fitted.out, settings=replace(quick, hue_turn=0.5)
    )
    hue_of = lambda result: read_description(result.out)["trained"]["settings"]["hue_turn"]  # noqa: E731
    assert hue_of(fit_cell_model(annotated([4, 5]), out=tmp_path / "a", init=fitted.out, settings=quick)) is None
    assert hue_of(fit_cell_model(annotated([4, 5]), out=tmp_path / "b", init=any_hue.out, settings=quick)) == 0.5
    told = replace(quick, hue_turn=0.1)  # what a fit is told wins over what it inherits
    assert hue_of(fit_cell_model(annotated([4, 5]), out=tmp_path / "c", init=any_hue.out, settings=told)) == 0.1


def test_a_continued_fit_keeps_its_starting_model_when_no_epoch_beats_it(fitted, tmp_path):
    """Trained on masks with every cell erased, no epoch beats the start on the correctly annotated held-back image."""
    images = annotated([4, 5, 6])
    _, held = hold_back(images, count=1, seed=TINY.seed)
    erased = targets_from_mask(np.zeros(images[0].targets.cell.shape, bool))
    wrong = [a if a.name == held[0].name else AnnotatedImage(a.name, a.image, erased) for a in images]
    settings = FitSettings(**{**TINY.__dict__, "epochs": 2, "steps_per_epoch": 10})
    result = fit_cell_model(wrong, out=tmp_path / "next", init=fitted.out, settings=settings)
    assert result.validation["epoch_kept"] == 0 and "starting model" in result.validation["kept_by"]
    image, _ = drawn_instances(7)
    assert np.allclose(predict_maps(result.model, image).cell, predict_maps(fitted.model, image).cell, atol=1e-5)
    from_scratch = fit_cell_model(wrong, out=tmp_path / "new", settings=settings)  # no start to fall back on
    assert from_scratch.validation["epoch_kept"] >= 1


def test_rehearsal_crops_fill_their_share_of_every_batch():
    own = AnnotatedImage("own", np.zeros((80, 80, 3), np.uint8), targets_from_mask(np.zeros((80, 80), bool)))
    synthetic = AnnotatedImage(
        "synthetic", np.full((80, 80, 3), 255, np.uint8), targets_from_mask(np.ones((80, 80), bool))
    )
    settings = FitSettings(crop_size=64, batch_size=8, rehearsal=0.25, colour_jitter=0)
    images, targets = training_batches([own], [synthetic], settings=settings)()
    assert images.float().mean(dim=(1, 2, 3)).tolist() == [0] * 6 + [255] * 2
    assert targets[:, 0].mean(dim=(1, 2)).tolist() == [0] * 6 + [1] * 2
    assert training_batches([own], [], settings=settings)()[0].float().max() == 0
    assert FitSettings(batch_size=2, rehearsal=0.9).rehearsal_crops() == 1  # one crop always stays the user's
    with pytest.raises(UsageError, match="rehearsal"):
        FitSettings(rehearsal=1.0)


def disc_grid(*, size: int = 240, radius: int = 8, spacing: int = 30) -> AnnotatedImage:
    """Dark discs on a lit background on a regular grid, with full instance truth."""
    instances = np.zeros((size, size), np.uint16)
    for k, (y, x) in enumerate((y, x) for y in range(15, size, spacing) for x in range(15, size, spacing)):
        cv2.circle(instances, (x, y), radius, k + 1, -1)
    image = np.where(instances[..., None] > 0, 90, 220).astype(np.uint8).repeat(3, axis=2)
    return AnnotatedImage("grid", image, targets_from_instances(instances))


def whole_disc_areas(cell: np.ndarray) -> list[int]:
    labels, n = ndi_label(cell)
    on_border = set(np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])).tolist())
    return [int((labels == k).sum()) for k in range(1, n + 1) if k not in on_border]


def test_zoomed_crops_resize_cells_and_keep_image_and_targets_aligned():
    grid = disc_grid()
    native = CropSampler([grid], settings=FitSettings(crop_size=96, colour_jitter=0))
    zoomed = CropSampler([grid], settings=FitSettings(crop_size=96, colour_jitter=0, zoom=0.5))
    native_areas = {a for _ in range(4) for cell in native.batch(4)[1][:, 0].numpy() for a in whole_disc_areas(cell)}
    assert len(native_areas) == 1  # without zoom, every whole disc keeps its area (one drawn disc)
    area = native_areas.pop()
    zoomed_areas = []
    for _ in range(6):
        images, targets = zoomed.batch(4)
        assert images.shape == (4, 3, 96, 96) and targets.shape == (4, 3, 96, 96)
        cell, centre, weight = targets[:, 0].numpy(), targets[:, 1].numpy(), targets[:, 2].numpy()
        assert set(np.unique(cell)) <= {0.0, 1.0} and set(np.unique(weight)) == {1.0}  # still 0/1 after resizing
        assert centre.max() > 0.9 and centre[cell == 0].max() == 0
        dark = images.float().mean(dim=1).numpy() < 155
        assert (dark == (cell > 0)).mean() > 0.99  # the image and its targets were resized together, in step
        zoomed_areas += [a for c in cell for a in whole_disc_areas(c)]
    assert min(zoomed_areas) < 0.7 * area and max(zoomed_areas) > 1.4 * area  # factors up to 1.5 either way
    assert max(zoomed_areas) < 1.5**2 * area * 1.15
    with pytest.raises(UsageError, match="zoom"):
        FitSettings(zoom=1.5)
    with pytest.raises(UsageError, match="zoom"):
        FitSettings(zoom=-0.1)


def test_a_folder_that_is_not_a_model_is_refused_with_the_fix(tmp_path):
    with pytest.raises(DataError, match="no such folder.*annotate fit"):
        load_model(tmp_path / "missing")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("x")
    with pytest.raises(DataError, match=r"no model.json, weights.pt \(holds: notes.txt\)"):
        load_model(tmp_path / "other")
    (tmp_path / "other" / "model.json").write_text(json.dumps({"format": "something else"}))
    (tmp_path / "other" / "weights.pt").write_bytes(b"")
    with pytest.raises(DataError, match="format 'something else'"):
        load_model(tmp_path / "other")


def test_nothing_is_left_when_a_fit_fails(tmp_path, monkeypatch):
    import annotation.learned.fit as fit_module

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(fit_module, "save_model", broken)
    settings = FitSettings(**{**TINY.__dict__, "epochs": 1, "steps_per_epoch": 1})
    with pytest.raises(RuntimeError, match="disk full"):
        fit_cell_model(annotated([1, 2]), out=tmp_path / "model", settings=settings)
    assert list(tmp_path.iterdir()) == []
