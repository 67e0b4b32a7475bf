"""Build of the real AneRBC-I sample: tiles, splits by parent, both formats, verify (skips without it)."""

from __future__ import annotations

import json

import h5py
import pytest

from rbc_dataset.shards.config import BuildConfig
from rbc_dataset.shards.run import build
from rbc_dataset.shards.verify import verify
from tests.helpers import REALDATA, tree_hashes

pytestmark = pytest.mark.realdata


def test_real_anerbc1_builds_tiles_splits_by_parent_and_verifies(tmp_path):
    source = REALDATA / "AneRBC-I"
    before = tree_hashes(source)
    out = tmp_path / "real"
    # Eight images: three folds is the most a stratum of four can hold; the error for five says so.
    build(source, out=out, config=BuildConfig(folds=3, allow_invalid=True, workers=2), show_progress=False)
    assert tree_hashes(source) == before
    card = json.loads((out / "dataset.json").read_text())
    assert set(card["configs"]) == {"full", "tiles", "model"}
    full = card["configs"]["full"]["splits"]
    assert sum(e["num_examples"] for e in full.values()) == 8 and all(e["num_examples"] for e in full.values())
    parents_by_split = {}
    for split in full:
        with h5py.File(out / "hdf5" / "tiles" / f"{split}.h5", "r") as handle:
            parents = {p.decode() for p in handle["parent_id"][:]}
            assert handle["image"].shape[1:] == (320, 306, 3) and handle["mask"][:].max() == 1
        parents_by_split[split] = parents
    everything = [p for parents in parents_by_split.values() for p in parents]
    assert len(everything) == len(set(everything)) == 8
    assert "mask_encodes_label" in card["audit"]["by_code"]  # the release's raw masks leak the class
    assert verify(out, workers=2, show_progress=False).ok
