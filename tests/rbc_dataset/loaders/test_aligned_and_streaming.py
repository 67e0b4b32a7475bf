"""Loaders as torchvision and DataLoader users meet them: v2 transforms keep image and mask aligned, masks are
class indices 0/1 (anything else is refused), and the streaming dataset gives every sample exactly once
whatever the number of workers or ranks."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from rbc_dataset.errors import DataError, UsageError
from rbc_dataset.loaders import HDF5RBCDataset, HFRBCDataset, StreamingRBCDataset, iter_streaming
from rbc_dataset.loaders.decode import decode_mask
from tests.helpers.shards import _png, make_samples, write_card, write_hdf5, write_parquet


def _thresholded(n: int, seed: int = 0, split: str = "train") -> dict:
    """Samples whose mask is exactly ``image[..., 0] > 127``: any misalignment shows as a pixel that disagrees."""
    samples = make_samples(n, height=24, width=32, seed=seed, split=split)
    samples["mask"] = (samples["image"][..., 0] > 127).astype(np.uint8)
    return samples


@pytest.fixture(scope="module")
def aligned(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("aligned") / "built"
    samples = _thresholded(4)
    write_hdf5(root / "hdf5" / "tiles" / "train.h5", samples, "tiles", "train")
    write_parquet(root / "data" / "tiles" / "train-00000-of-00001.parquet", samples)
    write_card(root, {"tiles": {"train": 4}})
    return root


def _datasets(root: Path, cache: Path, transform) -> list:
    return [
        HDF5RBCDataset.from_build(root, config="tiles", split="train", transform=transform),
        HFRBCDataset(root, config="tiles", split="train", transform=transform, cache_dir=cache),
    ]


def _agrees(sample: dict) -> bool:
    return torch.equal(sample["mask"][0], (sample["image"][0] > 127).to(torch.uint8))


TRANSFORMS = {
    "flip": v2.RandomHorizontalFlip(p=1.0),
    "vertical flip": v2.RandomVerticalFlip(p=1.0),
    "crop": v2.RandomCrop((13, 17)),
    "rotation": v2.RandomRotation(degrees=(33, 33)),  # nearest for both; filled with 0 in image and mask alike
    "chain": v2.Compose(
        [v2.RandomResizedCrop((20, 20), interpolation=v2.InterpolationMode.NEAREST), v2.RandomHorizontalFlip(p=1.0)]
    ),
}


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_v2_transforms_keep_image_and_mask_aligned(aligned: Path, tmp_path: Path, name: str) -> None:
    torch.manual_seed(0)
    for dataset in _datasets(aligned, tmp_path / "cache", TRANSFORMS[name]):
        for index in range(len(dataset)):
            sample = dataset[index]
            assert isinstance(sample["image"], tv_tensors.Image) and isinstance(sample["mask"], tv_tensors.Mask)
            assert _agrees(sample), f"{type(dataset).__name__}[{index}] after {name}"
    streamed = list(iter_streaming(aligned, config="tiles", split="train", transform=TRANSFORMS[name]))
    assert len(streamed) == 4 and all(_agrees(s) for s in streamed)


def test_a_plain_tensor_mask_would_have_been_left_behind(aligned: Path) -> None:
    """The check above can fail: v2 flips a plain-tensor sample's image and passes its mask through."""
    sample = HDF5RBCDataset.from_build(aligned, config="tiles", split="train")[0]
    plain = {"image": sample["image"].as_subclass(torch.Tensor), "mask": sample["mask"].as_subclass(torch.Tensor)}
    flipped = v2.RandomHorizontalFlip(p=1.0)(plain)
    assert not _agrees(flipped) and _agrees(v2.RandomHorizontalFlip(p=1.0)(sample))


def test_default_collation_after_a_transform(aligned: Path, tmp_path: Path) -> None:
    transform = v2.Compose([v2.RandomCrop((16, 16)), v2.RandomHorizontalFlip(p=1.0)])
    for dataset in _datasets(aligned, tmp_path / "cache", transform):
        batch = next(iter(DataLoader(dataset, batch_size=4, num_workers=0)))
        assert batch["image"].shape == (4, 3, 16, 16) and batch["mask"].shape == (4, 1, 16, 16)
        assert batch["image"].dtype == batch["mask"].dtype == torch.uint8 and batch["label"].shape == (4,)
        assert all(_agrees({"image": batch["image"][k], "mask": batch["mask"][k]}) for k in range(4))
        loss = torch.nn.functional.cross_entropy(torch.zeros(4, 2, 16, 16), batch["mask"][:, 0].long())
        assert torch.isfinite(loss)


