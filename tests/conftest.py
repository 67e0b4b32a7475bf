"""Shared fixtures and hooks: a tiny synthetic AneRBC dataset in the real layout, the real-data location, torch on one
thread and global random generators restored after every test. Helpers live in tests/helpers/."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import pytest

from rbc_dataset.synth.config import SynthConfig
from rbc_dataset.synth.generate import synthesize
from tests.helpers import REALDATA


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


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> None:
    """Torch on one thread when the collected test modules loaded it (the machines are shared, and results do not
    vary with the core count). Session scope: it runs before any module fixture that trains a model."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _restore_random_state():
    """Give back numpy's, ``random``'s and torch's global generators as they were: a test that seeds them (or runs
    code that does, like rbc-bench's cases) cannot change what the next test draws."""
    numpy_state, python_state = np.random.get_state(), random.getstate()
    torch = sys.modules.get("torch")
    torch_state = torch.random.get_rng_state() if torch is not None else None
    yield
    np.random.set_state(numpy_state)
    random.setstate(python_state)
    torch = sys.modules.get("torch")
    if torch is not None:
        # Loaded by this test: back to the state a fresh import has (a new generator's default seed).
        torch.random.set_rng_state(torch_state if torch_state is not None else torch.Generator().get_state())


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
