"""Write a tiny ``rbc-dataset build`` output (HDF5 + Hugging Face Parquet + card) exactly as docs/SHARDS.md says.

Shared by the loader tests and the loader benchmark test; the writers under test are elsewhere, so this
module writes the files with h5py and pyarrow directly.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

CLASS_NAMES = ["healthy", "anemic"]
SEVERITY_NAMES = ["mild", "chronic"]
CBC_TESTS = ["HGB", "RBC"]
SPLIT_SIZES = {"train": 6, "test": 2}


def make_samples(n: int, height: int = 16, width: int = 20, seed: int = 0, split: str = "train") -> dict:
    """Random RGB images, 0/1 masks and the per-sample fields for ``n`` samples of two classes."""
    rng = np.random.default_rng(seed)
    label = np.arange(n, dtype=np.int64) % 2
    return {
        "image": rng.integers(0, 256, (n, height, width, 3), dtype=np.uint8),
        "mask": (rng.random((n, height, width)) < 0.4).astype(np.uint8),
        "label": label,
        "severity": np.where(label == 1, np.arange(n) % 3 - 1, -1).astype(np.int64),
        "fold": (np.arange(n) % 3 if split != "test" else np.full(n, -1)).astype(np.int64),
        "sample_id": [f"anerbc2_{'ah'[k]}_{i:04d}_01" for i, k in enumerate(label)],
        "parent_id": [f"anerbc1_{'ah'[k]}_{i:03d}" for i, k in enumerate(label)],
        "group_id": [f"g{i // 2}" for i in range(n)],
        "cbc": rng.normal(10, 2, (n, len(CBC_TESTS))).astype(np.float32),
    }


def write_hdf5(path: Path, samples: dict, config: str, split: str, compression: dict | None = None) -> Path:
    """One ``hdf5/<config>/<split>.h5`` file; ``compression`` are h5py keyword arguments (default gzip 4).

    ``samples["mask"] = None`` writes a shard without masks, as a build of an input without masks does.
    """
    compression = compression if compression is not None else {"compression": "gzip", "compression_opts": 4}
    codec = "gzip-4" if compression.get("compression") == "gzip" else "blosc-lz4"
    images, masks = samples["image"], samples["mask"]
    n, height, width = images.shape[:3]
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.create_dataset("image", data=images, chunks=(1, height, width, 3), fletcher32=True, **compression)
        if masks is not None:
            f.create_dataset("mask", data=masks, chunks=(1, height, width), fletcher32=True, **compression)
        for name in ("label", "severity", "fold"):
            f.create_dataset(name, data=samples[name].astype(np.int64))
        for name in ("sample_id", "parent_id", "group_id"):
            f.create_dataset(name, data=np.array(samples[name], dtype=object), dtype=h5py.string_dtype("utf-8"))
        f.create_dataset("cbc", data=samples["cbc"]).attrs["columns"] = json.dumps(CBC_TESTS)
        mask_bytes = [b"" if masks is None else masks[i].tobytes() for i in range(n)]
        digests = [hashlib.sha256(images[i].tobytes() + mask_bytes[i]).hexdigest() for i in range(n)]
        f.create_dataset("sha256", data=np.array(digests, dtype="S64"))
        f.attrs.update(
            {
                "format": "rbc-dataset-hdf5",
                "format_version": 1,
                "config": config,
                "split": split,
                "num_examples": n,
                "class_names": json.dumps(CLASS_NAMES),
                "severity_names": json.dumps(SEVERITY_NAMES),
                "codec": codec,
                "tool": "tests",
                "source_manifest_sha256": "0" * 64,
            }
        )
    return path


def features(masks: bool = True):
    """The ``datasets.Features`` of a shard (image and mask as PNG ``Image`` structs, labels as ``ClassLabel``)."""
    from datasets import ClassLabel, Features, Image, Value

    columns = {
        "image": Image(),
        **({"mask": Image()} if masks else {}),
        "label": ClassLabel(names=CLASS_NAMES),
        "severity": ClassLabel(names=SEVERITY_NAMES),
        "sample_id": Value("string"),
        "parent_id": Value("string"),
        "group_id": Value("string"),
        "fold": Value("int64"),
    }
    return Features({**columns, **{f"cbc_{name}": Value("float32") for name in CBC_TESTS}})


def _png(array: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", array)
    assert ok
    return data.tobytes()


def write_parquet(path: Path, samples: dict, row_group_size: int | None = None) -> Path:
    """One Hugging Face Parquet shard: PNG image (RGB) and mask (class indices 0/1) bytes, with features metadata."""
    n, masks = len(samples["label"]), samples["mask"]
    columns = {
        "image": [{"bytes": _png(cv2.cvtColor(im, cv2.COLOR_RGB2BGR)), "path": None} for im in samples["image"]],
        **({} if masks is None else {"mask": [{"bytes": _png(m), "path": None} for m in masks]}),
        **{name: samples[name] for name in ("label", "severity", "sample_id", "parent_id", "group_id", "fold")},
        **{f"cbc_{name}": samples["cbc"][:, k] for k, name in enumerate(CBC_TESTS)},
    }
    assert all(len(values) == n for values in columns.values())
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table(columns, schema=features(masks is not None).arrow_schema)
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


def write_card(root: Path, splits: dict[str, dict[str, int]], masks: bool = True) -> Path:
    """README.md with the YAML ``configs`` and ``dataset_info`` blocks; ``splits`` maps config -> split -> rows."""
    card = {
        "configs": [
            {
                "config_name": config,
                "data_files": [{"split": s, "path": f"data/{config}/{s}-*.parquet"} for s in sizes],
            }
            for config, sizes in splits.items()
        ],
        "dataset_info": [
            {
                "config_name": config,
                "features": features(masks)._to_yaml_list(),
                "splits": [{"name": s, "num_bytes": 0, "num_examples": n} for s, n in sizes.items()],
            }
            for config, sizes in splits.items()
        ],
    }
    path = root / "README.md"
    path.write_text(f"---\n{yaml.safe_dump(card, sort_keys=False)}---\n\n# Tiny test build\n")
    return path


def write_build(
    root: Path,
    config: str = "tiles",
    split_sizes: dict[str, int] | None = None,
    height: int = 16,
    width: int = 20,
    compression: dict | None = None,
    masks: bool = True,
) -> dict[str, dict]:
    """A build folder with one config in both formats (masks or not); returns the samples written per split."""
    split_sizes = split_sizes or SPLIT_SIZES
    written = {}
    for seed, (split, n) in enumerate(split_sizes.items()):
        samples = make_samples(n, height, width, seed=seed, split=split)
        samples["mask"] = samples["mask"] if masks else None
        write_hdf5(root / "hdf5" / config / f"{split}.h5", samples, config, split, compression)
        write_parquet(root / "data" / config / f"{split}-00000-of-00001.parquet", samples)
        written[split] = samples
    write_card(root, {config: split_sizes}, masks)
    return written
