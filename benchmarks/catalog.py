"""Every model ``rbc-bench`` can run: names and tasks readable without torch, and the modules that register them.

``MODEL_TASKS`` lets ``rbc-bench run`` refuse an unknown model or one of another task in well under a second,
before torch loads; a test keeps it equal to the registry that ``import_models`` fills.
"""

from __future__ import annotations

MODEL_TASKS = {
    "3tier": "classification",
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
