"""Batches for training and prediction, from tensors in memory or from the shard loaders.

Both sources yield the same dicts (``image`` uint8 (B, 3, S, S), ``mask`` uint8 (B, 1, S, S) when asked for,
``label``, ``severity`` int64) in the order of the indices they are given, so predictions line up with the
split's table. ``model_input`` turns a batch into the float tensor a model takes, on the device.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DistributedSampler

from benchmarks.training.data import SplitView
from rbc_dataset.errors import DataError
from rbc_dataset.progress import track

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def resize_sample(image: np.ndarray, mask: np.ndarray | None, *, size: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(H, W, 3) image by area averaging and (H, W) mask by nearest neighbour to size x size (as the build does).

    ``size`` 0 keeps the stored size (whole images at native resolution).
    """
    if size and image.shape[:2] != (size, size):
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        if mask is not None:
            mask = cv2.resize(mask, (size, size), interpolation=cv2.INTER_NEAREST)
    return image, mask


@dataclass
class MemorySource:
    """A whole split decoded once into uint8 tensors at the model's input size."""

    images: torch.Tensor  # uint8 (N, 3, S, S)
    masks: torch.Tensor | None  # uint8 (N, 1, S, S) of 0/1
    labels: torch.Tensor  # int64 (N,)
    severity: torch.Tensor  # int64 (N,), -1 unknown

    def __len__(self) -> int:
        return len(self.labels)

    def batches(self, indices: np.ndarray, batch_size: int) -> Iterator[dict]:
        for start in range(0, len(indices), batch_size):
            take = torch.from_numpy(np.asarray(indices[start : start + batch_size], dtype=np.int64))
            batch = {"image": self.images[take], "label": self.labels[take], "severity": self.severity[take]}
            if self.masks is not None:
                batch["mask"] = self.masks[take]
            yield batch


def load_memory_source(view: SplitView, size: int, *, with_mask: bool, show_progress: bool = False) -> MemorySource:
    """Decode every sample of ``view`` through its loader, resized to ``size`` (0: kept at the stored size).

    Raises:
        DataError: with ``size`` 0, samples of different sizes (they cannot share one tensor).
    """
    n = len(view)
    images = masks = None
    samples = view.iter_samples(with_mask=with_mask)
    for index, (image, mask) in enumerate(track(samples, n, description=f"decode {view.split}", show=show_progress)):
        image, mask = resize_sample(image, mask, size=size)
        if images is None:  # the first sample fixes the shape (size x size, or the stored size)
            images = torch.empty((n, 3, *image.shape[:2]), dtype=torch.uint8)
            masks = torch.empty((n, 1, *image.shape[:2]), dtype=torch.uint8) if with_mask else None
        if tuple(images.shape[2:]) != image.shape[:2]:
            _unequal_sizes(view, index, found=image.shape[:2], first=tuple(images.shape[2:]))
        images[index] = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
        if masks is not None:
            masks[index, 0] = torch.from_numpy(mask)
    if images is None:
        images = torch.empty((0, 3, size, size), dtype=torch.uint8)
        masks = torch.empty((0, 1, size, size), dtype=torch.uint8) if with_mask else None
    labels = torch.from_numpy(view.table["label"].to_numpy(np.int64, copy=True))
    severity = torch.from_numpy(view.table["severity"].to_numpy(np.int64, copy=True))
    return MemorySource(images, masks, labels, severity)


def _unequal_sizes(view: SplitView, index: int, *, found: tuple, first: tuple) -> None:
    sample = view.table["sample_id"].iloc[index]
    raise DataError(
        view.built_dir,
        f"samples of one size in the {view.config}/{view.split} split when kept at their stored size (input_size 0)",
        f"sample {sample} of {found[0]}x{found[1]} after samples of {first[0]}x{first[1]}",
        "pass --input-size N to resize every sample to N x N, or build images of one size",
    )


class _Batched(torch.utils.data.Dataset):
    """The loader's samples resized in the worker (as MemorySource does) and reduced to the tensors of a batch."""

    def __init__(self, dataset, with_mask: bool, size: int):
        self.dataset, self.with_mask, self.size = dataset, with_mask, size

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        sample = self.dataset[index]
        image = sample["image"].numpy().transpose(1, 2, 0)
        mask = sample["mask"].numpy()[0] if self.with_mask else None
        image, mask = resize_sample(image, mask, size=self.size)
        item = {"image": torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))}
        item |= {"label": sample["label"], "severity": sample["severity"]}
        if self.with_mask:
            item["mask"] = torch.from_numpy(np.ascontiguousarray(mask))[None]
        return item


class LoaderSource:
    """A split read from its shards per batch by a DataLoader (workers decode and resize, as MemorySource did)."""

    def __init__(self, view: SplitView, with_mask: bool, *, num_workers: int, pin_memory: bool, size: int):
        self.dataset = _Batched(view.dataset(with_mask=with_mask), with_mask, size)
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self.labels = torch.from_numpy(view.table["label"].to_numpy(np.int64, copy=True))

    def __len__(self) -> int:
        return len(self.dataset)

    def batches(self, indices: np.ndarray, batch_size: int) -> Iterator[dict]:
        loader = torch.utils.data.DataLoader(
            self.dataset,
            batch_size=batch_size,
            sampler=[int(i) for i in indices],
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=False,
            prefetch_factor=4 if self.num_workers else None,
        )
        yield from loader


def model_input(batch: dict, device: torch.device, *, size: int, with_mask: bool, channels_last: bool) -> torch.Tensor:
    """Float input on ``device``: ImageNet-normalised RGB, plus the 0/1 mask as a fourth channel when asked for."""
    non_blocking = device.type == "cuda"
    image = batch["image"].to(device, non_blocking=non_blocking).float().div_(255.0)
    if size and (image.shape[-1] != size or image.shape[-2] != size):
        image = F.interpolate(image, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    image = (image - mean) / std
    if with_mask:
        mask = batch["mask"].to(device, non_blocking=non_blocking).float()
        if size and (mask.shape[-1] != size or mask.shape[-2] != size):
            mask = F.interpolate(mask, size=(size, size), mode="nearest")
        image = torch.cat([image, mask], dim=1)
    return image.contiguous(memory_format=torch.channels_last) if channels_last else image


def epoch_order(n: int, seed: int, *, epoch: int, rank: int = 0, world_size: int = 1) -> np.ndarray:
    """This process's shuffled sample indices for one epoch: torch's ``DistributedSampler`` with ``drop_last``.

    The same permutation on every rank, dealt out in equal shares (DDP needs equal step counts). Seeded by
    (seed, epoch) alone, so a run resumed at epoch e sees the same order as one that never stopped.
    """
    sampler = DistributedSampler(range(n), num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=True)
    sampler.set_epoch(epoch)
    return np.fromiter(sampler, dtype=np.int64, count=len(sampler))
