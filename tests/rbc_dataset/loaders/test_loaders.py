"""Tests for the HDF5 and Hugging Face loaders on a tiny build written exactly as docs/SHARDS.md describes."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from rbc_dataset.errors import DataError, UsageError
from rbc_dataset.loaders import HDF5RBCDataset, HFRBCDataset, iter_streaming
from rbc_dataset.loaders.decode import decode_image, decode_mask
from rbc_dataset.loaders.hdf5 import import_hdf5plugin, to_chw
from tests.helpers.shards import CLASS_NAMES, SEVERITY_NAMES, make_samples, write_build, write_hdf5

KEYS = ["image", "mask", "label", "severity", "fold", "sample_id", "parent_id"]


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("loaders") / "built"
    return root, write_build(root)


@pytest.fixture(scope="module")
def hf_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hf_cache")


def _hf(build, hf_cache, split: str = "train", **kwargs) -> HFRBCDataset:
    return HFRBCDataset(build[0], config="tiles", split=split, cache_dir=hf_cache, **kwargs)


def _check_sample(sample: dict, written: dict, index: int) -> None:
    assert list(sample) == KEYS
    image, mask = sample["image"], sample["mask"]
    assert image.dtype == torch.uint8 and image.shape == (3, 16, 20) and image.is_contiguous()
    assert mask.dtype == torch.uint8 and mask.shape == (1, 16, 20)
    assert set(mask.unique().tolist()) <= {0, 1}
    assert np.array_equal(image.permute(1, 2, 0).numpy(), written["image"][index])
    assert np.array_equal(mask[0].numpy(), written["mask"][index])
    for name in ("label", "severity"):
        assert sample[name].dtype == torch.int64 and sample[name].ndim == 0
        assert sample[name].item() == written[name][index]
    assert type(sample["fold"]) is int and sample["fold"] == written["fold"][index]
    assert type(sample["sample_id"]) is str and sample["sample_id"] == written["sample_id"][index]
    assert type(sample["parent_id"]) is str and sample["parent_id"] == written["parent_id"][index]


def test_hdf5_items_match_what_was_written(build) -> None:
    root, written = build
    dataset = HDF5RBCDataset.from_build(root, config="tiles", split="train")
    assert len(dataset) == 6 and dataset.config == "tiles" and dataset.split == "train"
    assert dataset.class_names == CLASS_NAMES and dataset.severity_names == SEVERITY_NAMES
    for index in range(len(dataset)):
        _check_sample(dataset[index], written["train"], index)
    assert dataset[-1]["sample_id"] == written["train"]["sample_id"][-1]
    with pytest.raises(IndexError):
        dataset[6]


def test_hf_items_match_what_was_written(build, hf_cache) -> None:
    dataset = _hf(build, hf_cache, "test")
    assert len(dataset) == 2 and (dataset.config, dataset.split) == ("tiles", "test")
    assert dataset.class_names == CLASS_NAMES and dataset.severity_names == SEVERITY_NAMES
    for index in range(len(dataset)):
        _check_sample(dataset[index], build[1]["test"], index)


def test_streaming_yields_the_same_samples(build) -> None:
    samples = list(iter_streaming(build[0], config="tiles", split="test"))
    assert len(samples) == 2
    for index, sample in enumerate(samples):
        _check_sample(sample, build[1]["test"], index)


def add_flag(sample: dict) -> dict:
    """Module level, so it pickles into forkserver workers."""
    sample["flag"] = sample["label"] * 10
    return sample


@pytest.mark.parametrize("kind", ["hdf5", "hf"])
def test_without_mask_and_with_transform(build, hf_cache, kind: str) -> None:
    kwargs = {"with_mask": False, "transform": add_flag}
    if kind == "hdf5":
        dataset = HDF5RBCDataset.from_build(build[0], config="tiles", split="train", **kwargs)
    else:
        dataset = _hf(build, hf_cache, **kwargs)
    sample = dataset[1]
    assert "mask" not in sample and sample["flag"].item() == 10 * build[1]["train"]["label"][1]
    assert list(iter_streaming(build[0], config="tiles", split="test", **kwargs))[1]["flag"].item() == 10


def test_hdf5_pickles_without_its_handle_and_reopens(build) -> None:
    dataset = HDF5RBCDataset.from_build(build[0], config="tiles", split="train")
    dataset[0]  # opens the file in this process
    copy = pickle.loads(pickle.dumps(dataset))
    assert copy._file is None
    assert copy[2]["sample_id"] == dataset[2]["sample_id"]
    handle = dataset._file
    dataset._pid = -1  # as seen from a forked child: the handle belongs to another process
    dataset[0]
    assert dataset._file is not handle
    dataset.close()
    assert dataset._file is None and dataset[1]["sample_id"] == build[1]["train"]["sample_id"][1]


def test_hf_pickles(build, hf_cache) -> None:
    dataset = _hf(build, hf_cache, "test")
    copy = pickle.loads(pickle.dumps(dataset))
    assert copy[1]["sample_id"] == dataset[1]["sample_id"]


# forkserver is what the project's own pools use (fork deadlocked after OpenCV use there); the default (fork on
# Linux) is what most training scripts get, so it must work too.
@pytest.mark.parametrize("context", ["forkserver", None])
@pytest.mark.parametrize("kind", ["hdf5", "hf"])
def test_dataloader_with_persistent_workers(build, hf_cache, kind: str, context: str | None) -> None:
    if kind == "hdf5":
        dataset = HDF5RBCDataset.from_build(build[0], config="tiles", split="train", transform=add_flag)
        dataset[0]  # an open handle in the parent must not leak into the workers
    else:
        dataset = _hf(build, hf_cache, transform=add_flag)
    loader = DataLoader(dataset, batch_size=4, num_workers=2, persistent_workers=True, multiprocessing_context=context)
    for _ in range(2):  # the second epoch reuses the workers and their open files
        batches = list(loader)
        assert [b["image"].shape for b in batches] == [(4, 3, 16, 20), (2, 3, 16, 20)]
        ids = [sid for b in batches for sid in b["sample_id"]]
        assert ids == build[1]["train"]["sample_id"]
        labels = torch.cat([b["label"] for b in batches])
        assert torch.equal(torch.cat([b["flag"] for b in batches]), labels * 10)
        images = torch.cat([b["image"] for b in batches]).permute(0, 2, 3, 1).numpy()
        assert np.array_equal(images, build[1]["train"]["image"])


def test_blosc_shard_is_read_through_hdf5plugin(tmp_path: Path) -> None:
    import hdf5plugin

    samples = make_samples(3)
    compression = dict(hdf5plugin.Blosc(cname="lz4", shuffle=hdf5plugin.Blosc.SHUFFLE))
    path = write_hdf5(tmp_path / "train.h5", samples, "tiles", "train", compression)
    dataset = HDF5RBCDataset(path)
    assert dataset.codec == "blosc-lz4" and dataset._needs_plugin
    _check_sample(dataset[2], samples, 2)


def test_missing_hdf5plugin_is_a_data_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "hdf5plugin", None)  # makes `import hdf5plugin` raise ImportError
    with pytest.raises(DataError, match="pip install hdf5plugin") as error:
        import_hdf5plugin(tmp_path / "x.h5", "blosc-lz4")
    assert "x.h5" in str(error.value)


def test_missing_file_names_the_build_command(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file") as error:
        HDF5RBCDataset(tmp_path / "train.h5")
    assert "rbc-dataset build" in error.value.fix and "train.h5" in str(error.value)
    with pytest.raises(DataError, match="hdf5/ folder"):
        HDF5RBCDataset.from_build(tmp_path, config="tiles", split="train")


def test_not_an_hdf5_file(tmp_path: Path) -> None:
    (tmp_path / "train.h5").write_text("not hdf5")
    with pytest.raises(DataError, match="HDF5 cannot open"):
        HDF5RBCDataset(tmp_path / "train.h5")


@pytest.mark.parametrize(
    ("attribute", "value", "message"),
    [
        ("format", "something-else", "format = 'rbc-dataset-hdf5'"),
        ("format_version", 2, "format_version 1"),
        ("num_examples", 5, "num_examples = 5"),
        ("class_names", "not json", "JSON list"),
    ],
)
def test_wrong_file_attributes(tmp_path: Path, attribute: str, value, message: str) -> None:
    path = write_hdf5(tmp_path / "train.h5", make_samples(3), "tiles", "train")
    with h5py.File(path, "r+") as f:
        f.attrs[attribute] = value
    with pytest.raises(DataError, match=message) as error:
        HDF5RBCDataset(path)
    assert str(path) in str(error.value)


def test_missing_column(tmp_path: Path) -> None:
    path = write_hdf5(tmp_path / "train.h5", make_samples(3), "tiles", "train")
    with h5py.File(path, "r+") as f:
        del f["parent_id"]
    with pytest.raises(DataError, match="'parent_id'"):
        HDF5RBCDataset(path)


def test_unknown_config_or_split_lists_the_valid_ones(build, hf_cache) -> None:
    root = build[0]
    with pytest.raises(UsageError, match="valid choices: tiles"):
        HDF5RBCDataset.from_build(root, config="full", split="train")
    with pytest.raises(UsageError, match="valid choices: test, train"):
        HDF5RBCDataset.from_build(root, config="tiles", split="validation")
    with pytest.raises(UsageError, match="valid choices: tiles"):
        HFRBCDataset(root, config="model", split="train", cache_dir=hf_cache)
    with pytest.raises(UsageError, match="valid choices: train, test"):
        list(iter_streaming(root, config="tiles", split="validation"))


def test_hf_folder_without_card_or_data(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no README.md"):
        HFRBCDataset(tmp_path, cache_dir=tmp_path / "cache")
    (tmp_path / "README.md").write_text("# no YAML header\n")
    with pytest.raises(DataError, match="no data/ folder"):
        iter_streaming(tmp_path)
    (tmp_path / "data").mkdir()
    with pytest.raises(DataError, match="no YAML header"):
        HFRBCDataset(tmp_path, cache_dir=tmp_path / "cache")
    (tmp_path / "README.md").write_text("---\npretty_name: x\n---\n")
    with pytest.raises(DataError, match="`configs` list"):
        HFRBCDataset(tmp_path, cache_dir=tmp_path / "cache")
    (tmp_path / "README.md").write_bytes(b"---\nconfigs: \xff\n---\n")
    with pytest.raises(DataError, match="not UTF-8"):
        HFRBCDataset(tmp_path, cache_dir=tmp_path / "cache")


def test_import_is_light() -> None:
    code = (
        "import sys, rbc_dataset.loaders; print(sorted(m for m in ('torch', 'h5py', 'datasets') if m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert json.loads(out.stdout.replace("'", '"')) == []


def test_hf_split_without_shards(tmp_path: Path) -> None:
    write_build(tmp_path, split_sizes={"train": 2, "test": 1})
    for path in (tmp_path / "data" / "tiles").glob("test-*"):
        path.unlink()
    with pytest.raises(DataError, match="data/tiles/test-"):
        HFRBCDataset(tmp_path, config="tiles", split="train", cache_dir=tmp_path / "cache")


def test_undecodable_png_names_the_sample() -> None:
    with pytest.raises(DataError, match="tiles/train\\[3\\]"):
        decode_mask(b"not a png", "built tiles/train[3]")
    with pytest.raises(DataError, match="PNG image bytes"):
        decode_image(b"not a png")


def test_build_without_masks(tmp_path: Path) -> None:
    written = write_build(tmp_path, split_sizes={"train": 3}, masks=False)["train"]
    cache = tmp_path / "cache"
    for dataset in (
        HDF5RBCDataset.from_build(tmp_path, config="tiles", split="train"),
        HFRBCDataset(tmp_path, cache_dir=cache),
    ):
        sample = dataset[2]
        assert "mask" not in sample and not dataset.with_mask
        assert np.array_equal(sample["image"].permute(1, 2, 0).numpy(), written["image"][2])
    assert "mask" not in next(iter(iter_streaming(tmp_path)))
    with pytest.raises(DataError, match="shard without masks"):
        HDF5RBCDataset.from_build(tmp_path, config="tiles", split="train", with_mask=True)
    with pytest.raises(DataError, match="shard without masks"):
        HFRBCDataset(tmp_path, with_mask=True, cache_dir=cache)


def test_to_chw_matches_numpy_for_any_layout() -> None:
    image = np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    for view in (image, image[:, ::-1], image[::2]):
        out = to_chw(view)
        assert out.flags.c_contiguous and np.array_equal(out, view.transpose(2, 0, 1))
