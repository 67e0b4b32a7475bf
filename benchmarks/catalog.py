"""Every module that registers a model, imported explicitly (never by walking packages)."""

from __future__ import annotations

import benchmarks.baselines.classical  # noqa: F401  morphometric + shortcut feature baselines
import benchmarks.models.cnns  # noqa: F401  torchvision CNN baselines
import benchmarks.models.three_tier  # noqa: F401  3-TierDCFNet
import benchmarks.segmentation.models  # noqa: F401  U-Net-style segmenter, untrained propose
