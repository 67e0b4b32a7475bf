"""A tiny built dataset shared by the rbc-bench tests (synthetic AneRBC, model config, both shard formats)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rbc_dataset.shards.config import BuildConfig
from rbc_dataset.shards.run import build
from rbc_dataset.synth.config import SynthConfig
from rbc_dataset.synth.generate import synthesize


@pytest.fixture(scope="session")
def bench_source(tmp_path_factory) -> Path:
    """4 anaemic + 4 healthy synthetic AneRBC-I images with their AneRBC-II tiles (96 tiles)."""
    out = tmp_path_factory.mktemp("bench_source") / "data"
    synthesize(SynthConfig(n_images=4, seed=5, workers=2), out, show_progress=False)
    return out


@pytest.fixture(scope="session")
def bench_build(tmp_path_factory, bench_source) -> Path:
    """The model config (300x300) of ``bench_source``, split 0.5/0.25/0.25 by parent, 2 folds, HDF5 + Parquet.

    Written beside the source, as a user would: the build names its source folder by name only, and the raw-mask
    probe finds it there again (``rbc_dataset.manifest.locate_root``).
    """
    out = bench_source.parent / "dataset"
    config = BuildConfig(configs=("model",), split_ratios=(0.5, 0.25, 0.25), folds=2, seed=0, workers=2)
    build(bench_source, out=out, config=config, show_progress=False)
    return out
