"""rbc-dataset build end to end on a small synthetic AneRBC set: shards, cards, splits, determinism, verify."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from cli import dataset_app
from rbc_dataset.errors import DataError, UsageError
from rbc_dataset.fileio import read_image
from rbc_dataset.layout import role_folder
from rbc_dataset.shards.config import BuildConfig
from rbc_dataset.shards.run import build
from rbc_dataset.shards.tiling import TileGrid, cut_tiles
from rbc_dataset.shards.verify import verify
from rbc_dataset.synth.config import SynthConfig
from rbc_dataset.synth.generate import synthesize
from tests.helpers import squeezed, tree_hashes

CONFIG = BuildConfig(split_ratios=(0.6, 0.2, 0.2), folds=2, workers=2)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """5 anaemic + 5 healthy parents with their tiles; a third of the CBC reports are copies (split groups)."""
    out = tmp_path_factory.mktemp("build_source") / "data"
    synthesize(SynthConfig(n_images=5, seed=21, cbc_reuse=0.3, workers=2), out, show_progress=False)
    return out


@pytest.fixture(scope="module")
def built(source, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("build") / "dataset"
    before = tree_hashes(source)
    build(source, out=out, config=CONFIG, show_progress=False)
    assert tree_hashes(source) == before  # the input is only read
    return out


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    """datasets caches Arrow files; keep them under tmp_path, never in $HOME."""
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf_cache"))
    return tmp_path / "hf_cache"


def _card(folder: Path) -> dict:
    return json.loads((folder / "dataset.json").read_text())


def _h5_column(folder: Path, config: str, split: str, name: str) -> list:
    with h5py.File(folder / "hdf5" / config / f"{split}.h5", "r") as handle:
        return [v.decode() if isinstance(v, bytes) else v for v in handle[name][:]]


def test_build_writes_every_config_split_and_format(built):
    card = _card(built)
    assert set(card["configs"]) == {"full", "tiles", "model"}
    for name, size in (("full", [1224, 960]), ("tiles", [306, 320]), ("model", [300, 300])):
        assert card["configs"][name]["size"] == size
    full = {s: e["num_examples"] for s, e in card["configs"]["full"]["splits"].items()}
    tiles = {s: e["num_examples"] for s, e in card["configs"]["tiles"]["splits"].items()}
    assert sum(full.values()) == 10 and {s: 12 * n for s, n in full.items()} == tiles
    for entry in card["configs"]["tiles"]["splits"].values():
        assert entry["hdf5"]["content_sha256"] == entry["content_sha256"]
        assert all(Path(built / shard["path"]).is_file() for shard in entry["parquet"])
    assert (built / "splits" / "split_report.md").is_file() and (built / "reports" / "audit.json").is_file()
    assert verify(built, workers=2, show_progress=False).ok


def test_no_parent_or_split_group_crosses_splits(built):
    splits = pd.read_csv(built / "splits" / "splits.csv")
    assert (splits.groupby("group_id")["split"].nunique() == 1).all()
    assert splits["group_id"].nunique() < len(splits)  # the copied CBC reports joined some parents
    for config in ("full", "tiles", "model"):
        seen = {}
        for split in ("train", "validation", "test"):
            for parent in _h5_column(built, config, split, "parent_id"):
                assert seen.setdefault(parent, split) == split
        table = pq.read_table(next((built / "data" / config).glob("test-*.parquet")), columns=["parent_id"])
        assert set(table["parent_id"].to_pylist()) == {p for p, s in seen.items() if s == "test"}


def test_masks_are_canonical_and_tiles_match_the_release(built, source):
    with h5py.File(built / "hdf5" / "full" / "train.h5", "r") as full:
        mask, parent = full["mask"][0], full["sample_id"][0].decode()
    assert set(np.unique(mask)) <= {0, 1} and 0.1 < mask.mean() < 0.7
    ids = _h5_column(built, "tiles", "train", "sample_id")
    with h5py.File(built / "hdf5" / "tiles" / "train.h5", "r") as tiles:
        for k, (box, expected) in enumerate(cut_tiles(mask, grid=TileGrid())):
            position = ids.index(f"anerbc2_{parent[8]}_{int(parent[-3:]):04d}_{box.index:02d}")
            assert np.array_equal(tiles["mask"][position], expected)
            if k == 4:
                cls = "anemic" if parent[8] == "a" else "healthy"
                release = (
                    role_folder(source, "II", cls=cls, role="image") / f"{int(parent[-3:]):04d}_05_{parent[8]}.png"
                )
                assert np.array_equal(tiles["image"][position], read_image(release))


def test_card_declares_configs_features_and_splits(built):
    readme = (built / "README.md").read_text()
    header = yaml.safe_load(readme.split("---\n")[1])
    assert {c["config_name"] for c in header["configs"]} == {"full", "tiles", "model"}
    assert [c for c in header["configs"] if c.get("default")][0]["config_name"] == "tiles"
    info = {i["config_name"]: i for i in header["dataset_info"]}
    names = {f["name"]: f["dtype"] for f in info["tiles"]["features"]}
    assert names["image"] == names["mask"] == "image"
    assert names["label"]["class_label"]["names"] == {"0": "healthy", "1": "anemic"}
    assert names["severity"]["class_label"]["names"] == {"0": "mild", "1": "chronic"}
    for text in ("## Provenance", "## Splits", "## Known issues", "## Licence and citation", "10.1093/database"):
        assert text in readme


def test_load_dataset_gives_the_declared_features(built, hf_cache):
    from datasets import load_dataset

    default = load_dataset(str(built))
    assert default["train"].num_rows == _card(built)["configs"]["tiles"]["splits"]["train"]["num_examples"]
    model = load_dataset(str(built), "model", split="test")
    row = model[0]
    assert row["image"].size == (300, 300) and set(np.unique(np.asarray(row["mask"]))) <= {0, 1}  # class indices
    assert model.features["label"].names == ["healthy", "anemic"]
    stream = load_dataset(str(built), "full", split="validation", streaming=True)
    first = next(iter(stream))
    assert first["image"].size == (1224, 960) and first["fold"] in (0, 1)
    assert hf_cache.exists() or True  # whatever datasets cached went under tmp_path


def test_same_input_and_config_give_the_same_contents(built, source, tmp_path):
    again = tmp_path / "again"
    build(source, out=again, config=BuildConfig(split_ratios=(0.6, 0.2, 0.2), folds=2, workers=1), show_progress=False)
    first, second = _card(built), _card(again)
    for name, config in first["configs"].items():
        for split, entry in config["splits"].items():
            other = second["configs"][name]["splits"][split]
            assert entry["content_sha256"] == other["content_sha256"]
            assert [s["sha256"] for s in entry["parquet"]] == [s["sha256"] for s in other["parquet"]]
    assert (built / "splits" / "splits.csv").read_bytes() == (again / "splits" / "splits.csv").read_bytes()


def _copy(built: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(built, target)
    return target


def test_verify_catches_a_corrupted_hdf5_chunk(built, tmp_path):
    copy = _copy(built, tmp_path)
    path = copy / "hdf5" / "tiles" / "train.h5"
    with h5py.File(path, "r") as handle:
        offset = handle["image"].id.get_chunk_info(3).byte_offset
    data = bytearray(path.read_bytes())
    data[offset + 500 : offset + 508] = bytes(8)
    path.write_bytes(bytes(data))
    result = verify(copy, workers=1, show_progress=False)
    assert not result.ok
    assert any("tiles/train.h5" in (i.path or "") for i in result.issues)


def test_verify_catches_a_truncated_parquet_shard_and_a_wrong_card(built, tmp_path):
    copy = _copy(built, tmp_path)
    shard = next((copy / "data" / "model").glob("validation-*.parquet"))
    shard.write_bytes(shard.read_bytes()[:-100])
    readme = copy / "README.md"
    bumped = re.sub(r"num_examples: (\d+)", lambda m: f"num_examples: {int(m[1]) + 1}", readme.read_text(), count=1)
    readme.write_text(bumped)
    result = verify(copy, deep=False, workers=1, show_progress=False)
    assert not result.ok
    found = " ".join(i.message for i in result.issues)
    assert "validation-00000-of-00001.parquet" in found and "README.md" in found


def test_existing_output_and_output_inside_input_are_refused(built, source):
    with pytest.raises(UsageError, match="--overwrite"):
        build(source, out=built, config=CONFIG, show_progress=False)
    with pytest.raises(UsageError, match="inside the input"):
        build(source, out=source / "built", config=CONFIG, show_progress=False)


def test_validation_errors_stop_the_build_unless_allowed(defective_root, tmp_path):
    out = tmp_path / "dataset"
    config = BuildConfig(split_ratios=(0.34, 0.33, 0.33), folds=0, workers=2, audit=False)
    with pytest.raises(DataError, match="--allow-invalid"):
        build(defective_root, out=out, config=config, show_progress=False)
    assert not out.exists() and (tmp_path / "dataset.validation" / "validate-masks.json").is_file()
    allowed = BuildConfig(split_ratios=(0.34, 0.33, 0.33), folds=0, workers=2, audit=False, allow_invalid=True)
    build(defective_root, out=out, config=allowed, show_progress=False)
    card = _card(out)
    assert card["validation"]["allowed_invalid"] and card["validation"]["counts"]["error"] > 0
    assert "Built with --allow-invalid" in (out / "README.md").read_text()
    assert verify(out, workers=1, show_progress=False).ok


def test_a_full_disk_is_a_clear_error_and_leaves_nothing(source, tmp_path, monkeypatch):
    from rbc_dataset.shards import hdf5_shards

    def full_disk(self, sample):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(hdf5_shards.HDF5ShardWriter, "add", full_disk)
    config = BuildConfig(split_ratios=(0.6, 0.2, 0.2), folds=0, workers=1, audit=False, configs=("model",))
    with pytest.raises(DataError, match="full disk"):
        build(source, out=tmp_path / "dataset", config=config, show_progress=False)
    assert list(tmp_path.iterdir()) == []


_KILL_SCRIPT = """
import sys
from pathlib import Path
from rbc_dataset.shards.config import BuildConfig
from rbc_dataset.shards.run import build
if __name__ == "__main__":
    config = BuildConfig(split_ratios=(0.6, 0.2, 0.2), folds=0, workers=1, audit=False)
    build(Path(sys.argv[1]), out=Path(sys.argv[2]), config=config, overwrite=True, show_progress=False)
