"""Grad-CAM (Selvaraju et al., ICCV 2017): where in a tile the evidence for a model's decision lies.

For a target class c and a feature map A (K channels), the weight of channel k is the spatial mean of
d score_c / d A_k; the map is ReLU(sum_k weight_k A_k), upsampled bilinearly to the model input and divided by
its maximum (a map without positive evidence stays zero). The score is the logit of c, for the 3-TierDCFNet the
``global`` head's fused log-probability.

The feature map is the model's last spatial one: the module whose forward pass finishes last with a 4-D output
larger than 1x1 (found by a probe pass, so every registered CNN works without a table of layer names; a
container finishes after its children, so ResNet gives ``layer4``, DenseNet and VGG ``features``, the 3-TierDCFNet
its last Tier-III unit before the pooling to the tier's size). Adaptive pooling layers only resample and are
skipped. The chosen module's output is swapped for a detached copy that requires grad, so the gradient is taken with
respect to exactly that tensor, and later in-place operations (DenseNet's ``relu(inplace=True)``) act on a product
of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rbc_dataset.errors import UsageError

# Resampling to a fixed size, not features: VGG's 7x7 average pool would pass an upsampled 2x2 map off as 7x7.
ADAPTIVE_POOLS = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


@dataclass(frozen=True)
class CamMaps:
    """Grad-CAM maps of a batch."""

    maps: np.ndarray  # float32 (B, H, W) in [0, 1] at the model input's size
    layer: str  # the module whose output was explained
    feature_size: tuple[int, int]  # (h, w) of that output: the maps' true resolution before upsampling
    probs: np.ndarray  # float32 (B, classes): the model's softmax of the explained head


def spatial_layers(model: nn.Module, inputs: torch.Tensor) -> list[tuple[str, tuple[int, int]]]:
    """(module name, (h, w)) of every module with a 4-D output larger than 1x1, in the order their passes finish."""
    names = {module: name for name, module in model.named_modules()}
    seen: list[tuple[str, tuple[int, int]]] = []

    def record(module, _args, output) -> None:
        if isinstance(output, torch.Tensor) and output.dim() == 4 and output.shape[-1] * output.shape[-2] > 1:
            seen.append((names[module], (int(output.shape[-2]), int(output.shape[-1]))))

    handles = [
        module.register_forward_hook(record)
        for module in names
        if module is not model and not isinstance(module, ADAPTIVE_POOLS)
    ]
    try:
        with torch.no_grad():
            model(inputs)
    finally:
        for handle in handles:
            handle.remove()
    return seen


def last_spatial_layer(model: nn.Module, inputs: torch.Tensor) -> str:
    """Name of the module whose 4-D output (larger than 1x1) is the last one computed: Grad-CAM's usual map."""
    seen = spatial_layers(model, inputs)
    if not seen:
        raise UsageError(
            f"{type(model).__name__}: no module gives a feature map larger than 1x1 for an input of "
            f"{tuple(inputs.shape[-2:])}; Grad-CAM needs one (train with a larger --input-size)"
        )
    return seen[-1][0]


def normalise_maps(maps: torch.Tensor) -> torch.Tensor:
    """Each (H, W) map divided by its maximum; an all-zero map stays zero."""
    peak = maps.flatten(1).amax(dim=1).clamp_min(torch.finfo(maps.dtype).tiny)
    return maps / peak[:, None, None]


def grad_cam(
    model: nn.Module, inputs: torch.Tensor, *, targets: torch.Tensor, layer: str, head: str = "global"
) -> CamMaps:
    """Grad-CAM maps of ``targets`` (one class index per sample) for a batch, at the input's size.

    Args:
        model: a classifier in eval mode returning logits, or a dict of logits (``head`` is explained).
        inputs: (B, C, H, W) float, as the model was trained on (``benchmarks.training.batches.model_input``).
        targets: (B,) int64 class to explain per sample (usually the model's prediction).
        layer: module name (``model.named_modules()``) whose output is explained; see ``last_spatial_layer``.
        head: the output head of a model that returns a dict.
    """
    modules = dict(model.named_modules())
    if layer not in modules:
        raise UsageError(f"unknown layer {layer!r} of {type(model).__name__}; valid choices: {', '.join(modules)}")
    captured: dict[str, torch.Tensor] = {}

    def swap(_module, _args, output):
        leaf = output.detach().requires_grad_(True)
        captured["map"] = leaf  # a module run twice: the last call is the one the head reads
        return leaf * 1.0  # a new tensor: in-place operations downstream change it, never the leaf

    handle = modules[layer].register_forward_hook(swap)
    try:
        with torch.enable_grad():
            outputs = model(inputs)
            logits = outputs[head] if isinstance(outputs, dict) else outputs
            score = logits.float().gather(1, targets.view(-1, 1).to(logits.device)).sum()
            (grads,) = torch.autograd.grad(score, captured["map"], allow_unused=True)
    finally:
        handle.remove()
    feature = captured["map"].detach()
    if grads is None:  # the head does not read this map: no evidence on it
        grads = torch.zeros_like(feature)
    weights = grads.float().mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * feature.float()).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=tuple(inputs.shape[-2:]), mode="bilinear", align_corners=False)[:, 0]
    return CamMaps(
        maps=normalise_maps(cam).cpu().numpy().astype(np.float32),
        layer=layer,
        feature_size=(int(feature.shape[-2]), int(feature.shape[-1])),
        probs=torch.softmax(logits.detach().float(), dim=1).cpu().numpy(),
    )
