"""``rbc-dataset show DIR``: load a build back the way users will, and compare the two formats.

Every split of one config is opened with ``datasets.load_dataset`` (its Arrow cache goes to a temporary
folder, never to ``~/.cache``) and with ``HDF5RBCDataset`` behind a two-worker ``DataLoader``; the first
batch's tensors are described and the first sample of both formats compared pixel for pixel.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from rbc_dataset.dataset_card import read_card
from rbc_dataset.errors import check_choice
from rbc_dataset.extras import require


def _hdf5_batch(built_dir: Path, config: str, *, split: str, batch_size: int, workers: int) -> tuple[int, dict]:
    import multiprocessing

    from torch.utils.data import DataLoader

    from rbc_dataset.loaders.hdf5 import HDF5RBCDataset

    dataset = HDF5RBCDataset.from_build(built_dir, config=config, split=split)
    context = multiprocessing.get_context("forkserver") if workers else None
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=workers,
        persistent_workers=bool(workers),
        multiprocessing_context=context,
    )
    return len(dataset), next(iter(loader))


def load_back(built_dir: Path, *, config: str | None = None, batch_size: int = 8, workers: int = 2) -> dict:
    """Load every split of ``config`` (default: the card's default) through both formats; return a summary."""
    built_dir = Path(built_dir)
    card = read_card(built_dir)  # a missing, non-UTF-8 or mistyped card: a DataError before torch loads
    require("torch", "torchvision", extra="torch", for_what="rbc-dataset show")
    from rbc_dataset.loaders.hf import HFRBCDataset

    config = config or card.default_config
    check_choice("config", config, choices=list(card.configs))
    rows = []
    with tempfile.TemporaryDirectory(prefix="rbc-show-") as cache:
        for split, entry in card.configs[config].splits.items():
            row = {"split": split, "card": entry.num_examples}
            if entry.parquet is not None:
                hf = HFRBCDataset(
                    built_dir, config=config, split=split, cache_dir=cache
                )  # datasets.load_dataset underneath
                row["datasets"] = len(hf)
                first_hf = hf[0]
            if entry.hdf5 is not None:
                row["hdf5"], batch = _hdf5_batch(built_dir, config, split=split, batch_size=batch_size, workers=workers)
                row["batch"] = {
                    "image": f"{tuple(batch['image'].shape)} {batch['image'].dtype}",
                    "mask": f"{tuple(batch['mask'].shape)} values {sorted(np.unique(batch['mask'].numpy()).tolist())}"
                    if "mask" in batch
                    else "none",
                    "labels": batch["label"].tolist(),
                }
                if entry.parquet is not None:
                    first = {k: batch[k][0] for k in ("image", "mask") if k in batch}
                    row["formats_agree"] = all(np.array_equal(first[k].numpy(), first_hf[k].numpy()) for k in first)
            rows.append(row)
    return {"folder": str(built_dir), "config": config, "class_names": list(card.class_names), "splits": rows}
