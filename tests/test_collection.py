"""Every ``test_*.py`` under tests/ is collected by the plain ``pytest`` CI runs (a test never run is a failure)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
PROJECT_ROOT = TESTS.parent


@pytest.fixture(scope="module")
def collected_modules() -> set[str]:
    # The project's own configuration (pyproject.toml) decides what is collected, as in CI; no marker filter, so a
    # module of slow tests only still counts.
    listing = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-o", "addopts="],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert listing.returncode == 0, listing.stdout[-3000:] + listing.stderr[-3000:]
    return {line.split("::", 1)[0] for line in listing.stdout.splitlines() if "::" in line}


def test_every_test_module_is_collected(collected_modules):
    modules = {p.relative_to(PROJECT_ROOT).as_posix() for p in TESTS.rglob("test_*.py")}
    missing = sorted(modules - collected_modules)
    assert not missing, f"pytest does not collect {missing}; check norecursedirs in pyproject.toml"


def test_shard_tests_are_collected(collected_modules):
    # The folder that pytest's default norecursedirs hid while it was named 'build' (the package is shards now).
    assert any(m.startswith("tests/rbc_dataset/shards/") for m in collected_modules)


# CI's disk is small: kept, the suite's tmp_path folders reach about 5 GB and a run failed half-way with hundreds
# of setup errors. pyproject.toml asks pytest to remove a passing test's tmp_path (tmp_path_retention_policy).
_PASSED_OUTPUTS: list[Path] = []


def test_a_passing_test_writes_into_its_tmp_path(tmp_path: Path) -> None:
    (tmp_path / "big.bin").write_bytes(b"0" * 1024)
    _PASSED_OUTPUTS.append(tmp_path)


def test_the_tmp_path_of_a_passed_test_is_gone(request) -> None:
    assert request.config.getini("tmp_path_retention_policy") == "failed"
    if not _PASSED_OUTPUTS:
        pytest.skip("run together with test_a_passing_test_writes_into_its_tmp_path")
    assert not _PASSED_OUTPUTS[-1].exists()
