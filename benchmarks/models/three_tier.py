"""3-TierDCFNet, rebuilt from its paper's description (Shahzad et al., Appl. Sci. 2022, 12(10), 5030).

The paper shows three tiers, each ending in its own softmax, and a "validation point" after each: training moves to
the next tier only once the current tier's training accuracy reaches a threshold. Its public code does not implement
the model, so this is a reconstruction with the paper's feature-map sizes and modest widths of our choosing:

- Tier-I (DenseNet-style): a 3x3 stem conv (in_channels -> 32) at the input size S, adaptive average pooling to
  round(2S/3), one dense block (4 layers, growth rate 16, bottleneck 2x growth) and a 1x1 transition to 64
  channels. The dense block runs after the pooling, at 200x200 rather than 300x300, which more than halves its cost.
- Tier-II (EfficientNet-style): three MBConv blocks with squeeze-excitation (64 -> 96 stride 2, expand 1;
  96 -> 128 expand 2; 128 -> 128 expand 2, k5, residual), then adaptive pooling to round(S/3).
- Tier-III (ShuffleNetV2-style): two stages of ShuffleNetV2 units (a stride-2 unit then a stride-1 unit each,
  128 -> 256 channels), then adaptive pooling to max(1, round(S/30)).

At S=300 the tier outputs are 64x200x200, 128x100x100 and 256x10x10, as in the paper. The sizes scale with the input
given, per side (H x W -> 2H/3 x 2W/3, H/3 x W/3, H/30 x W/30): a model trained on 128 px crops (85, 43, 4) predicts
a whole 300 px tile with the paper's shapes, and a 1224x960 image at 816x640, 408x320, 41x32. Each tier has a head
(global average pool, dropout, linear). The global prediction fuses the tiers' *features*, as the paper's figure
draws it: the three globally pooled feature vectors (64 + 128 + 256) are concatenated and read by one fusion head
(dropout, linear). Module-II's learned head (mild vs chronic) reads the pooled Tier-III features.

Ablations (registered as their own models, so one run scores them side by side; docs/RBC_BENCH.md):
- ``3tier-outputs``: the global prediction is a learned weighted average of the tiers' log-probabilities (a softmax
  over three weights initialised equal) instead of a fusion of features;
- ``3tier-rgb``: RGB input only, without the canonical mask as a fourth channel;
- ``3tier-end-to-end``: every tier and the fusion head train together from the start against the global loss plus
  each tier head's loss, instead of tier by tier up to each "validation point".

The widths keep a training step at S=64, batch 16 near half a second on one CPU thread (about 0.4 M parameters);
the largest activations (S=300) are the 32-channel stem at 300x300 and the dense block at 200x200.

Input: (B, in_channels, S, S) float, ImageNet-normalised RGB plus the canonical 0/1 cell mask as channel 4.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.densenet import _DenseBlock, _Transition
from torchvision.models.efficientnet import MBConv, MBConvConfig
from torchvision.models.shufflenetv2 import InvertedResidual
from torchvision.ops import Conv2dNormActivation

from benchmarks.models.registry import ModelSpec, register_model
from benchmarks.models.weights import load_state_dict_file
from rbc_dataset.errors import UsageError, check_choice

TIER_NAMES = ("tier1", "tier2", "tier3")
FUSIONS = ("features", "outputs")  # what the global head fuses: pooled tier features, or the tier heads' outputs
SCHEDULES = ("validation-point", "end-to-end")  # tier by tier to a training-accuracy threshold, or all at once
TIER_CHANNELS = (64, 128, 256)  # output channels of tiers I, II, III (the paper's feature maps)
MIN_INPUT_SIZE = 16  # below this Tier-III's map would be built from a handful of pixels

_STEM_CHANNELS = 32
_DENSE_LAYERS = 4
_GROWTH_RATE = 16
_BOTTLENECK_FACTOR = 2  # DenseNet-BC's bn_size (4 there): our 1x1 bottleneck has 2 x growth-rate channels


def tier_sizes(input_size: int) -> tuple[int, int, int]:
    """Spatial side of the Tier-I, II and III feature maps for an input of ``input_size`` (300 -> 200, 100, 10)."""
    return round(input_size * 2 / 3), round(input_size / 3), max(1, round(input_size / 30))


def _build_tier1(in_channels: int, size: int) -> nn.Sequential:
    """Stem conv, pooling to ``size``, one dense block and a transition to 64 channels."""
    dense_out = _STEM_CHANNELS + _DENSE_LAYERS * _GROWTH_RATE
    transition = _Transition(dense_out, TIER_CHANNELS[0])
    # torchvision's transition halves the map with a 2x2 average pool; the pooling to the exact size happened
    # before the dense block, so the transition keeps the size.
    transition.pool = nn.Identity()
    return nn.Sequential(
        Conv2dNormActivation(in_channels, _STEM_CHANNELS, kernel_size=3, stride=1),
        nn.AdaptiveAvgPool2d(size),
        _DenseBlock(
            num_layers=_DENSE_LAYERS,
            num_input_features=_STEM_CHANNELS,
            bn_size=_BOTTLENECK_FACTOR,
            growth_rate=_GROWTH_RATE,
            drop_rate=0.0,
        ),
        transition,
    )


def _build_tier2(size: int) -> nn.Sequential:
    """MBConv blocks from 64 to 128 channels, halving the map once, then pooling to ``size``."""
    # (expand_ratio, kernel, stride, in, out, layers): EfficientNet-B0's pattern (expand 1 first, then a 3x3 and a
    # 5x5 stage), with expansion 2 instead of 6 to keep CPU steps short.
    configs = [
        MBConvConfig(1, 3, 2, TIER_CHANNELS[0], 96, 1),
        MBConvConfig(2, 3, 1, 96, TIER_CHANNELS[1], 1),
        MBConvConfig(2, 5, 1, TIER_CHANNELS[1], TIER_CHANNELS[1], 1),
    ]
    blocks = [MBConv(config, stochastic_depth_prob=0.0, norm_layer=nn.BatchNorm2d) for config in configs]
    # A stride-2 conv gives ceil(n / 2), which can miss round(S / 3) by one; the pooling makes it exact.
    return nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(size))


def _build_tier3(size: int) -> nn.Sequential:
    """Two ShuffleNetV2 stages (a stride-2 unit then a stride-1 unit) to 256 channels, then pooling to ``size``."""
    channels = TIER_CHANNELS[2]
    return nn.Sequential(
        InvertedResidual(TIER_CHANNELS[1], channels, stride=2),
        InvertedResidual(channels, channels, stride=1),
        InvertedResidual(channels, channels, stride=2),
        InvertedResidual(channels, channels, stride=1),
        nn.AdaptiveAvgPool2d(size),
    )


def _run_tier(body: nn.Sequential, x: Tensor, size: tuple[int, int]) -> Tensor:
    """``body`` applied to ``x``, its adaptive pooling set to ``size`` (the tier's map for this input)."""
    for layer in body:
        x = F.adaptive_avg_pool2d(x, size) if isinstance(layer, nn.AdaptiveAvgPool2d) else layer(x)
    return x


def _build_head(in_features: int, num_outputs: int, dropout: float) -> nn.Sequential:
    """Dropout then a linear layer, applied to globally pooled features."""
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_features, num_outputs))


