"""One registry for every model ``rbc-bench`` can run: torch classifiers, feature baselines, segmenters.

Models register by explicit import (``benchmarks/catalog.py`` lists the modules); a duplicate name is an error,
as in torchvision's ``register_model``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass

from rbc_dataset.errors import UsageError

FAMILIES = ("tiered", "cnn", "features", "shortcut", "segmentation")
TASKS = ("classification", "segmentation")


@dataclass(frozen=True)
class ModelSpec:
    """What the runner needs to know about a model before building it."""

    name: str  # registry key, e.g. "resnet18"
    family: str  # one of FAMILIES: how the runner trains it
    task: str  # one of TASKS
    needs_mask: bool  # the canonical cell mask is part of the input (or of the features)
    description: str  # one line for `rbc-bench list`
    factory: Callable  # builds the model; signature depends on the family (docs/RBC_BENCH.md)

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"model {self.name!r}: family {self.family!r} is not one of {FAMILIES}")
        if self.task not in TASKS:
            raise ValueError(f"model {self.name!r}: task {self.task!r} is not one of {TASKS}")


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to the registry; a name registered twice is a programming error."""
    if spec.name in _REGISTRY:
        raise ValueError(f"model {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def _load_catalog() -> None:
    from benchmarks.catalog import import_models

    import_models()


def list_models(pattern: str = "*", family: str | None = None) -> list[ModelSpec]:
    """Registered models whose name matches the fnmatch ``pattern`` (and ``family``), sorted by name."""
    _load_catalog()
    return [
        spec
        for name, spec in sorted(_REGISTRY.items())
        if fnmatch.fnmatchcase(name, pattern) and (family is None or spec.family == family)
    ]


def get_model(name: str) -> ModelSpec:
    """The spec registered as ``name``; a UsageError listing the valid names otherwise."""
    _load_catalog()
    if name not in _REGISTRY:
        raise UsageError(f"unknown model {name!r}; valid models: {', '.join(sorted(_REGISTRY))} (see `rbc-bench list`)")
    return _REGISTRY[name]
