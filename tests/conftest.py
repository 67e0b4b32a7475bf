"""Shared fixtures: a tiny synthetic AneRBC dataset in the real layout, and the real-data location."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from rbc_dataset.synth.config import SynthConfig
from rbc_dataset.synth.generate import synthesize

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REALDATA = PROJECT_ROOT.parent / "shared" / "realdata"


def pytest_collection_modifyitems(config, items):
    """Skip `realdata` tests without ../shared/realdata and `gpu` tests without CUDA."""
    skip_real = pytest.mark.skip(reason=f"real data folder {REALDATA} is absent")
    gpu_items = [item for item in items if "gpu" in item.keywords]
    has_cuda = False
    if gpu_items:
        import torch

        has_cuda = torch.cuda.is_available()
    for item in items:
        if "realdata" in item.keywords and not REALDATA.is_dir():
            item.add_marker(skip_real)
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(pytest.mark.skip(reason="no CUDA device"))


def tree_hashes(root: Path) -> dict[str, str]:
    """SHA-256 of every file under root, by relative path."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    """2 anaemic + 2 healthy AneRBC-I images with their 48 AneRBC-II tiles, release-style masks, no defects."""
    out = tmp_path_factory.mktemp("synthetic") / "data"
    synthesize(SynthConfig(n_images=2, seed=3, workers=2), out, show_progress=False)
    return out


DEFECT_CONFIG = {"n_images": 2, "seed": 11, "mask_style": "binary", "workers": 2}


@pytest.fixture(scope="session")
def defective_root(tmp_path_factory) -> Path:
    """Half of the samples get one planted defect each (the seed is one where all 11 types appear)."""
    out = tmp_path_factory.mktemp("defective") / "data"
    synthesize(SynthConfig(defect_rate=0.5, **DEFECT_CONFIG), out, show_progress=False)
    return out


@pytest.fixture(scope="session")
def clean_twin_root(tmp_path_factory) -> Path:
    """The defective dataset before its defects: same seed, no defects (generation does not depend on them)."""
    out = tmp_path_factory.mktemp("clean_twin") / "data"
    synthesize(SynthConfig(defect_rate=0.0, **DEFECT_CONFIG), out, show_progress=False)
    return out


@pytest.fixture(scope="session")
def realdata() -> Path:
    return REALDATA
