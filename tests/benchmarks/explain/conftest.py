"""A finished tiny run of 3tier and resnet18 on the shared bench build, for the explain tests."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from benchmarks.suite.runner import RunRequest, run_suite
from benchmarks.training.presets import PRESETS

# One seed, one epoch per stage, 32 px inputs: seconds on a busy 2-core machine.
TINY = {"input_size": 32, "epochs": 1, "tier_max_epochs": 1, "severity_epochs": 1, "bootstrap_resamples": 20}


@pytest.fixture(scope="session")
def finished_run(bench_build, tmp_path_factory) -> Path:
    """runs/3tier/<timestamp>_<sha>/ of 3tier and resnet18 (seed 0) on ``bench_build``."""
    preset = dataclasses.replace(PRESETS["cpu-smoke"], seeds=(0,), **TINY)
    out = tmp_path_factory.mktemp("explain_runs")
    request = RunRequest(
        "3tier", bench_build, preset=preset, out_dir=out, models=("3tier", "resnet18"), show_progress=False
    )
    return run_suite(request).path
