"""Tests for benchmarks/baselines/features.py: per-image vectors on arrays, split tables on the tiny build."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from benchmarks.baselines import features
from benchmarks.baselines.features import (
    BACKGROUND_COLOUR_NAMES,
    MORPHOMETRIC_NAMES,
    RAW_MASK_NAMES,
    FeatureTable,
    background_colour_features,
    background_colour_vector,
    cbc_features,
    morphometric_features,
    morphometric_vector,
    raw_mask_intensity_features,
    raw_mask_intensity_vector,
)
from benchmarks.training.data import SplitView, open_split
from rbc_dataset.errors import DataError
from rbc_dataset.fileio import read_image


@pytest.fixture(scope="module")
def validation(bench_build: Path) -> SplitView:
    return open_split(bench_build, split="validation")


def _smear(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A 64x64 light background with two dark discs, and their 0/1 mask."""
    rng = np.random.default_rng(seed)
    image = np.clip(rng.normal([212, 205, 215], 2, size=(64, 64, 3)), 0, 255).astype(np.uint8)
    yy, xx = np.mgrid[:64, :64]
    mask = (((yy - 20) ** 2 + (xx - 20) ** 2) < 100) | (((yy - 44) ** 2 + (xx - 40) ** 2) < 120)
    image[mask] = [150, 90, 140]
    return image, mask.astype(np.uint8)


# ------------------------------------------------------------------------------------------------ background


def test_background_ignores_cells_and_sees_the_background() -> None:
    image, mask = _smear()
    before = background_colour_vector(image, mask)
    assert before.shape == (len(BACKGROUND_COLOUR_NAMES),) and np.isfinite(before).all()
    recoloured_cells = image.copy()
    recoloured_cells[mask > 0] = [10, 250, 30]
    fringe = (cv2.dilate(mask, np.ones((3, 3), np.uint8)) > 0) & (mask == 0)
    recoloured_cells[fringe] = [0, 0, 255]  # blurred cell edges just outside the mask
    np.testing.assert_array_equal(background_colour_vector(recoloured_cells, mask), before)
    warmer = image.copy()
    warmer[mask == 0, 2] += 8  # a bluer white balance
    after = background_colour_vector(warmer, mask)
    name = dict(zip(BACKGROUND_COLOUR_NAMES, after - before, strict=True))
    assert name["bg_b_p50"] > 5 and name["bg_log_b_over_g"] > 0.03 and name["bg_r_p50"] == 0


def test_background_without_mask_uses_the_brighter_half() -> None:
    image, mask = _smear()
    without = background_colour_vector(image)
    recoloured_cells = image.copy()
    recoloured_cells[mask > 0] = [20, 20, 20]  # still darker than the background: never picked
    np.testing.assert_array_equal(background_colour_vector(recoloured_cells), without)
    assert without[BACKGROUND_COLOUR_NAMES.index("bg_g_p50")] > 200


def test_background_is_missing_when_there_is_none() -> None:
    image, _ = _smear()
    assert np.isnan(background_colour_vector(image, np.ones(image.shape[:2], np.uint8))).all()


def test_background_table_of_a_split(validation: SplitView) -> None:
    table = background_colour_features(validation)
    assert isinstance(table, FeatureTable) and table.names == BACKGROUND_COLOUR_NAMES
    assert table.values.shape == (len(validation), len(BACKGROUND_COLOUR_NAMES)) and table.values.dtype == np.float64
    first_image, first_mask = next(validation.iter_samples())
    np.testing.assert_array_equal(table.values[0], background_colour_vector(first_image, first_mask))
    chroma = table.to_frame()[["bg_chroma_r", "bg_chroma_g", "bg_chroma_b"]].sum(axis=1)
    np.testing.assert_allclose(chroma, 1.0, atol=0.01)


# -------------------------------------------------------------------------------------------------- raw masks


def test_raw_mask_vector_reads_intensities_not_shape() -> None:
    raw = np.full((40, 50, 3), 255, np.uint8)
    raw[5:20, 5:20] = [30, 20, 40]
    vector = dict(zip(RAW_MASK_NAMES, raw_mask_intensity_vector(raw), strict=True))
    assert vector["raw_n_values"] == 2 and vector["raw_is_rgb"] == 1.0
    assert vector["raw_fg_mean_r"] == 30 and vector["raw_fg_mean_b"] == 40
    assert sum(vector[f"raw_hist_{k:02d}"] for k in range(16)) == pytest.approx(1.0)
    moved = np.full_like(raw, 255)
    moved[20:35, 30:45] = [30, 20, 40]  # same cells elsewhere
    np.testing.assert_array_equal(raw_mask_intensity_vector(moved), raw_mask_intensity_vector(raw))
    darker = raw.copy()
    darker[5:20, 5:20] = [10, 5, 15]  # the class leak of the release: darker cells
    assert raw_mask_intensity_vector(darker)[RAW_MASK_NAMES.index("raw_fg_mean")] < vector["raw_fg_mean"]
    binary = np.where(raw[..., 0] == 255, 0, 255).astype(np.uint8)  # clean, single channel, cells bright
    clean = dict(zip(RAW_MASK_NAMES, raw_mask_intensity_vector(binary), strict=True))
    assert clean["raw_is_rgb"] == 0.0 and clean["raw_fg_mean"] == 255 and clean["raw_n_values"] == 2


