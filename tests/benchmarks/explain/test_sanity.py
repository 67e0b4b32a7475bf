"""The two sanity numbers: the randomisation check fails for a weight-independent map; mass against area."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage
from torch import nn

from benchmarks.explain.gradcam import grad_cam
from benchmarks.explain.sanity import (
    RANDOMISATION_THRESHOLD,
    abnormal_mass,
    model_randomisation,
    randomisation_check,
    rank_agreement,
)
from benchmarks.explain.truth import NORMAL_TYPE
from rbc_dataset.synth.cells import CELL_TYPES


def _net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2),
    ).eval()  # fmt: skip


def _inputs() -> torch.Tensor:
    torch.manual_seed(123)
    return torch.randn(12, 3, 24, 24)


def edge_map(_model, inputs: torch.Tensor, *, targets) -> np.ndarray:
    """An attribution that never looks at the model: the gradient magnitude of the input's brightness."""
    grey = inputs.mean(dim=1).numpy()
    return np.stack([np.hypot(ndimage.sobel(g, 0), ndimage.sobel(g, 1)) for g in grey])


def grad_cam_map(model, inputs: torch.Tensor, *, targets) -> np.ndarray:
    return grad_cam(model, inputs, targets=torch.as_tensor(targets), layer="2").maps


def test_a_map_that_does_not_depend_on_the_weights_fails():
    check = model_randomisation(edge_map, trained=_net(0), randomised=_net(1), inputs=_inputs(), targets=[1] * 12)
    assert check["passed"] is False
    assert check["spearman_mean"] == pytest.approx(1.0) and check["ssim_mean"] == pytest.approx(1.0)
    assert check["n_tiles"] == 12 and check["n_undefined"] == 0 and check["threshold"] == RANDOMISATION_THRESHOLD


def test_grad_cam_of_different_weights_passes():
    check = model_randomisation(grad_cam_map, trained=_net(0), randomised=_net(1), inputs=_inputs(), targets=[1] * 12)
    assert check["passed"] is True, check
    assert check["spearman_mean"] < RANDOMISATION_THRESHOLD


def test_the_same_weights_give_identical_grad_cam_maps_and_fail():
    check = model_randomisation(grad_cam_map, trained=_net(0), randomised=_net(0), inputs=_inputs(), targets=[1] * 12)
    assert check["passed"] is False and check["spearman_mean"] == pytest.approx(1.0)


def test_rank_agreement_of_constant_maps():
    flat, varied = np.zeros((8, 8)), np.arange(64.0).reshape(8, 8)
    assert rank_agreement(flat, flat) == 1.0  # identical maps, even constant ones
    assert np.isnan(rank_agreement(flat, varied))
    assert rank_agreement(varied, varied[::-1, ::-1]) == pytest.approx(-1.0)


def test_no_defined_correlation_is_not_available_not_a_pass():
    check = randomisation_check(np.zeros((3, 8, 8)), np.random.default_rng(0).random((3, 8, 8)))
    assert check["passed"] is None and check["n_undefined"] == 3 and "constant" in check["reason"]


def test_mass_on_abnormal_cells_against_their_area():
    abnormal = np.zeros((10, 10), bool)
    abnormal[:2] = True  # 20 % of the area
    cells = abnormal.copy()
    cells[2:5] = True  # 50 % are cells
    on_abnormal = abnormal.astype(float)
    uniform = np.ones((10, 10))
    result = abnormal_mass([on_abnormal, uniform, np.zeros((10, 10))], [(abnormal, cells)] * 3)
    assert result["n_tiles"] == 2 and result["n_without_attribution"] == 1
    assert result["mass_on_abnormal"] == pytest.approx((1.0 + 0.2) / 2)
    assert result["abnormal_area"] == pytest.approx(0.2) and result["cell_area"] == pytest.approx(0.5)
    assert result["ratio"] == pytest.approx(3.0) and result["tiles_above_area"] == pytest.approx(0.5)
    assert result["mass_on_cells"] == pytest.approx((1.0 + 0.5) / 2)


def test_the_normal_type_is_the_generators():
    assert NORMAL_TYPE == CELL_TYPES[0]
