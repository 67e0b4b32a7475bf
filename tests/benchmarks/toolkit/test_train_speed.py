"""train-speed: both sources train the same model on the same samples and the result says which is faster."""

from __future__ import annotations

import dataclasses
import json

import pytest

from benchmarks.toolkit.train_speed import run_train_speed
from benchmarks.training.presets import PRESETS
from rbc_dataset.errors import UsageError


def test_train_speed_writes_images_per_second_for_both_sources(bench_build, tmp_path):
    preset = dataclasses.replace(PRESETS["cpu-smoke"], input_size=32, batch_size=4)
    out = tmp_path / "speed.json"
    result = run_train_speed(bench_build, ("resnet18",), preset=preset, steps=2, json_out=out)
    row = result["rows"][0]
    assert row["memory_img_s"] > 0 and row["loader_img_s"] > 0
    assert row["ratio"] == pytest.approx(row["loader_img_s"] / row["memory_img_s"])
    saved = json.loads(out.read_text())
    assert saved["target_ratio"] == 0.9 and saved["hdf5_codec"] == "gzip-4" and "environment" in saved
    with pytest.raises(UsageError, match="torch classifiers"):
        run_train_speed(bench_build, ("shortcut-cbc",), preset=preset, steps=2, json_out=out)


def test_train_speed_shows_every_pass_and_records_its_threads(bench_build, tmp_path, capsys):
    """A long measurement on a real build printed nothing for 15 minutes: every timed pass is now logged."""
    preset = dataclasses.replace(PRESETS["cpu-smoke"], input_size=32, batch_size=4)
    result = run_train_speed(
        bench_build, ("resnet18",), preset=preset, steps=1, json_out=tmp_path / "s.json", threads=1, progress=True
    )
    err = capsys.readouterr().err
    assert "resnet18 memory pass 1/1" in err and "resnet18 loader pass 1/1" in err
    assert result["torch_threads"] == 1 and result["threads"]["chosen"] == "--torch-threads"