def test_raw_mask_table_comes_from_the_raw_files(validation: SplitView, monkeypatch) -> None:
    reads = []
    original = features.read_raw_mask
    monkeypatch.setattr(features, "read_raw_mask", lambda path: reads.append(path) or original(path))
    table = raw_mask_intensity_features(validation)
    assert table.names == RAW_MASK_NAMES and table.values.shape == (len(validation), len(RAW_MASK_NAMES))
    assert len(reads) == len(set(reads)) == len(validation)  # one tile file each, read once
    row = validation.manifest.set_index("sample_id").loc[validation.table["sample_id"].iloc[0]]
    raw = read_image(Path(row["root"]) / row["mask_path"])
    np.testing.assert_array_equal(table.values[0], raw_mask_intensity_vector(raw))
    assert (table.to_frame()["raw_is_rgb"] == 1.0).all()  # the release-style masks are RGB


def test_raw_mask_falls_back_to_the_parent_and_caches(validation: SplitView, monkeypatch) -> None:
    manifest = validation.manifest.copy()
    manifest.loc[manifest["tile_index"].notna(), "mask_path"] = None  # tiles without their own mask files
    view = dataclasses.replace(validation, _manifest=manifest)
    reads = []
    original = features.read_raw_mask
    monkeypatch.setattr(features, "read_raw_mask", lambda path: reads.append(path) or original(path))
    table = raw_mask_intensity_features(view)
    assert len(reads) == validation.table["parent_id"].nunique() == 2
    assert all("AneRBC-I/" in str(path) for path in reads)
    first_of_parent = view.table.groupby("parent_id").head(1).index
    assert len(np.unique(table.values[first_of_parent], axis=0)) == 2


def test_raw_mask_errors_name_the_file(validation: SplitView, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"manifest\.parquet.*no such file"):
        raw_mask_intensity_features(dataclasses.replace(validation, built_dir=tmp_path, _manifest=None))
    moved = validation.manifest.assign(root=str(tmp_path / "moved"))
    with pytest.raises(DataError, match=r"moved.*Binary_segmented.*no such file.*Fix: restore"):
        raw_mask_intensity_features(dataclasses.replace(validation, _manifest=moved))
    no_masks = validation.manifest.assign(mask_path=None)
    with pytest.raises(DataError, match="a mask_path for sample 'anerbc2_"):
        raw_mask_intensity_features(dataclasses.replace(validation, _manifest=no_masks))
    first = validation.manifest.set_index("sample_id").loc[validation.table["sample_id"].iloc[0]]
    broken = tmp_path / "broken" / first["mask_path"]
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"not a png")
    corrupt = validation.manifest.assign(root=str(tmp_path / "broken"))
    with pytest.raises(DataError, match="a decodable mask image"):
        raw_mask_intensity_features(dataclasses.replace(validation, _manifest=corrupt))


# ------------------------------------------------------------------------------------------------------- CBC


def test_cbc_table_is_the_cbc_columns(validation: SplitView) -> None:
    table = cbc_features(validation)
    assert table.names == tuple(validation.cbc_columns) and "cbc_HGB" in table.names
    np.testing.assert_array_equal(table.values, validation.table[validation.cbc_columns].to_numpy(np.float64))
    without = dataclasses.replace(validation, table=validation.table.drop(columns=validation.cbc_columns))
    empty = cbc_features(without)  # no CBC in the build: no column; the baseline's fit says so in a user's words
    assert empty.names == () and empty.values.shape == (len(validation.table), 0)


# ----------------------------------------------------------------------------------------------- morphometric


def test_morphometric_vector_counts_cells() -> None:
    image, mask = _smear()
    vector = dict(zip(MORPHOMETRIC_NAMES, morphometric_vector(image, mask), strict=True))
    assert vector["n_cells"] == 2 and 20 < vector["mean_diameter_px"] < 24
    assert sum(v for k, v in vector.items() if k.startswith("share_")) == pytest.approx(1.0)
    empty = dict(zip(MORPHOMETRIC_NAMES, morphometric_vector(image, np.zeros_like(mask)), strict=True))
    assert empty["n_cells"] == 0 and np.isnan(empty["mean_diameter_px"]) and np.isnan(empty["median_rim_od"])


class _FirstSamples(SplitView):
    """The first few samples of a split (keeps the morphometry test quick)."""

    def iter_samples(self, with_mask=None):
        for index, pair in enumerate(super().iter_samples(with_mask)):
            if index == len(self.table):
                return
            yield pair


def test_morphometric_table_needs_masks(validation: SplitView) -> None:
    fields = {f.name: getattr(validation, f.name) for f in dataclasses.fields(validation)}
    few = _FirstSamples(**{**fields, "table": validation.table.iloc[:3].reset_index(drop=True)})
    table = morphometric_features(few)
    assert table.names == MORPHOMETRIC_NAMES and table.values.shape == (3, len(MORPHOMETRIC_NAMES))
    assert (table.to_frame()["n_cells"] > 20).all()
    with pytest.raises(DataError, match="canonical cell masks.*morphometric"):
        morphometric_features(dataclasses.replace(validation, has_masks=False))
    # Not bit-equal: once torchvision is imported in a process, cv2.distanceTransform differs by 1 ulp there,
    # which can move a watershed boundary by a pixel; workers (fresh processes) have not imported it.
    parallel = morphometric_features(few, workers=2).to_frame()
    pd.testing.assert_frame_equal(table.to_frame(), parallel, check_exact=False, rtol=0.05)