"""


def test_a_killed_build_leaves_the_previous_complete_build(built, source, tmp_path):
    out = _copy(built, tmp_path)
    before = (out / "dataset.json").read_bytes()
    script = tmp_path / "kill_build.py"
    script.write_text(_KILL_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    process = subprocess.Popen([sys.executable, str(script), str(source), str(out)], env=env)
    deadline = time.monotonic() + 120
    while not any(tmp_path.glob(".copy.partial-*/hdf5/*/*.h5")) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert (out / "dataset.json").read_bytes() == before
    assert verify(out, deep=False, workers=1, show_progress=False).ok
    partial = list(tmp_path.glob(".copy.partial-*"))
    assert partial and not (partial[0] / "dataset.json").exists()  # hidden, and never looks complete


def test_imported_splits_are_used_as_given(built, source, tmp_path):
    splits = pd.read_csv(built / "splits" / "splits.csv")
    given = splits.rename(columns={"parent_id": "sample_id"})[["sample_id", "split"]]
    given["split"] = given["split"].replace({"validation": "val"})
    path = tmp_path / "official.csv"
    given.to_csv(path, index=False)
    out = tmp_path / "dataset"
    build(source, out=out, config=CONFIG, splits=path, show_progress=False)
    rebuilt = pd.read_csv(out / "splits" / "splits.csv")
    assert rebuilt["split"].tolist() == splits["split"].tolist()
    assert _card(out)["splits"]["method"] == "imported from official.csv"  # its name only: the card is published


def test_cli_build_verify_and_bad_config(source, tmp_path):
    runner = CliRunner()
    out = tmp_path / "dataset"
    args = ["build", str(source), "--out", str(out), "--data-configs", "model", "--formats", "hdf5", "--folds", "0"]
    args.append("-q")
    result = runner.invoke(dataset_app, args + ["--no-audit", "--split-ratios", "0.6,0.2,0.2"])
    assert result.exit_code == 0, result.output
    assert list(_card(out)["configs"]) == ["model"] and not (out / "data").exists()
    assert runner.invoke(dataset_app, ["verify", str(out), "-q"]).exit_code == 0
    bad = runner.invoke(dataset_app, ["build", str(source), "--out", str(tmp_path / "x"), "--data-configs", "thumbs"])
    assert bad.exit_code == 2 and "full, tiles, model" in bad.output
    missing = runner.invoke(dataset_app, ["verify", str(tmp_path)])
    assert missing.exit_code == 1 and "dataset.json" in missing.output


def test_cli_show_loads_both_formats_back(built):
    result = CliRunner().invoke(dataset_app, ["show", str(built), "--data-config", "model", "--loader-workers", "0"])
    assert result.exit_code == 0, result.output
    assert "HDF5RBCDataset" in result.output and "True" in result.output and "False" not in result.output
    unknown = CliRunner().invoke(dataset_app, ["show", str(built), "--data-config", "thumbs"])
    assert unknown.exit_code == 2 and squeezed("'thumbs' is not one of 'full', 'tiles', 'model'") in squeezed(
        unknown.output
    )


def test_model_config_alone_still_holds_the_resized_grid_tiles(source, built, tmp_path):
    out = tmp_path / "model_only"
    build(source, out=out, config=replace(CONFIG, configs=("model",), formats=("hdf5",)), show_progress=False)
    alone, together = (_card(folder)["configs"]["model"]["splits"] for folder in (out, built))
    assert {s: e["classes"] for s, e in alone.items()} == {s: e["classes"] for s, e in together.items()}
