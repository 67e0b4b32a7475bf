"""A split as the runner uses it: its table, its pixels (decoded once, or through the loader), its features.

One SplitData may join several SplitViews (k-fold CV pools training and validation) and may be a subset of
another (a fold, or a capped smoke-run training set); pixels and features are computed once and indexed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
import torch

from benchmarks.suite.leaky import LeakySplit, leaky_split
from benchmarks.training.batches import LoaderSource, MemorySource, load_memory_source
from benchmarks.training.data import SplitView
from benchmarks.training.presets import Preset
from rbc_dataset.errors import UsageError


def anaemic_label(class_names: list[str]) -> int | None:
    """Index of the anaemic class (Module-II applies to it), or None for a dataset without one."""
    from annotation.severity import ANAEMIC_CLASS_NAMES

    for index, name in enumerate(class_names):
        if str(name).lower() in ANAEMIC_CLASS_NAMES:
            return index
    return None


@dataclass
class SplitData:
    """Rows of one or more SplitViews; ``rows`` selects a subset of their concatenation."""

    views: list[SplitView]
    preset: Preset
    rows: np.ndarray | None = None  # indices into the concatenated views (None: all)
    _memory: dict = field(default_factory=dict, repr=False)  # with_mask -> MemorySource of all rows of the views
    _features: dict = field(default_factory=dict, repr=False)  # name -> (N_all, F) array
    severity_override: np.ndarray | None = None  # effective severity of all rows (derived where unknown)

    @property
    def name(self) -> str:
        return "+".join(view.split for view in self.views)

    @cached_property
    def full_table(self) -> pd.DataFrame:
        """The views' tables joined, with the dataset's own severities (computed once; read every epoch)."""
        return pd.concat([view.table for view in self.views], ignore_index=True)

    @property
    def table(self) -> pd.DataFrame:
        table = self.full_table.copy()
        if self.severity_override is not None:
            table["severity"] = self.severity_override
        return table if self.rows is None else table.iloc[self.rows].reset_index(drop=True)

    @property
    def known_severity(self) -> np.ndarray:
        """Severity as the dataset gives it (-1 unknown), before any derived label."""
        values = self.full_table["severity"].to_numpy()
        return values if self.rows is None else values[self.rows]

    def __len__(self) -> int:
        return sum(len(v) for v in self.views) if self.rows is None else len(self.rows)

    def subset(self, rows: np.ndarray) -> SplitData:
        """The given rows (of this SplitData) as a SplitData sharing the decoded pixels and features."""
        base = np.arange(sum(len(v) for v in self.views)) if self.rows is None else self.rows
        return SplitData(
            self.views,
            self.preset,
            rows=base[np.asarray(rows)],
            _memory=self._memory,
            _features=self._features,
            severity_override=self.severity_override,
        )

    def source(self, with_mask: bool, show_progress: bool = False):
        """Batches of this split's rows: decoded tensors (data_mode memory) or the shard loader (loader)."""
        if self.preset.data_mode == "loader":
            if len(self.views) != 1 or self.rows is not None:
                raise UsageError("k-fold CV and --max-train-samples need data_mode memory (they index decoded tensors)")
            return LoaderSource(
                self.views[0],
                with_mask,
                num_workers=self.preset.num_workers,
                pin_memory=self.preset.pin_memory,
                size=self.preset.input_size,
            )
        if with_mask not in self._memory:
            parts = [
                load_memory_source(v, self.preset.input_size, with_mask=with_mask, show_progress=show_progress)
                for v in self.views
            ]
            self._memory[with_mask] = _concat(parts)
        memory = self._memory[with_mask]
        severity = memory.severity if self.severity_override is None else torch.from_numpy(self.severity_override)
        memory = MemorySource(memory.images, memory.masks, memory.labels, severity)
        if self.rows is None:
            return memory
        take = torch.from_numpy(self.rows)
        masks = None if memory.masks is None else memory.masks[take]
        return MemorySource(memory.images[take], masks, memory.labels[take], memory.severity[take])

    def features(self, name: str, extract: Callable[[SplitView], np.ndarray]) -> np.ndarray:
        """``extract`` of every view, computed once per name, for this split's rows."""
        if name not in self._features:
            self._features[name] = np.concatenate([np.asarray(extract(view), dtype=np.float64) for view in self.views])
        values = self._features[name]
        return values if self.rows is None else values[self.rows]


def _concat(parts: list[MemorySource]) -> MemorySource:
    if len(parts) == 1:
        return parts[0]
    masks = None if parts[0].masks is None else torch.cat([p.masks for p in parts])
    return MemorySource(
        torch.cat([p.images for p in parts]),
        masks,
        torch.cat([p.labels for p in parts]),
        torch.cat([p.severity for p in parts]),
    )


def stratified_cap(labels: np.ndarray, cap: int, *, seed: int) -> np.ndarray:
    """Indices of at most ``cap`` samples keeping the class proportions (all of them when cap is 0 or larger)."""
    if cap <= 0 or cap >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    chosen = []
    for value in np.unique(labels):
        members = np.flatnonzero(labels == value)
        share = max(1, round(cap * len(members) / len(labels)))
        chosen.append(rng.choice(members, size=min(share, len(members)), replace=False))
    return np.sort(np.concatenate(chosen))


@dataclass
class LeakyData:
    """The leaky demonstration's splits (``benchmarks.suite.leaky``): subsets of one pool of the build's three."""

    train: SplitData
    validation: SplitData
    test: SplitData
    split: LeakySplit


def leaky_partition(views: list[SplitView], preset: Preset) -> LeakyData:
    """The build's train, validation and test views pooled and drawn again at the tile level.

    Validation and test get as many tiles as the build's own, so only the grouping differs from the honest run;
    ``preset.max_train_samples`` caps training as it does there.
    """
    pool = SplitData(list(views), preset)
    labels = pool.full_table["label"].to_numpy()
    split = leaky_split(labels, validation_size=len(views[1]), test_size=len(views[2]))
    cap = stratified_cap(labels[split.train], preset.max_train_samples, seed=0)
    return LeakyData(pool.subset(split.train[cap]), pool.subset(split.validation), pool.subset(split.test), split)
