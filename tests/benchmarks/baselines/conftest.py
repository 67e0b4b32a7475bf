"""A small build with planted confounds (white balance and raw-mask darkness tied to the class)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rbc_dataset.shards.config import BuildConfig
from rbc_dataset.shards.run import build
from rbc_dataset.synth.config import SynthConfig
from rbc_dataset.synth.generate import synthesize


@pytest.fixture(scope="session")
def shortcut_build(tmp_path_factory) -> Path:
    """8 anaemic + 8 healthy synthetic AneRBC-I images with both shortcuts planted, model config, HDF5 only.

    8 images per class, not 4: with 4 the training split holds two parents per class, and a 14-feature probe
    separates two points per class in too many ways to generalise (at 2 of 7 seeds tried it did not).
    The build cuts the tiles itself (no AneRBC-II in the source), so the raw masks are the parents' files.
    """
    root = tmp_path_factory.mktemp("shortcut_build")
    synth = SynthConfig(n_images=8, seed=11, shortcuts=("colour", "mask"), with_tiles=False, workers=2)
    synthesize(synth, root / "source", show_progress=False)
    config = BuildConfig(
        configs=("model",), formats=("hdf5",), split_ratios=(0.5, 0.25, 0.25), folds=0, audit=False, workers=2
    )
    build(root / "source", out=root / "dataset", config=config, show_progress=False)
    return root / "dataset"