def test_a_mask_other_than_0_and_1_is_refused(tmp_path: Path) -> None:
    samples = _thresholded(2)
    samples["mask"] = samples["mask"] * np.uint8(255)  # the encoding builds before format 2 used in Parquet
    write_hdf5(tmp_path / "hdf5" / "tiles" / "train.h5", samples, "tiles", "train")
    write_parquet(tmp_path / "data" / "tiles" / "train-00000-of-00001.parquet", samples)
    write_card(tmp_path, {"tiles": {"train": 2}})
    message = r"class indices 0 \(background\) and 1 \(cell\), found values 0, 255"
    with pytest.raises(DataError, match=message):
        HDF5RBCDataset.from_build(tmp_path, config="tiles", split="train")[0]
    with pytest.raises(DataError, match=message):
        HFRBCDataset(tmp_path, config="tiles", split="train", cache_dir=tmp_path / "cache")[0]
    with pytest.raises(DataError, match=message):
        next(iter(iter_streaming(tmp_path, config="tiles", split="train")))
    with pytest.raises(DataError, match=r"found a uint8 array of shape \(24, 32, 3\)"):
        decode_mask(_png(np.dstack([samples["mask"][0] // 255] * 3)), "three channels")
    assert HDF5RBCDataset.from_build(tmp_path, config="tiles", split="train", with_mask=False)[0]["image"].shape == (
        3,
        24,
        32,
    )


# -------------------------------------------------------------------------------------------------- streaming


@pytest.fixture(scope="module")
def stream_build(tmp_path_factory) -> tuple[Path, list[str]]:
    """train: 2 files of 7 rows in row groups of 2 (8 groups); test: one file, one row group of 5 rows."""
    root = tmp_path_factory.mktemp("stream") / "built"
    ids = []
    for k in range(2):
        samples = make_samples(7, seed=k)
        samples["sample_id"] = [f"s{k}_{i}" for i in range(7)]
        ids += samples["sample_id"]
        write_parquet(root / "data" / "tiles" / f"train-0000{k}-of-00002.parquet", samples, row_group_size=2)
    test = make_samples(5, seed=9, split="test")
    test["sample_id"] = [f"t_{i}" for i in range(5)]
    write_parquet(root / "data" / "tiles" / "test-00000-of-00001.parquet", test)
    write_card(root, {"tiles": {"train": 14, "test": 5}})
    return root, ids


def _ids(dataset, workers: int) -> list[str]:
    loader = DataLoader(dataset, batch_size=3, num_workers=workers)
    return [sid for batch in loader for sid in batch["sample_id"]]


@pytest.mark.parametrize("workers", [0, 1, 2, 3])
@pytest.mark.parametrize("split", ["train", "test"])  # row groups dealt out; single rows dealt out
def test_streaming_dataloader_gives_every_sample_once(stream_build, workers: int, split: str) -> None:
    root, train_ids = stream_build
    expected = train_ids if split == "train" else [f"t_{i}" for i in range(5)]
    dataset = iter_streaming(root, config="tiles", split=split)
    assert isinstance(dataset, IterableDataset) and isinstance(dataset, StreamingRBCDataset)
    ids = _ids(dataset, workers)
    assert Counter(ids) == Counter(expected), f"{workers} workers: {sorted(ids)}"


@pytest.mark.parametrize("split", ["train", "test"])
def test_streaming_ranks_share_the_split(stream_build, split: str) -> None:
    root, train_ids = stream_build
    expected = train_ids if split == "train" else [f"t_{i}" for i in range(5)]
    shares = [_ids(StreamingRBCDataset(root, config="tiles", split=split, rank=r, world_size=2), 2) for r in range(2)]
    assert not set(shares[0]) & set(shares[1]) and Counter(shares[0] + shares[1]) == Counter(expected)
    assert all(shares)  # both ranks get work
    with pytest.raises(UsageError, match="0 <= rank < world_size"):
        StreamingRBCDataset(root, config="tiles", split=split, rank=2, world_size=2)


def test_streaming_a_damaged_file_names_it(stream_build, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "built"
    shutil.copytree(stream_build[0], root)
    shard = root / "data" / "tiles" / "test-00000-of-00001.parquet"
    shard.write_bytes(shard.read_bytes()[:200])
    with pytest.raises(DataError, match="test-00000-of-00001.parquet"):
        iter_streaming(root, config="tiles", split="test")


def test_hdf5_mask_check_names_the_shard(tmp_path: Path) -> None:
    samples = _thresholded(1)
    path = write_hdf5(tmp_path / "hdf5" / "tiles" / "train.h5", samples, "tiles", "train")
    with h5py.File(path, "r+") as handle:
        handle["mask"][0, 0, 0] = 2
    with pytest.raises(DataError, match=r"train\.h5 \[0\].*found values 0, 1, 2"):
        HDF5RBCDataset(path)[0]
