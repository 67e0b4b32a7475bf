"""One registry for every model ``rbc-bench`` can run: torch classifiers, feature baselines, segmenters.

Each model module calls ``register_model`` when it is imported; a duplicate name is an error, as in torchvision's
``register_model``. Look models up through ``benchmarks.catalog`` (``get_model``, ``list_models``): it imports
every model module first. This module imports none of them, so the two never import each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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


def registered_models() -> dict[str, ModelSpec]:
    """The models registered so far, by name (only the modules imported so far: see ``benchmarks.catalog``)."""
    return dict(_REGISTRY)
