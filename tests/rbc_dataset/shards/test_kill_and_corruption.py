"""Faults that already held, kept held: a build killed at any stage, and a flipped byte in any file of a build."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rbc_dataset.shards.config import BuildConfig
from rbc_dataset.shards.run import build
from rbc_dataset.shards.verify import verify
from rbc_dataset.synth.config import SynthConfig
from rbc_dataset.synth.generate import synthesize
from tests.helpers import PROJECT_ROOT, tree_hashes

CONFIG = BuildConfig(configs=("model",), split_ratios=(0.34, 0.33, 0.33), folds=0, workers=1)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("kill_source") / "data"
    synthesize(SynthConfig(n_images=3, seed=5, with_tiles=False, workers=2), out, show_progress=False)
    return out


@pytest.fixture(scope="module")
def built(source, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("kill_build") / "dataset"
    build(source, out=out, config=CONFIG, show_progress=False)
    return out


_KILL_SCRIPT = """
import sys
from pathlib import Path
from rbc_dataset.shards.config import BuildConfig
from rbc_dataset.shards.run import build
if __name__ == "__main__":
    config = BuildConfig(configs=("model",), split_ratios=(0.34, 0.33, 0.33), folds=0, workers=1)
    build(Path(sys.argv[1]), out=Path(sys.argv[2]), config=config, overwrite=True, show_progress=False)
"""


def _kill_when(pattern: str, source: Path, out: Path, tmp_path: Path) -> bool:
    """Start a build replacing ``out`` and SIGKILL it as soon as ``pattern`` exists; whether it got there."""
    script = tmp_path / "kill_build.py"
    script.write_text(_KILL_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    process = subprocess.Popen([sys.executable, str(script), str(source), str(out)], env=env)
    deadline = time.monotonic() + 180
    while not (reached := any(out.parent.glob(pattern))) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return reached


# The stages of a build, by the first file each one writes in the hidden temporary folder.
STAGES = {
    "started": ".dataset.partial-*",
    "validated": ".dataset.partial-*/reports/validate-masks.json",
    "split": ".dataset.partial-*/splits/splits.csv",
    "sharded": ".dataset.partial-*/data/model/test-*.parquet",
}


@pytest.mark.parametrize("stage", list(STAGES))
def test_a_build_killed_at_any_stage_leaves_the_previous_build_intact(stage, source, built, tmp_path):
    out = tmp_path / "dataset"
    shutil.copytree(built, out)
    before, source_before = tree_hashes(out), tree_hashes(source)
    assert _kill_when(STAGES[stage], source, out, tmp_path), f"the build never reached {STAGES[stage]}"
    assert tree_hashes(out) == before and tree_hashes(source) == source_before
    assert verify(out, deep=False, workers=1, show_progress=False).ok
    # Whatever was left is hidden and named as unfinished, never a folder that looks like a build.
    left = {p.name for p in tmp_path.iterdir()} - {"dataset", "kill_build.py"}
    assert all(name.startswith(".dataset.partial-") for name in left), left


def _flip_byte(path: Path, fraction: float) -> None:
    data = bytearray(path.read_bytes())
    data[int(len(data) * fraction)] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "relative",
    [
        "hdf5/model/train.h5",
        "data/model/validation-00000-of-00001.parquet",
        "manifest.parquet",
        "build_config.yaml",
    ],
)
@pytest.mark.parametrize("fraction", [0.0, 0.5, 0.99])
def test_a_flipped_byte_anywhere_in_a_listed_file_fails_verify(relative, fraction, built, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(built, copy)
    _flip_byte(copy / relative, fraction)
    result = verify(copy, deep=False, workers=1, show_progress=False)
    assert not result.ok
    assert any(relative in (issue.path or "") for issue in result.issues), [i.path for i in result.issues]
