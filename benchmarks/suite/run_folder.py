"""Run folders ``runs/<suite>/<timestamp>_<gitsha>/``: written under a hidden partial name, renamed when complete.

A folder without its final name never looks like a result; it is what ``rbc-bench run --resume`` continues.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import pandas as pd
import yaml

from benchmarks.environment import environment, git_sha
from benchmarks.suite.leaky import LEAKY, MARKER
from rbc_dataset.errors import DataError, UsageError
from rbc_dataset.fileio import atomic_write_bytes, write_json

PARTIAL_SUFFIX = ".partial"
SUMMARY_SCHEMA_VERSION = 1


def case_name(model: str, seed: int, *, fold: int = -1) -> str:
    """``model/seed0`` or ``model/seed0_fold2``: the unit that is trained, selected and tested once."""
    return f"{model}/seed{seed}" + (f"_fold{fold}" if fold >= 0 else "")


class RunFolder:
    """One run's output folder (see docs/RBC_BENCH.md for its files)."""

    def __init__(self, partial: Path, final: Path):
        self.path, self.final = partial, final
        (self.path / "predictions").mkdir(parents=True, exist_ok=True)

    @classmethod
    def create(cls, out_dir: Path, suite: str, *, marker: str = "") -> RunFolder:
        """A new run folder under ``out_dir/suite`` named by UTC time and git commit (then ``_marker``, if any)."""
        suffix = f"_{marker}" if marker else ""  # LEAKY-TILES: a leaky-split run says so in its name
        name = f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}_{git_sha() or 'nogit'}{suffix}"
        parent = Path(out_dir) / suite
        final = parent / name
        partial = parent / f".{name}{PARTIAL_SUFFIX}"
        if final.exists() or partial.exists():
            raise UsageError(f"run folder {final} already exists; wait a second or pass another --out")
        parent.mkdir(parents=True, exist_ok=True)
        return cls(partial, final)

    @classmethod
    def resume(cls, partial: Path) -> RunFolder:
        """The unfinished run at ``partial`` (``runs/<suite>/.<name>.partial``)."""
        partial = Path(partial)
        if not partial.is_dir() or not partial.name.endswith(PARTIAL_SUFFIX) or not partial.name.startswith("."):
            raise DataError(
                partial,
                "an unfinished run folder runs/<suite>/.<timestamp>_<sha>.partial",
                "no such folder" if not partial.is_dir() else "a folder with another name",
                "pass the .partial folder a stopped `rbc-bench run` left behind, or start a new run",
            )
        final = partial.with_name(partial.name[1 : -len(PARTIAL_SUFFIX)])
        return cls(partial, final)

    def log(self, message: str) -> None:
        """Append a time-stamped line to log.txt."""
        with open(self.path / "log.txt", "a", encoding="utf-8") as handle:
            handle.write(f"{time.strftime('%H:%M:%S')} {message}\n")

    def write_yaml(self, name: str, data: dict) -> None:
        atomic_write_bytes(self.path / name, yaml.safe_dump(data, sort_keys=False).encode())

    def write_json(self, name: str, data: dict) -> None:
        write_json(self.path / name, data, default=_plain)

    @property
    def leaky(self) -> bool:
        """A run of the leaky-split demonstration (``--protocol leaky-tiles``): its name carries the marker."""
        return MARKER in self.final.name

    def write_csv(self, relative: str, frame: pd.DataFrame) -> Path:
        """A table of the run; every row of a leaky run's tables (predictions, metrics) says so in ``protocol``."""
        if self.leaky:
            frame = frame.assign(protocol=LEAKY)
        path = self.path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, frame.to_csv(index=False).encode())
        return path

    def predictions_path(self, model: str, seed: int, *, fold: int, split: str) -> Path:
        suffix = f"_fold{fold}" if fold >= 0 else ""
        return self.path / "predictions" / model / f"seed{seed}{suffix}_{split}.csv"

    def checkpoint_path(self, model: str, seed: int, *, fold: int) -> Path:
        suffix = f"_fold{fold}" if fold >= 0 else ""
        return self.path / "checkpoints" / f"{model}_seed{seed}{suffix}.pt"

    def finish(self) -> Path:
        """Give the folder its final name (the run is complete)."""
        os.replace(self.path, self.final)
        self.path = self.final
        return self.final


def _plain(value):
    """JSON for NumPy scalars and paths."""
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def run_environment(device: str, world_size: int, *, threads: dict | None = None) -> dict:
    """env.json: the benchmark environment plus torch, the device name, the processes and their threads."""
    import torch
    import torchvision

    env = environment()
    env |= {"torch": torch.__version__, "torchvision": torchvision.__version__, "world_size": world_size}
    env["device"] = device
    if device.startswith("cuda") and torch.cuda.is_available():
        env["device_name"] = torch.cuda.get_device_name(torch.device(device))
        env["cuda"] = torch.version.cuda
    else:
        env["device_name"] = f"CPU: {env['cpu']} ({os.cpu_count()} cores, torch threads {torch.get_num_threads()})"
    env["hostname"] = platform.node()
    if threads is not None:
        env["threads"] = threads
    return env
