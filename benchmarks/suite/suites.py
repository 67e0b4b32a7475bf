"""The suites ``rbc-bench run SUITE`` knows, with the models each runs per preset."""

from __future__ import annotations

from dataclasses import dataclass

from rbc_dataset.errors import check_choice

SHORTCUTS = ("shortcut-background", "shortcut-raw-mask", "shortcut-cbc")
CPU_LEADERBOARD = (
    "3tier",
    "resnet18",
    "mobilenet_v2",
    "efficientnet_b0",
    "densenet121",
    "shufflenet_v2",
    "morphometric",
    *SHORTCUTS,
)


@dataclass(frozen=True)
class Suite:
    """A named line-up of models scored under one protocol."""

    name: str  # the SUITE argument
    description: str  # one line for `rbc-bench list`
    task: str  # classification or segmentation
    models: dict[str, tuple[str, ...]]  # preset name -> models; "default" for presets not listed

    def models_for(self, preset: str) -> tuple[str, ...]:
        return self.models.get(preset, self.models["default"])


SUITES = {
    "3tier": Suite(
        "3tier",
        "3-TierDCFNet (healthy/anaemic, then mild/chronic) against CNN, morphometric and shortcut baselines",
        "classification",
        {
            "cpu-smoke": ("3tier", "resnet18", "mobilenet_v2", "morphometric", *SHORTCUTS),
            # Every model the CPU leaderboard compares (docs/BENCHMARKS.md); VGG-16 is left to the GPU.
            "cpu-native": CPU_LEADERBOARD,
            "cpu-image": CPU_LEADERBOARD,
            "default": (
                "3tier",
                "resnet18",
                "mobilenet_v2",
                "efficientnet_b0",
                "vgg16",
                "morphometric",
                *SHORTCUTS,
            ),
        },
    ),
    "segmentation": Suite(
        "segmentation",
        "cell masks: a U-Net-style model and the untrained `annotate propose`, cell-class Dice/IoU and instance AP",
        "segmentation",
        {"default": ("unet", "propose")},
    ),
}


def get_suite(name: str) -> Suite:
    """The suite called ``name`` (a UsageError listing the suites otherwise)."""
    check_choice("suite", name, choices=sorted(SUITES))
    return SUITES[name]
