"""The curation toolkit works without PyTorch (``pip install rbc-dataset``, no extras): synth, ingest,
validate-masks, audit, build and verify run with torch, torchvision and matplotlib hidden from every process
(workers included); the commands that need them say which extra to install (exit 2, no traceback)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Imported by every Python process started with this folder on PYTHONPATH: the optional libraries look
# uninstalled (find_spec gives None, import raises ModuleNotFoundError), as in a venv without the extras.
HIDE = """
import sys

HIDDEN = ("torch", "torchvision", "matplotlib")


class Hide:
    def __init__(self, finder):
        self.finder = finder

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            return None
        find = getattr(self.finder, "find_spec", None)
        return None if find is None else find(name, path, target)

    def __getattr__(self, name):
        return getattr(self.finder, name)


sys.meta_path[:] = [Hide(finder) for finder in sys.meta_path]
"""
APPS = {"rbc-dataset": "dataset_app", "rbc-bench": "bench_app"}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """``run(app, *args)``: the command in a fresh interpreter without the optional libraries, in a work folder."""
    site = tmp_path_factory.mktemp("hide-extras")
    (site / "sitecustomize.py").write_text(HIDE)
    work = tmp_path_factory.mktemp("curation")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]), "HF_DATASETS_CACHE": str(work / "hf")}

    def call(app: str, *args: str) -> subprocess.CompletedProcess:
        code = f"import sys; sys.argv[0] = {app!r}; from cli import {APPS[app]}; sys.exit({APPS[app]}())"
        command = [sys.executable, "-c", code, *args]
        return subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=300)

    return call


STEPS = {
    "synth": ("synth", "--out", "synthetic", "--n-images", "1", "--seed", "3", "--workers", "1"),
    "ingest": ("ingest", "synthetic", "--out", "manifest.parquet"),
    "validate-masks": ("validate-masks", "manifest.parquet", "--out", "reports", "--fix", "masks", "--workers", "1"),
    "audit": ("audit", "manifest.parquet", "--out", "reports", "--workers", "1"),
    "build": ("build", "manifest.parquet", "--out", "curated_build", "--data-configs", "full", "--split-ratios",
              "1,0,0", "--folds", "0", "--workers", "1"),
    "verify": ("verify", "curated_build", "--workers", "1"),
}  # fmt: skip


@pytest.fixture(scope="module")
def curated(run) -> dict[str, subprocess.CompletedProcess]:
    """The curation commands in order, without the optional libraries; the work folder ends with a build."""
    return {name: run("rbc-dataset", *args, "-q") for name, args in STEPS.items()}


def test_the_libraries_are_really_hidden(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(HIDE)
    probe = [sys.executable, "-c", "import importlib.util as u; print(u.find_spec('torch')); import torch"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    result = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and result.stdout.strip() == "None"
    assert "ModuleNotFoundError: No module named 'torch'" in result.stderr


def test_synth_ingest_validate_audit_build_verify_run_without_torch(curated):
    for name, result in curated.items():
        assert result.returncode == 0 and "Traceback" not in result.stderr, (name, result.stdout + result.stderr)
    assert "verified" in curated["verify"].stdout


@pytest.mark.parametrize(
    ("command", "needs", "extra"),
    [
        (("rbc-dataset", "show", "curated_build", "--loader-workers", "0"), "rbc-dataset show needs torch",
         "rbc-dataset[torch]"),
        (("rbc-bench", "run", "3tier", "--data", "curated_build", "--preset", "cpu-smoke", "--data-config", "full"),
         "rbc-bench run needs torch", "rbc-dataset[bench]"),
    ],
)  # fmt: skip
def test_commands_that_need_torch_name_the_extra(curated, run, command, needs, extra):
    result = run(*command)
    text = " ".join((result.stdout + result.stderr).split())  # the message is wrapped to the terminal
    assert result.returncode == 2 and "Traceback" not in result.stderr, text
    assert needs in text and f'pip install "{extra}"' in text
