"""`annotate fit`, `annotate pretrain`, and `propose` / `instances` with `--model`, on small drawn smears."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import annotation.learned.pretrain as pretrain_module
from annotation.commands import app as annotate_app
from annotation.learned.apply import instances_with_model, propose_with_model
from annotation.learned.fit import AnnotatedImage, FitSettings, fit_cell_model
from annotation.learned.folders import read_annotated
from annotation.learned.infer import predict_maps
from annotation.learned.model_folder import load_model, read_description
from annotation.learned.targets import targets_from_instances, targets_from_mask
from annotation.metrics import cell_dice as dice
from annotation.propose import propose_folder
from rbc_dataset.errors import DataError
from rbc_dataset.fileio import encode_png, read_image
from tests.helpers import squeezed
from tests.helpers.smears import drawn_instances

FAST = ["--epochs", "3", "--steps-per-epoch", "20", "--crop-size", "64", "--batch-size", "4", "--rehearsal", "0"]


@pytest.fixture(scope="module")
def annotated_folders(tmp_path_factory):
    """Three drawn smears: two with canonical binary masks, one with a 16-bit instance map."""
    root = tmp_path_factory.mktemp("annotated")
    (root / "images").mkdir()
    (root / "masks").mkdir()
    for seed in (1, 2, 3):
        image, instances = drawn_instances(seed)
        (root / "images" / f"s{seed}.png").write_bytes(encode_png(image))
        truth = instances if seed == 3 else np.where(instances > 0, 255, 0).astype(np.uint8)
        (root / "masks" / f"s{seed}.png").write_bytes(encode_png(truth))
    return root


@pytest.fixture(scope="module")
def fitted_dir(annotated_folders):
    out = annotated_folders.parent / "model"
    result = CliRunner().invoke(
        annotate_app,
        ["fit", str(annotated_folders / "images"), str(annotated_folders / "masks"), "--out", str(out), "--scratch"]
        + FAST
        + ["--quiet"],
    )
    assert result.exit_code == 0, result.output
    assert "fitted" in result.output and "held-back" in result.output
    return out


def test_binary_masks_teach_cells_and_instance_maps_also_centres(annotated_folders):
    annotated = {a.name: a for a in read_annotated(annotated_folders / "images", annotated_folders / "masks")}
    assert not annotated["s1"].targets.has_centres and annotated["s3"].targets.has_centres


def test_a_raw_release_mask_is_refused_with_the_command_that_makes_a_canonical_one(annotated_folders, tmp_path):
    image, instances = drawn_instances(1)
    raw = np.where(instances > 0, (image[..., 1] // 3), 255).astype(np.uint8)  # dark cells with texture on white
    (tmp_path / "masks").mkdir()
    (tmp_path / "masks" / "s1.png").write_bytes(encode_png(raw))
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "s1.png").write_bytes(encode_png(image))
    with pytest.raises(DataError, match=r"s1.png.*grey levels.*raw release mask.*validate-masks .* --fix"):
        read_annotated(tmp_path / "images", tmp_path / "masks")
    (tmp_path / "masks" / "s1.png").write_bytes(encode_png(np.zeros((10, 10), np.uint8)))
    with pytest.raises(DataError, match=r"10x10 \(the image is 96x96\)"):
        read_annotated(tmp_path / "images", tmp_path / "masks")
    (tmp_path / "masks" / "s1.png").unlink()
    with pytest.raises(DataError, match="1 of 1 missing: s1.png"):
        read_annotated(tmp_path / "images", tmp_path / "masks")


def test_the_fit_command_writes_a_model_folder(fitted_dir, annotated_folders):
    description = read_description(fitted_dir)
    assert description["trained"]["source"]["count"] == 3
    assert description["trained"]["source"]["masks"] == str((annotated_folders / "masks").resolve())
    assert description["trained"]["settings"]["crop_size"] == 64
    assert len(json.loads((fitted_dir / "validation.json").read_text())["per_image"]) == 1


def test_propose_with_a_model_writes_masks_uncertainty_maps_and_a_ranking(fitted_dir, annotated_folders, tmp_path):
    images = tmp_path / "new"
    images.mkdir()
    image, instances = drawn_instances(11)
    (images / "familiar.png").write_bytes(encode_png(image))
    washed_out = (0.25 * image + 0.75 * np.array((214, 210, 218))).astype(np.uint8)
    (images / "washed_out.png").write_bytes(encode_png(washed_out))
    result = CliRunner().invoke(
        annotate_app, ["propose", str(images), "--out", str(tmp_path / "p"), "--model", str(fitted_dir), "-q"]
    )
    assert result.exit_code == 0, result.output
    assert squeezed("least certain: washed_out") in squeezed(result.output)
    out = tmp_path / "p"
    mask = read_image(out / "familiar.png")
    assert set(np.unique(mask)) <= {0, 255} and dice(mask > 0, instances > 0) > 0.85
    assert read_image(out / "uncertainty" / "washed_out.png").dtype == np.uint8
    assert (out / "overlays" / "familiar.png").is_file()
    ranking = pd.read_csv(out / "ranking.csv")
    assert list(ranking["stem"]) == ["washed_out", "familiar"] and list(ranking["rank"]) == [1, 2]
    sidecar = json.loads((out / "propose_config.json").read_text())
    assert sidecar["model"]["path"] == str(fitted_dir.resolve())


def test_without_a_model_propose_behaves_as_before(annotated_folders, tmp_path):
    result = propose_folder(annotated_folders / "images", tmp_path / "p", show_progress=False, workers=1)
    assert not (tmp_path / "p" / "ranking.csv").exists() and not (tmp_path / "p" / "uncertainty").exists()
    assert "config" in json.loads((tmp_path / "p" / "propose_config.json").read_text())
    assert result.n_images == 3


def test_instances_with_a_model_are_16_bit_labels_over_its_mask_or_a_given_one(fitted_dir, annotated_folders, tmp_path):
    result = instances_with_model(annotated_folders / "images", tmp_path / "i", model=fitted_dir, show_progress=False)
    labels = read_image(tmp_path / "i" / "s1.png")
    assert labels.dtype == np.uint16 and result.mean_cells > 5
    given = instances_with_model(
        annotated_folders / "images",
        tmp_path / "j",
        model=fitted_dir,
        masks=annotated_folders / "masks",
        show_progress=False,
    )
    truth = read_image(annotated_folders / "masks" / "s1.png") > 0
    assert np.array_equal(read_image(tmp_path / "j" / "s1.png") > 0, truth) and given.n_images == 3


def test_fit_starts_from_the_packaged_model_and_says_how_to_make_it_when_missing(
    annotated_folders, tmp_path, monkeypatch
):
    monkeypatch.setattr(pretrain_module, "PRETRAINED", tmp_path / "absent")
    args = ["fit", str(annotated_folders / "images"), str(annotated_folders / "masks"), "--out", str(tmp_path / "m")]
    result = CliRunner().invoke(annotate_app, args + FAST)
    assert result.exit_code == 1 and squeezed("make pretrained") in squeezed(result.output)
    assert not (tmp_path / "m").exists()
    both = CliRunner().invoke(annotate_app, args + ["--scratch", "--init", str(tmp_path)])
    assert both.exit_code == 2


def test_fit_continues_from_the_packaged_pretrained_model_by_default(annotated_folders, tmp_path):
    from annotation.learned.pretrain import PRETRAINED

    assert (PRETRAINED / "model.json").is_file(), "the packaged model is missing: make pretrained"
    args = ["fit", str(annotated_folders / "images"), str(annotated_folders / "masks"), "--out", str(tmp_path / "m")]
    result = CliRunner().invoke(
        annotate_app, args + ["--epochs", "1", "--steps-per-epoch", "2", "--crop-size", "64", "--zoom", "0.2", "-q"]
    )
    assert result.exit_code == 0, result.output
    trained = read_description(tmp_path / "m")["trained"]
    assert trained["settings"]["zoom"] == 0.2
    parent = trained["continued_from"]
    assert parent["path"] == str(PRETRAINED) and parent["base_width"] == read_description(PRETRAINED)["base_width"]
    assert trained["rehearsal"] == {"images": 4, "crops_per_batch": 4}  # half of each batch: synthetic smears


def test_pretrain_reads_a_synthetic_dataset(synthetic_root, tmp_path):
    settings = FitSettings(crop_size=64, batch_size=2, steps_per_epoch=2, epochs=1, base_width=8)
    result = pretrain_module.pretrain(synthetic_root, out=tmp_path / "pre", settings=settings, max_images=3)
    source = read_description(result.out)["trained"]["source"]
    assert source["count"] == 3 and 0 < source["cell_fraction"] < 1
    names = [a.name for a in pretrain_module.synthetic_annotated(synthetic_root, max_images=2)]
    assert {name.split("/")[0] for name in names} == {"anemic", "healthy"}  # the classes take turns
    with pytest.raises(DataError, match="no AneRBC-I images"):
        pretrain_module.synthetic_annotated(tmp_path)


def test_a_fit_on_corrected_masks_improves_their_neighbours(tmp_path):
    """A person corrects two proposals to their own edge convention (cells 2 px wider); continuing the fit on
    them moves the model towards that convention on images nobody corrected."""
    settings = FitSettings(crop_size=64, batch_size=4, steps_per_epoch=25, epochs=4, base_width=8, lr=3e-3)
    first = fit_cell_model(
        [AnnotatedImage(f"s{s}", *_drawn(s, widen=0)) for s in (1, 2, 3)], out=tmp_path / "first", settings=settings
    )
    corrected = [AnnotatedImage(f"c{s}", *_drawn(s, widen=2)) for s in (4, 5)]
    settings_next = FitSettings(**{**settings.__dict__, "validation_images": 0, "lr": 1e-3})
    second = fit_cell_model(corrected, out=tmp_path / "second", init=first.out, settings=settings_next)
    neighbours = [_drawn(s, widen=2) for s in (20, 21, 22)]
    before = np.mean([dice(predict_maps(first.model, image).mask(), t.cell) for image, t in neighbours])
    after = np.mean([dice(predict_maps(load_model(second.out), image).mask(), t.cell) for image, t in neighbours])
    assert after > before + 0.02


def _drawn(seed: int, *, widen: int):
    image, instances = drawn_instances(seed)
    if not widen:
        return image, targets_from_instances(instances)
    wider = cv2.dilate((instances > 0).astype(np.uint8), np.ones((2 * widen + 1,) * 2, np.uint8)) > 0
    return image, targets_from_mask(wider)


def test_the_review_gallery_shows_uncertainty_maps_least_certain_first(fitted_dir, tmp_path):
    from annotation.review import review

    images = tmp_path / "new"
    images.mkdir()
    image, _ = drawn_instances(12)
    (images / "a_familiar.png").write_bytes(encode_png(image))
    (images / "b_washed_out.png").write_bytes(encode_png((0.25 * image + 0.75 * 214).astype(np.uint8)))
    propose_with_model(images, tmp_path / "p", model=fitted_dir, show_progress=False)
    result = review(images, tmp_path / "p", out=tmp_path / "gallery")
    assert [e.stem for e in result.entries] == ["b_washed_out", "a_familiar"]  # ranking.csv's order, not by name
    assert all((tmp_path / "gallery" / e.uncertainty_map).is_file() for e in result.entries)
    heat = read_image(tmp_path / "gallery" / result.entries[0].uncertainty_map)
    assert heat.shape == image.shape
    page = (tmp_path / "gallery" / "index.html").read_text()
    assert "least certain first" in page and 'src="uncertainty/b_washed_out.png"' in page
    plain = review(images, tmp_path / "p", out=tmp_path / "g2", b_dir=tmp_path / "p")
    assert plain.entries[0].uncertainty_map is not None  # both sides: order by disagreement, maps still shown


@pytest.mark.realdata
def test_real_release_masks_are_refused_and_their_canonical_masks_read(tmp_path):
    from tests.helpers import REALDATA

    folder = REALDATA / "AneRBC-I" / "Anemic_individuals"
    if not folder.is_dir():
        pytest.skip("../shared/realdata is absent")
    with pytest.raises(DataError, match="raw release mask"):
        read_annotated(folder / "Original_images", folder / "Binary_segmented")
    image_path = sorted((folder / "Original_images").glob("*.png"))[0]
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    (tmp_path / "images" / image_path.name).write_bytes(image_path.read_bytes())
    raw = read_image(folder / "Binary_segmented" / image_path.name)
    gray = raw if raw.ndim == 2 else raw[..., 1]
    canonical = np.where(gray < 128, 255, 0).astype(np.uint8)  # cells dark in the release: a canonical mask
    (tmp_path / "masks" / image_path.name).write_bytes(encode_png(canonical))
    [pair] = read_annotated(tmp_path / "images", tmp_path / "masks")
    assert 0.2 < pair.targets.cell.mean() < 0.7 and not pair.targets.has_centres


def test_fit_on_cuda_without_a_gpu_is_refused_before_anything_is_written(annotated_folders, tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    args = ["fit", str(annotated_folders / "images"), str(annotated_folders / "masks"), "--out", str(tmp_path / "m")]
    result = CliRunner().invoke(annotate_app, args + ["--scratch", "--device", "cuda"] + FAST)
    assert result.exit_code != 0 and squeezed("no CUDA GPU is visible") in squeezed(result.output)
    assert not (tmp_path / "m").exists()


def test_the_packaged_model_was_pretrained_on_overlapping_cells_as_rehearsal_draws_them():
    """The Makefile's recipe, the packaged model's record and the rehearsal smears agree on the cell overlap."""
    import re

    from annotation.learned.pretrain import PRETRAIN_CELL_OVERLAP, PRETRAINED

    recipe = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    assert float(re.search(r"--cell-overlap ([0-9.]+)", recipe).group(1)) == PRETRAIN_CELL_OVERLAP
    source = read_description(PRETRAINED)["trained"]["source"]
    assert source["synth"] == {"seed": 1, "n_images": 20, "cell_overlap": PRETRAIN_CELL_OVERLAP}


def test_pretraining_records_how_its_smears_were_drawn(tmp_path):
    from annotation.learned.pretrain import synth_settings
    from rbc_dataset.api import synthesize

    synthesize(tmp_path / "s", n_images=1, seed=3, with_tiles=False, cell_overlap=0.2)
    assert synth_settings(tmp_path / "s") == {"seed": 3, "n_images": 1, "cell_overlap": 0.2}
    assert synth_settings(tmp_path) == {}
    synthesize(tmp_path / "d", n_images=1, seed=3, with_tiles=False, defocus=0.5, rounded_edge=0.2)
    assert synth_settings(tmp_path / "d") == {
        "seed": 3,
        "n_images": 1,
        "cell_overlap": 0.0,
        "defocus": 0.5,
        "rounded_edge": 0.2,
    }
