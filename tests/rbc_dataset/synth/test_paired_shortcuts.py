"""With the same seed, ``--shortcut colour`` and ``--shortcut mask`` change only their confound: the same cells at
the same positions with the same reports, so a model's reliance on a shortcut can be measured on paired images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rbc_dataset.fileio import read_image
from rbc_dataset.synth.config import SynthConfig
from rbc_dataset.synth.generate import synthesize

VARIANTS = {"default": (), "colour": ("colour",), "mask": ("mask",)}
STEMS = [("Anemic_individuals", "001_a"), ("Anemic_individuals", "002_a"), ("Healthy_individuals", "001_h")]
STEMS += [("Healthy_individuals", "002_h")]


@pytest.fixture(scope="module")
def variants(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("paired")
    for name, shortcuts in VARIANTS.items():
        config = SynthConfig(n_images=2, seed=5, shortcuts=shortcuts, with_tiles=False, workers=1)
        synthesize(config, base / name, show_progress=False)
    return {name: base / name for name in VARIANTS}


def _file(root: Path, folder: str, role: str, stem: str, suffix: str = ".png") -> Path:
    if role in ("instances", "cells", "meta"):
        return root / "synthetic_truth" / "AneRBC-I" / folder / role / f"{stem}{suffix}"
    return root / "AneRBC_dataset" / "AneRBC-I" / folder / role / f"{stem}{suffix}"


@pytest.mark.parametrize(("folder", "stem"), STEMS)
def test_cells_positions_and_reports_are_the_same_in_every_variant(variants, folder: str, stem: str) -> None:
    roles = (("instances", ".png"), ("cells", ".csv"), ("CBC_reports", ".txt"), ("Morphology_reports", ".txt"))
    for role, suffix in roles:
        contents = {_file(root, folder, role, stem, suffix).read_bytes() for root in variants.values()}
        assert len(contents) == 1, (role, stem)


@pytest.mark.parametrize(("folder", "stem"), STEMS)
def test_colour_shortcut_changes_only_the_white_balance(variants, folder: str, stem: str) -> None:
    meta = {n: json.loads(_file(variants[n], folder, "meta", stem, ".json").read_text()) for n in ("default", "colour")}
    wanted = "warm" if folder.startswith("Anemic") else "cool"
    assert meta["colour"]["acquisition"]["white_balance"] == wanted
    same_regime = meta["default"]["acquisition"]["white_balance"] == wanted
    images = [_file(variants[n], folder, "Original_images", stem).read_bytes() for n in ("default", "colour")]
    assert (images[0] == images[1]) == same_regime  # a changed regime changes the pixels, an unchanged one nothing


@pytest.mark.parametrize(("folder", "stem"), STEMS)
def test_mask_shortcut_changes_only_the_mask_darkness(variants, folder: str, stem: str) -> None:
    image = {n: _file(variants[n], folder, "Original_images", stem).read_bytes() for n in ("default", "mask")}
    assert image["default"] == image["mask"]
    masks = {n: read_image(_file(variants[n], folder, "Binary_segmented", stem)) for n in ("default", "mask")}
    marked = {n: np.any(m < 255, axis=-1) for n, m in masks.items()}
    assert np.array_equal(marked["default"], marked["mask"])  # same foreground, specks and holes
    darkness = json.loads(_file(variants["mask"], folder, "meta", stem, ".json").read_text())["mask_darkness"]
    assert (darkness <= 22) if folder.startswith("Anemic") else (darkness >= 36)
