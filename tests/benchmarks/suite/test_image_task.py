"""The whole-image AneRBC-I task: `--data-config full --preset cpu-image`, images kept at 1224x960, no tiles."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml

from benchmarks.api import run_benchmark
from benchmarks.training.batches import load_memory_source
from rbc_dataset.errors import DataError
from rbc_dataset.shards.config import BuildConfig
from rbc_dataset.shards.run import build

TINY = {"epochs": 1, "crop_size": 64, "seeds": (0,), "patience": 0}
TINY_FILE = "tier_max_epochs: 1\nseverity_epochs: 1\nbootstrap_resamples: 50\nbn_samples: 2\nmax_train_samples: 4\n"


def _full_build(source: Path, out: Path) -> Path:
    config = BuildConfig(configs=("full",), formats=("hdf5",), split_ratios=(0.5, 0.25, 0.25), folds=0, seed=0)
    build(source, out=out, config=config, show_progress=False)
    return out


def _run_whole_images(data: Path, tmp_path: Path, models: tuple[str, ...]):
    settings = tmp_path / "tiny.yaml"
    settings.write_text(TINY_FILE)
    return run_benchmark(
        "3tier", data, preset="cpu-image", data_config="full", models=models, out_dir=tmp_path / "runs",
        config_file=settings, **TINY,
    )  # fmt: skip


def _check_whole_image_run(result, *, test_images: int) -> None:
    config = yaml.safe_load((result.path / "config.yaml").read_text())
    assert config["data_config"] == "full" and config["preset"]["input_size"] == 0  # stored size, never resized
    predictions = pd.read_csv(result.path / "predictions" / "resnet18" / "seed0_test.csv")
    global_rows = predictions[(predictions["task"] == "module1") & (predictions["head"] == "global")]
    assert len(global_rows) == test_images and global_rows["prob"].between(0, 1).all()
    summary = json.loads((result.path / "summary.json").read_text())
    assert summary["test_split"][0]["n"] == test_images


def test_whole_synthetic_images_train_on_crops_and_are_predicted_whole(bench_source, tmp_path):
    data = _full_build(bench_source, bench_source.parent / "full_build")
    result = _run_whole_images(data, tmp_path, ("resnet18", "3tier"))
    _check_whole_image_run(result, test_images=2)


@pytest.mark.realdata
def test_whole_real_anerbc_images_run_the_same_protocol(realdata, tmp_path):
    data = _full_build(realdata / "AneRBC-I", tmp_path / "real_full")
    result = _run_whole_images(data, tmp_path, ("resnet18",))
    _check_whole_image_run(result, test_images=2)


def test_images_of_different_sizes_kept_at_stored_size_are_refused_by_name(tmp_path):
    shapes = [(40, 50), (40, 50), (30, 50)]
    view = SimpleNamespace(
        built_dir=tmp_path,
        config="full",
        split="train",
        table=pd.DataFrame({"sample_id": ["a", "b", "odd"], "label": [0, 1, 0], "severity": [-1, 0, -1]}),
        iter_samples=lambda with_mask: ((np.zeros((*shape, 3), np.uint8), None) for shape in shapes),
    )
    with pytest.raises(DataError, match="sample odd of 30x50 after samples of 40x50") as error:
        load_memory_source(_Sized(view), 0, with_mask=False)
    assert "--input-size" in str(error.value)


class _Sized:
    """A view stand-in with a length (SimpleNamespace cannot take __len__)."""

    def __init__(self, namespace):
        self.__dict__.update(vars(namespace))

    def __len__(self) -> int:
        return len(self.table)
