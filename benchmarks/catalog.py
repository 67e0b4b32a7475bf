"""Every model ``rbc-bench`` can run: its name and task, the module that registers it, and the lookups.

``get_model`` and ``list_models`` import every model module first (``import_models``), then read the registry.

``MODEL_TASKS`` lets ``rbc-bench run`` refuse an unknown model or one of another task in well under a second,
before torch loads; a test keeps it equal to the registry that ``import_models`` fills. The model modules are
imported inside ``import_models`` (torch loads there), never when this module is.
"""

from __future__ import annotations

import fnmatch

from benchmarks.models.registry import ModelSpec, registered_models
from rbc_dataset.errors import UsageError

MODEL_TASKS = {
    "3tier": "classification",
    "3tier-outputs": "classification",
    "3tier-rgb": "classification",
    "3tier-end-to-end": "classification",
    "densenet121": "classification",
    "efficientnet_b0": "classification",
    "mobilenet_v2": "classification",
    "morphometric": "classification",
    "resnet18": "classification",
    "resnet50": "classification",
    "shortcut-background": "classification",
    "shortcut-cbc": "classification",
    "shortcut-raw-mask": "classification",
    "shufflenet_v2": "classification",
    "vgg16": "classification",
    "propose": "segmentation",
    "unet": "segmentation",
}


def import_models() -> None:
    """Import every module that registers a model (explicitly, never by walking packages)."""
    import benchmarks.baselines.classical  # noqa: F401  morphometric + shortcut feature baselines
    import benchmarks.models.cnns  # noqa: F401  torchvision CNN baselines
    import benchmarks.models.segmentation  # noqa: F401  U-Net-style segmenter, untrained propose
    import benchmarks.models.three_tier  # noqa: F401  3-TierDCFNet


def list_models(pattern: str = "*", family: str | None = None) -> list[ModelSpec]:
    """Registered models whose name matches the fnmatch ``pattern`` (and ``family``), sorted by name."""
    import_models()
    return [
        spec
        for name, spec in sorted(registered_models().items())
        if fnmatch.fnmatchcase(name, pattern) and (family is None or spec.family == family)
    ]


def get_model(name: str) -> ModelSpec:
    """The spec registered as ``name``; a UsageError listing the valid names otherwise."""
    import_models()
    models = registered_models()
    if name not in models:
        raise UsageError(f"unknown model {name!r}; valid models: {', '.join(sorted(models))} (see `rbc-bench list`)")
    return models[name]
