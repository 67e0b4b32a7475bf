"""Tests for benchmarks/toolkit/loader_speed.py on the tiny build of the loader tests."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import hdf5plugin
import pytest
import torch

from benchmarks.toolkit.loader_speed import PNGFolder, rewrite_hdf5, run_loader_bench
from rbc_dataset.loaders import HDF5RBCDataset
from tests.helpers.shards import write_build

METHODS = ["hdf5_blosc2_zstd", "hdf5_blosc_zstd", "hdf5_default", "hdf5_fast", "hf_parquet", "png_folder"]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("loader_bench") / "built"
    write_build(root)
    return root


def _same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) if isinstance(a[k], torch.Tensor) else a[k] == b[k] for k in a)


def test_run_writes_json_with_every_method(built: Path, tmp_path: Path) -> None:
    out = tmp_path / "loader.json"
    result = run_loader_bench(built, json_out=out, max_items=4, work_dir=tmp_path / "work")
    assert sorted(result["methods"]) == METHODS
    for entry in result["methods"].values():
        assert entry["items"] == 4 and entry["images_per_s"] > 0 and entry["mb_per_s"] > 0
        assert entry["bytes_per_image"] > 0 and entry["relative_to_png_folder"] > 0
    assert result["methods"]["png_folder"]["relative_to_png_folder"] == 1.0
    assert result["methods"]["hdf5_default"]["description"] == "HDF5 gzip-4"
    assert result["image_hw"] == [16, 20] and result["dataloader_hdf5_fast"] is None
    assert isinstance(result["target_met"], bool)
    written = json.loads(out.read_text())
    assert written["methods"] == result["methods"] and written["environment"]["cpu_count"] >= 1
    assert len(list((tmp_path / "work" / "png" / "images").glob("*.png"))) == 4


def test_second_build_and_dataloader(built: Path, tmp_path: Path) -> None:
    fast = tmp_path / "fast"
    write_build(fast, compression=dict(hdf5plugin.Blosc(cname="lz4", shuffle=hdf5plugin.Blosc.SHUFFLE)))
    result = run_loader_bench(built, fast_codec_dir=fast, max_items=3, dataloader_workers=2)
    assert result["methods"]["hdf5_fast"]["description"] == "HDF5 blosc-lz4 (second build)"
    assert result["dataloader_hdf5_fast"]["workers"] == 2 and result["dataloader_hdf5_fast"]["images_per_s"] > 0
    assert "hdf5_blosc_zstd" in result["methods"]


def test_rewrite_keeps_samples_and_chunks(built: Path, tmp_path: Path) -> None:
    source = HDF5RBCDataset.from_build(built, config="tiles", split="train")
    target = rewrite_hdf5(source.path, tmp_path / "fast.h5", codec="blosc-lz4", n=4)
    rewritten = HDF5RBCDataset(target)
    assert len(rewritten) == 4 and rewritten.codec == "blosc-lz4"
    assert all(_same(rewritten[i], source[i]) for i in range(4))
    with h5py.File(target) as f:
        assert f["image"].chunks == (1, 16, 20, 3) and f["image"].fletcher32
        assert json.loads(f["cbc"].attrs["columns"]) == ["HGB", "RBC"]


def test_png_folder_reads_back_the_same_samples(built: Path, tmp_path: Path) -> None:
    source = HDF5RBCDataset.from_build(built, config="tiles", split="train")
    folder = PNGFolder(source, 3, out_dir=tmp_path / "png")
    assert len(folder) == 3 and folder.bytes_on_disk() > 0
    assert all(_same(folder[i], source[i]) for i in range(3))


def test_build_without_masks(tmp_path: Path) -> None:
    write_build(tmp_path / "built", masks=False)
    result = run_loader_bench(tmp_path / "built", max_items=2)
    assert result["methods"]["hdf5_fast"]["mb_per_s"] > 0