class ThreeTierDCFNet(nn.Module):
    """3-TierDCFNet: three tiers with one head each, a learned fusion of the heads, and a severity head.

    Args:
        num_classes: classes of Module-I (healthy / anaemic).
        input_size: side S of the square input it is built for (checked); the tiers' map sizes follow the input
            each forward pass is given (see ``features``).
        in_channels: input channels (RGB + canonical mask = 4; RGB only = 3).
        num_severity: classes of the Module-II learned head (mild / chronic).
        dropout: dropout before every linear head.
        fusion: ``features`` (one head on the concatenated pooled tier features) or ``outputs`` (a learned weighted
            average of the tier heads' log-probabilities).
        schedule: how ``benchmarks.training.recipes`` trains it: ``validation-point`` or ``end-to-end``.
    """

    def __init__(
        self,
        num_classes: int = 2,
        *,
        input_size: int = 300,
        in_channels: int = 4,
        num_severity: int = 2,
        dropout: float = 0.2,
        fusion: str = "features",
        schedule: str = "validation-point",
    ):
        super().__init__()
        _check_arguments(num_classes, input_size, in_channels=in_channels, num_severity=num_severity, dropout=dropout)
        self.fusion = check_choice("3tier fusion", fusion, choices=FUSIONS)
        self.schedule = check_choice("3tier schedule", schedule, choices=SCHEDULES)
        size1, size2, size3 = tier_sizes(input_size)
        self.input_size = input_size
        self.bodies = nn.ModuleDict(
            {"tier1": _build_tier1(in_channels, size1), "tier2": _build_tier2(size2), "tier3": _build_tier3(size3)}
        )
        tier_channels = zip(TIER_NAMES, TIER_CHANNELS, strict=True)
        self.heads = nn.ModuleDict({name: _build_head(width, num_classes, dropout) for name, width in tier_channels})
        if fusion == "features":
            self.fusion_head = _build_head(sum(TIER_CHANNELS), num_classes, dropout)
        else:  # softmax over zeros: the three tiers start with equal weight in the fused prediction
            self.fusion_logits = nn.Parameter(torch.zeros(len(TIER_NAMES)))
        self.severity_head = _build_head(TIER_CHANNELS[2], num_severity, dropout)
        self._frozen_tiers: frozenset[str] = frozenset()

    def features(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The Tier-I, II and III feature maps of a batch ``x`` of shape (B, in_channels, H, W).

        The tiers' pooled sizes follow the input actually given (``tier_sizes`` per side), not the size the model
        was built for: a model trained on 128 px crops predicts a 300 px tile at the same scale per pixel.
        """
        sizes = zip(tier_sizes(x.shape[-2]), tier_sizes(x.shape[-1]), strict=True)
        maps, current = [], x
        for name, size in zip(TIER_NAMES, sizes, strict=True):
            current = _run_tier(self.bodies[name], current, size)
            maps.append(current)
        return maps[0], maps[1], maps[2]

    def fusion_weights(self) -> Tensor:
        """The tiers' weights in the global prediction (``outputs`` fusion only; non-negative, summing to one)."""
        if self.fusion != "outputs":
            raise UsageError("3tier: fusion weights exist only with fusion='outputs' (features are fused by a head)")
        return torch.softmax(self.fusion_logits, dim=0)

    def _fuse(self, pooled: list[Tensor], outputs: dict[str, Tensor]) -> Tensor:
        if self.fusion == "features":
            return self.fusion_head(torch.cat(pooled, dim=1))
        # Log-softmax first so that the fusion weighs calibrated per-tier log-probabilities, not raw logit scales;
        # float32 keeps the sum accurate under bf16 autocast.
        log_probs = torch.stack([F.log_softmax(outputs[name].float(), dim=1) for name in TIER_NAMES])
        return (self.fusion_weights().float()[:, None, None] * log_probs).sum(0)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """Logits of every head: ``tier1``, ``tier2``, ``tier3``, ``global`` (B, num_classes), ``severity``."""
        outputs: dict[str, Tensor] = {}
        pooled = [F.adaptive_avg_pool2d(feature, 1).flatten(1) for feature in self.features(x)]
        for name, vector in zip(TIER_NAMES, pooled, strict=True):
            outputs[name] = self.heads[name](vector)
        outputs["global"] = self._fuse(pooled, outputs)
        outputs["severity"] = self.severity_head(pooled[2])
        return outputs

    def tier_parameters(self, tier: str) -> list[nn.Parameter]:
        """Parameters of one tier: its body and its head."""
        check_choice("tier", tier, choices=TIER_NAMES)
        return [*self.bodies[tier].parameters(), *self.heads[tier].parameters()]

    def fusion_parameters(self) -> list[nn.Parameter]:
        """Parameters of the fusion: the head on the concatenated features, or the weights of the tier outputs."""
        return list(self.fusion_head.parameters()) if self.fusion == "features" else [self.fusion_logits]

    def severity_parameters(self) -> list[nn.Parameter]:
        """Parameters of the Module-II learned head."""
        return list(self.severity_head.parameters())

    def set_trainable(self, tiers: Iterable[str], *, fusion: bool = False, severity: bool = False) -> None:
        """Train only the named ``tiers`` (and the fusion / severity head when asked); freeze everything else.

        Frozen tiers' BatchNorm layers switch to eval mode, and stay there through ``train()``, so that batches seen
        while a later tier trains do not move the running statistics a frozen tier was trained with.
        """
        if isinstance(tiers, str):
            raise UsageError(f"set_trainable takes a list of tiers, found the string {tiers!r}; pass [{tiers!r}]")
        trainable = {check_choice("tier", tier, choices=TIER_NAMES) for tier in tiers}
        for parameter in self.parameters():
            parameter.requires_grad_(False)
        chosen = [parameter for tier in sorted(trainable) for parameter in self.tier_parameters(tier)]
        if fusion:
            chosen += self.fusion_parameters()
        if severity:
            chosen += self.severity_parameters()
        for parameter in chosen:
            parameter.requires_grad_(True)
        self._frozen_tiers = frozenset(TIER_NAMES) - trainable
        self.train(self.training)

    def train(self, mode: bool = True) -> ThreeTierDCFNet:
        """Set training mode, keeping the BatchNorm layers of frozen tiers in eval mode."""
        super().train(mode)
        for tier in self._frozen_tiers:
            for module in self.bodies[tier].modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self


def _check_arguments(num_classes: int, input_size: int, *, in_channels: int, num_severity: int, dropout: float) -> None:
    """UsageError for sizes the model cannot be built with."""
    counts = {"num_classes": num_classes, "in_channels": in_channels, "num_severity": num_severity}
    for name, value in counts.items():
        if not isinstance(value, int) or value < 1:
            raise UsageError(f"3tier: {name} must be a positive integer, found {value!r}")
    if not isinstance(input_size, int) or input_size < MIN_INPUT_SIZE:
        raise UsageError(f"3tier: input_size must be an integer >= {MIN_INPUT_SIZE}, found {input_size!r}")
    if not 0.0 <= dropout < 1.0:
        raise UsageError(f"3tier: dropout must be in [0, 1), found {dropout!r}")


def build_three_tier(
    num_classes: int = 2,
    *,
    input_size: int = 300,
    weights_path: str | Path | None = None,
    in_channels: int = 4,
    fusion: str = "features",
    schedule: str = "validation-point",
):
    """Build a 3-TierDCFNet, optionally with the weights of an earlier 3tier training.

    Args:
        num_classes: classes of Module-I.
        input_size: side of the square input (300 in the paper).
        weights_path: local state-dict file saved from a ``ThreeTierDCFNet`` of the same sizes and variant.
        in_channels: 4 (RGB + canonical mask, the default) or 3 (RGB only).
        fusion: ``features`` (default) or ``outputs`` (see ``ThreeTierDCFNet``).
        schedule: ``validation-point`` (default) or ``end-to-end``.

    Returns:
        The model.

    Raises:
        DataError: the weights file is missing, is not a state dict, or its keys/shapes do not match.
    """
    model = ThreeTierDCFNet(
        num_classes=num_classes, input_size=input_size, in_channels=in_channels, fusion=fusion, schedule=schedule
    )
    if weights_path is not None:
        load_state_dict_file(
            model,
            weights_path,
            fix=f"pass the state dict of a 3tier model built with num_classes={num_classes}, in_channels="
            f"{in_channels}, fusion={fusion!r} (torch.save(model.state_dict(), path))",
        )
    return model


# name, input with the mask, variant settings, description: the paper's model first, then one ablation per choice.
_VARIANTS = (
    ("3tier", True, {}, "3-TierDCFNet (Shahzad et al. 2022): DenseNet/EfficientNet/ShuffleNet tiers, fused features"),
    ("3tier-outputs", True, {"fusion": "outputs"}, "3tier ablation: weighted average of the tier heads' outputs"),
    ("3tier-rgb", False, {"in_channels": 3}, "3tier ablation: RGB input only, no canonical mask channel"),
    (
        "3tier-end-to-end",
        True,
        {"schedule": "end-to-end"},
        "3tier ablation: all tiers trained at once, no validation points",
    ),
)
for _name, _needs_mask, _settings, _description in _VARIANTS:
    register_model(
        ModelSpec(
            name=_name,
            family="tiered",
            task="classification",
            needs_mask=_needs_mask,
            description=_description,
            factory=partial(build_three_tier, **_settings),
        )
    )
