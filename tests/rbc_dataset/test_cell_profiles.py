"""rbc_dataset.cell_profiles: the one per-cell measurement that rbc-bench realism, morphometry and calibrate share."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

import annotation.morphometry as morphometry
import benchmarks.toolkit.realism_cells as realism_cells
from rbc_dataset import cell_profiles
from rbc_dataset.errors import DataError


def test_realism_and_morphometry_use_the_same_code_not_a_copy():
    assert realism_cells.measure_cells is cell_profiles.measure_cells
    assert realism_cells.PROFILE_COLUMNS is cell_profiles.PROFILE_COLUMNS
    assert morphometry.optical_density is cell_profiles.optical_density


def test_optical_density_is_zero_on_background_and_log_of_the_attenuation_on_a_cell():
    image = np.full((64, 64, 3), 200, np.uint8)
    cells = np.zeros((64, 64), np.uint8)
    cv2.circle(cells, (32, 32), 10, 1, -1)
    image[cells > 0] = 100
    od = cell_profiles.optical_density(image.astype(np.float32), cells.astype(np.int32))
    assert abs(float(od[2, 2])) < 1e-6
    assert float(od[32, 32]) == pytest.approx(math.log10(2.0), abs=1e-4)
    row = cell_profiles.measure_cells(image, cells.astype(bool)).iloc[0]
    assert row["eq_diameter_px"] == pytest.approx(2 * math.sqrt(cells.sum() / math.pi)) and row["aspect_ratio"] < 1.05


def test_a_mask_of_another_size_is_a_data_error():
    with pytest.raises(DataError, match="mask of the image's size"):
        cell_profiles.measure_cells(np.zeros((40, 40, 3), np.uint8), np.zeros((30, 40), bool))
