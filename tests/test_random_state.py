"""conftest's _restore_random_state: a test that seeds a global generator leaves the next test's draws alone.

The two tests run in file order: the first seeds numpy, ``random`` and torch and records the states it leaves;
the second finds other states (without the fixture it would find exactly those).
"""

from __future__ import annotations

import random

import numpy as np
import pytest

LEFT: dict[str, object] = {}


def test_a_seeds_every_global_generator():
    np.random.seed(123)
    random.seed(123)
    LEFT["numpy"], LEFT["random"] = np.random.get_state()[1].copy(), random.getstate()
    torch = pytest.importorskip("torch")
    torch.manual_seed(123)
    LEFT["torch"] = torch.random.get_rng_state().clone()


def test_b_the_next_test_does_not_start_from_that_seed():
    if not LEFT:
        pytest.skip("runs after test_a_seeds_every_global_generator")
    assert not np.array_equal(np.random.get_state()[1], LEFT["numpy"])
    assert random.getstate() != LEFT["random"]
    if "torch" in LEFT:
        import torch

        assert not torch.equal(torch.random.get_rng_state(), LEFT["torch"])
