"""Leaky-split demonstration (``rbc-bench run --protocol leaky-tiles``): how much a tile-level split inflates scores.

``rbc-dataset build`` splits by parent image, so no tile of a test image is ever trained on. Papers that split
tiles at random let tiles of one parent land on both sides. This protocol reproduces that at run time, never in a
build: the tiles of the build's train, validation and test splits are pooled and drawn again at the tile level
(stratified by class, seeded), with as many tiles in each split as the build's own. It is refused unless asked for
by its whole name, and every output of such a run says so: the run folder's name, config.yaml, summary.json,
log.txt, metrics.csv, every predictions CSV and the report's rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rbc_dataset.errors import UsageError

HONEST = "parents"
LEAKY = "leaky-tiles"
PROTOCOL_CHOICES = (HONEST, LEAKY)
MARKER = "LEAKY-TILES"  # in the run folder's name
REPORT_LABEL = "LEAKY (tiles of one parent on both sides)"
WARNING = (
    "LEAKY PROTOCOL (demonstration only): the build's tiles were split again at random at the tile level, so tiles "
    "of one parent image are in training and in test; test scores are inflated and must not be compared with, "
    "or ranked next to, runs of the honest protocol (split by parent)."
)
SPLIT_SEED = 0  # one tile-level split for every model and seed of a run, as a build's split is one


def check_protocol(name: str) -> str:
    """The protocol ``name`` names: only the whole name counts (no abbreviation, no other case).

    Raises:
        UsageError: any other value, with the choices.
    """
    if name not in PROTOCOL_CHOICES:
        raise UsageError(
            f"unknown protocol {name!r}; choices: {', '.join(PROTOCOL_CHOICES)} ({HONEST}: the honest split by "
            f"parent image, the default; {LEAKY}: the leaky tile-level demonstration, only by its whole name)"
        )
    return name


@dataclass(frozen=True)
class LeakySplit:
    """Rows of the pooled table (the build's train, validation and test tables, in that order) per new split."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    seed: int = SPLIT_SEED


def _draw(labels: np.ndarray, rows: np.ndarray, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(rest, drawn): ``size`` of ``rows`` drawn at random, stratified by class where every class allows it."""
    from sklearn.model_selection import train_test_split

    if size <= 0:
        return rows, rows[:0]
    counts = np.unique(labels[rows], return_counts=True)[1]
    stratify = labels[rows] if counts.min() >= 2 and len(counts) <= size else None
    rest, drawn = train_test_split(rows, test_size=size, stratify=stratify, random_state=seed)
    return np.sort(rest), np.sort(drawn)


def leaky_split(labels: np.ndarray, *, validation_size: int, test_size: int, seed: int = SPLIT_SEED) -> LeakySplit:
    """Draw test, then validation, at the tile level from all rows, stratified by class; the rest trains."""
    labels = np.asarray(labels)
    rest, test = _draw(labels, np.arange(len(labels)), test_size, seed)
    train, validation = _draw(labels, rest, validation_size, seed)
    return LeakySplit(train, validation, test, seed)


def leak_counts(parents: dict[str, pd.Series]) -> dict:
    """How many test parents (and test tiles) also have tiles in training or validation: the leak, measured.

    Args:
        parents: split name (train, validation, test) -> the ``parent_id`` of each of its samples.
    """
    test = parents["test"]
    train, validation = set(parents["train"]), set(parents["validation"])
    return {
        "test_parents": int(test.nunique()),
        "test_parents_with_train_tiles": len(set(test) & train),
        "test_parents_with_train_or_validation_tiles": len(set(test) & (train | validation)),
        "test_tiles_whose_parent_has_train_tiles": int(test.isin(train).sum()),
        "test_tiles": len(test),
    }


def protocol_entries(protocol: str, split: LeakySplit | None = None) -> dict:
    """config.yaml entries of a leaky run (the warning, how the tiles were drawn); none for the honest protocol."""
    if protocol != LEAKY:
        return {}
    entries = {"protocol": LEAKY, "protocol_warning": WARNING}
    if split is not None:
        entries["leaky_split"] = {
            "seed": split.seed,
            "pooled": "the build's train, validation and test splits of the data config",
            "drawn": "test, then validation, at the tile level, stratified by class; as many tiles as the build's",
            "tiles": {"train": len(split.train), "validation": len(split.validation), "test": len(split.test)},
        }
    return entries


def is_leaky_config(config: dict | None) -> bool:
    """Whether a run's config.yaml (or summary.json) records the leaky protocol."""
    protocol = (config or {}).get("protocol")
    if isinstance(protocol, dict):  # summary.json: a section with its name
        protocol = protocol.get("name")
    return protocol == LEAKY


def is_leaky_label(text: str) -> bool:
    """Whether a run label or a report row's ``run`` names a leaky run."""
    return MARKER in str(text) or REPORT_LABEL in str(text)


def report_label(label: str, run_dir: Path, *, config: dict | None) -> str:
    """How the report names a run: a leaky run's label carries ``REPORT_LABEL`` in every row it names."""
    leaky = is_leaky_config(config) or MARKER in Path(run_dir).name
    return f"{label} {REPORT_LABEL}" if leaky else label


def split_leaky_rows(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """(honest rows, leaky rows) of a leaderboard: leaky rows are never ranked next to honest ones."""
    return [r for r in rows if not is_leaky_label(r["run"])], [r for r in rows if is_leaky_label(r["run"])]


def leaky_warnings(label: str) -> list[str]:
    """The report's "read this first" sentence for a run whose label (``report_label``) marks it leaky."""
    return [WARNING] if is_leaky_label(label) else []
