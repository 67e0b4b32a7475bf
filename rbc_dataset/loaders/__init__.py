"""PyTorch datasets over the shards of ``rbc-dataset build`` (docs/SHARDS.md): HDF5 and Hugging Face Parquet.

Both return the same sample dict. The names are imported on first use, so ``import rbc_dataset.loaders``
does not pull in torch, h5py or datasets (a CLI's ``--help`` stays instant); they need the ``torch`` extra
(``pip install "rbc-dataset[torch]"``), and say so when it is missing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from rbc_dataset.extras import require

if TYPE_CHECKING:
    from rbc_dataset.loaders.hdf5 import HDF5RBCDataset
    from rbc_dataset.loaders.hf import HFRBCDataset
    from rbc_dataset.loaders.streaming import StreamingRBCDataset, iter_streaming

_HOMES = {
    "HDF5RBCDataset": "rbc_dataset.loaders.hdf5",
    "HFRBCDataset": "rbc_dataset.loaders.hf",
    "StreamingRBCDataset": "rbc_dataset.loaders.streaming",
    "iter_streaming": "rbc_dataset.loaders.streaming",
}
__all__ = ["HDF5RBCDataset", "HFRBCDataset", "StreamingRBCDataset", "iter_streaming"]


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    require("torch", "torchvision", extra="torch", for_what=f"rbc_dataset.loaders.{name}")
    return getattr(importlib.import_module(_HOMES[name]), name)
