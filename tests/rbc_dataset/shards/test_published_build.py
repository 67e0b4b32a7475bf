"""A build means what it says: masks are class indices 0/1 in both formats (load_dataset + a segmentation loss),
no file names the builder's folders, the card carries Hugging Face's provenance fields and warns about small
or one-class splits, and the streaming loader gives each sample once across DataLoader workers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
import yaml
from torch.utils.data import DataLoader

from rbc_dataset.errors import DataError
from rbc_dataset.loaders import HDF5RBCDataset, iter_streaming
from rbc_dataset.manifest import read_manifest
from rbc_dataset.shards.config import BuildConfig
from rbc_dataset.shards.integrity import read_readme_header
from rbc_dataset.shards.run import build
from rbc_dataset.shards.verify import verify
from tests.helpers import tree_hashes

CONFIG = BuildConfig(configs=("model",), split_ratios=(0.4, 0.3, 0.3), folds=0, workers=2)


@pytest.fixture(scope="module")
def built(synthetic_root: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("published") / "dataset"
    before = tree_hashes(synthetic_root)
    build(
        synthetic_root.resolve(), out=out, config=CONFIG, show_progress=False
    )  # absolute paths in, as users give them
    assert tree_hashes(synthetic_root) == before
    return out


def _copy(built: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(built, copy)
    return copy


# ------------------------------------------------------------------------------------------------------ masks


def test_load_dataset_masks_are_class_indices_a_loss_accepts(built: Path, tmp_path: Path) -> None:
    import datasets

    train = datasets.load_dataset(str(built), "model", split="train", cache_dir=str(tmp_path / "hf"))
    masks = np.stack([np.asarray(row["mask"]) for row in train])
    assert train[0]["mask"].mode == "L" and masks.shape == (len(train), 300, 300)
    assert set(np.unique(masks).tolist()) == {0, 1}
    target = torch.from_numpy(masks).long()
    logits = torch.zeros(len(train), 2, 300, 300)
    assert torch.isfinite(torch.nn.CrossEntropyLoss()(logits, target))  # format 1's 255 was "out of bounds"
    with h5py.File(built / "hdf5" / "model" / "train.h5", "r") as handle:
        assert np.array_equal(handle["mask"][()], masks)  # the same 0/1 masks in both formats


def _remask(path: Path, change) -> None:
    """Rewrite a Parquet shard with ``change`` applied to every decoded mask (re-encoded as PNG)."""
    table = pq.read_table(path)
    masks = []
    for cell in table.column("mask").to_pylist():
        mask = change(cv2.imdecode(np.frombuffer(cell["bytes"], np.uint8), cv2.IMREAD_UNCHANGED))
        masks.append({"bytes": cv2.imencode(".png", mask)[1].tobytes(), "path": cell["path"]})
    column = pa.array(masks, table.schema.field("mask").type)
    pq.write_table(table.set_column(table.schema.get_field_index("mask"), "mask", column), path)


def test_verify_reports_a_mask_that_is_not_0_and_1(built: Path, tmp_path: Path) -> None:
    assert verify(built, workers=1, show_progress=False).ok
    copy = _copy(built, tmp_path)
    _remask(next((copy / "data" / "model").glob("test-*.parquet")), lambda m: m * np.uint8(255))
    with h5py.File(copy / "hdf5" / "model" / "validation.h5", "r+") as handle:
        handle["mask"][0, 0, 0] = 7
    result = verify(copy, workers=1, show_progress=False)
    values = [i for i in result.issues if i.code == "verify_mask_values"]
    assert {Path(i.path).name for i in values} >= {"validation.h5"} and not result.ok
    assert any("test-00000-of-00001.parquet" in i.path and "values 0, 255" in i.found for i in values)
    assert any("0, 1, 7" in i.found for i in values)


# ------------------------------------------------------------------------------------------------------ paths


def _texts(path: Path) -> list[str]:
    """Everything a reader of the file can see: its bytes, and decoded Parquet columns, metadata, HDF5 attributes."""
    texts = [path.read_bytes().decode("latin-1")]
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        keep = [f.name for f in table.schema if not pa.types.is_struct(f.type)]
        texts.append(json.dumps(table.select(keep).to_pylist(), default=str))
        texts += [v.decode() for v in (table.schema.metadata or {}).values()]
    if path.suffix == ".h5":
        with h5py.File(path, "r") as handle:
            texts += [str(v) for v in handle.attrs.values()]
    return texts


def test_no_file_of_the_build_names_the_builders_folders(built: Path, synthetic_root: Path) -> None:
    base = str(Path(synthetic_root).resolve().parents[1])  # holds both the source and the build
    assert str(built.resolve()).startswith(base)
    files = [p for p in built.rglob("*") if p.is_file()]
    assert {"manifest.parquet", "manifest.report.json", "validate-masks.json", "audit.json"} <= {p.name for p in files}
    leaks = [p.relative_to(built).as_posix() for p in files if any(base in text for text in _texts(p))]
    assert leaks == []
    manifest = pq.read_table(built / "manifest.parquet")
    assert set(manifest.column("root").to_pylist()) == {"data"}  # the source root by its folder name
    assert manifest.schema.metadata[b"rbc_dataset.root"] == b"data"
    assert json.loads((built / "manifest.report.json").read_text())["root"] == "data"
    report = json.loads((built / "reports" / "validate-masks.json").read_text())
    assert report["source"] == "manifest.parquet"


def test_the_published_manifest_finds_its_source_only_where_the_files_match(
    built: Path, synthetic_root: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match=r"source folder 'data'.*Fix: keep the build beside the source folder"):
        read_manifest(built / "manifest.parquet")
    decoy = tmp_path / "data"
    shutil.copytree(synthetic_root, decoy)
    for image in decoy.rglob("Original_images/*.png"):
        image.write_bytes(image.read_bytes() + b"\0")  # same names, other bytes: not the source
    with pytest.raises(DataError, match="no folder of that name with the manifest's files"):
        read_manifest(built / "manifest.parquet")
    monkeypatch.chdir(synthetic_root.parent)
    rows = read_manifest(built / "manifest.parquet")
    assert set(rows["root"]) == {synthetic_root.resolve().as_posix()}


def test_consumers_still_read_the_build(built: Path) -> None:
    sample = HDF5RBCDataset.from_build(built, config="model", split="test")[0]
    assert sample["mask"].shape == (1, 300, 300) and int(sample["mask"].max()) == 1


# ------------------------------------------------------------------------------------------------------- card


def test_card_has_the_hub_provenance_fields_and_warns_about_small_splits(built: Path) -> None:
    header = read_readme_header(built)
    assert header["task_categories"] == ["image-classification", "image-segmentation"]
    assert header["size_categories"] == ["n<1K"] and header["source_datasets"] == ["original"]
    assert header["annotations_creators"] == ["machine-generated"] and header["license"] == "cc-by-4.0"
    assert "license_name" not in header  # only with license: other
    card = json.loads((built / "dataset.json").read_text())
    assert card["format_version"] == 2
    assert card["splits"]["parents_per_split"] == {"train": 1, "validation": 2, "test": 1}  # 4 parents
    warnings = {w["split"]: w for w in card["split_warnings"]}
    assert set(warnings) == {"train", "validation", "test"} and warnings["test"]["parents"] == 1
    assert len(warnings["test"]["classes"]) == 1 and warnings["validation"]["classes"] == ["anemic", "healthy"]
    assert any("one class only" in text for text in warnings["test"]["warnings"])
    assert not any("one class only" in text for text in warnings["validation"]["warnings"])
    body = (built / "README.md").read_text().split("\n---\n", 1)[1]
    assert "**Warning: the test split** holds 1 parent image (fewer than 10)" in body
    assert "**Warning: the validation split** holds 2 parent images (fewer than 10)" in body
    assert "one class only" in body and "class indices (0 background, 1 cell)" in body


def test_card_of_a_users_own_folder_names_its_licence_other(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for cls in ("healthy", "anemic"):
        for kind in ("images", "masks"):
            (tmp_path / "own" / cls / kind).mkdir(parents=True)
        for k in range(3):
            cells = np.zeros((30, 40), np.uint8)
            for x, y in rng.integers(6, 24, (3, 2)):
                cv2.circle(cells, (int(x) + 8, int(y)), 4, 255, -1)
            image = np.where(cells[..., None] > 0, 120, 220).astype(np.uint8) + rng.integers(
                0, 6, (30, 40, 3), np.uint8
            )
            cv2.imwrite(str(tmp_path / "own" / cls / "images" / f"s{k}.png"), image)
            cv2.imwrite(str(tmp_path / "own" / cls / "masks" / f"s{k}.png"), cells)
    config = BuildConfig(configs=("model",), formats=("parquet",), split_ratios=(0.4, 0.3, 0.3), folds=0, workers=1)
    build(tmp_path / "own", out=tmp_path / "built", config=config, show_progress=False)
    header = read_readme_header(tmp_path / "built")
    assert header["license"] == "other" and header["license_name"] == "data-owner-licence"
    assert header["license_link"] == "README.md" and header["source_datasets"] == ["original"]
    assert header["annotations_creators"] == ["found", "machine-generated"]
    assert "State the owner's terms here" in (tmp_path / "built" / "README.md").read_text()
    assert yaml.safe_dump(header)  # plain YAML: the Hub reads it


# -------------------------------------------------------------------------------------------------- streaming


def test_streaming_with_two_workers_gives_each_sample_once(built: Path) -> None:
    expected = list(HDF5RBCDataset.from_build(built, config="model", split="train")._columns["sample_id"])
    loader = DataLoader(iter_streaming(built, config="model", split="train"), batch_size=5, num_workers=2)
    ids = [sid for batch in loader for sid in batch["sample_id"]]
    assert sorted(ids) == sorted(expected) and len(ids) == len(set(ids)) == 12  # one parent's 12 tiles
