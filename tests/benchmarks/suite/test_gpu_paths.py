"""The gpu preset's code paths: loader-fed batches, bf16 autocast, channels-last; on CUDA when there is one."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from benchmarks.suite.runner import RunRequest, run_suite
from benchmarks.training.presets import PRESETS

SMALL = {"input_size": 32, "epochs": 1, "tier_max_epochs": 1, "severity_epochs": 1, "seeds": (0,)}


def _run(build, out, **changes):
    preset = dataclasses.replace(PRESETS["gpu"], bootstrap_resamples=20, **{**SMALL, **changes})
    return run_suite(
        RunRequest("3tier", build, preset=preset, out_dir=out, models=("3tier", "resnet18"), show_progress=False)
    )


def test_gpu_preset_paths_run_on_cpu(bench_build, tmp_path):
    """Shard loader with a worker, bf16 autocast and channels-last, as the gpu preset trains, on the CPU."""
    result = _run(bench_build, tmp_path, device="cpu", num_workers=1, pin_memory=False, batch_size=16)
    metrics = pd.read_csv(result.path / "metrics.csv")
    assert {"3tier", "resnet18"} == set(metrics["model"])
    assert metrics["accuracy"].between(0, 1).all()


@pytest.mark.gpu
def test_gpu_preset_on_cuda(bench_build, tmp_path):
    result = _run(bench_build, tmp_path, device="cuda", num_workers=2, batch_size=16)
    env = (result.path / "env.json").read_text()
    assert "cuda" in env
    assert set(pd.read_csv(result.path / "metrics.csv")["split"]) == {"validation", "test"}
