"""Fixtures of the evaluation tests: hand-made run folders (see fake_runs.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.fake_runs import write_fake_run


@pytest.fixture
def make_run(tmp_path) -> Callable[..., Path]:
    """``make_run(name, {model: skill}, ...)`` writes a fake run folder under tmp_path/runs."""
    return lambda name, models, **options: write_fake_run(tmp_path / "runs", name, models, **options)
