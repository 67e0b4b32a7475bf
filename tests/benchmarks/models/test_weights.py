"""The shared state-dict loader, on a tiny network (the CNN, 3-tier and U-Net tests cover it through their
factories)."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torch import nn

from benchmarks.models.weights import load_state_dict_file, with_metadata
from rbc_dataset.errors import DataError


def _tiny() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))


def test_a_matching_file_loads_strictly(tmp_path):
    source = _tiny()
    nn.init.constant_(source[0].weight, 0.5)
    path = tmp_path / "tiny.pth"
    torch.save(source.state_dict(), path)
    target = _tiny()
    load_state_dict_file(target, path, fix="save the tiny model")
    assert torch.equal(target[0].weight, source[0].weight)


def test_an_old_file_without_batch_counters_loads(tmp_path):
    state = {key: value for key, value in _tiny().state_dict().items() if not key.endswith("num_batches_tracked")}
    path = tmp_path / "old.pth"
    torch.save(state, path)
    load_state_dict_file(_tiny(), path, fix="save the tiny model")


def test_renamed_keys_are_mapped_before_the_comparison(tmp_path):
    state = {f"old.{key}": value for key, value in _tiny().state_dict().items()}
    path = tmp_path / "legacy.pth"
    torch.save(state, path)
    with pytest.raises(DataError, match="legacy.pth.*missing keys.*Fix: rename them"):
        load_state_dict_file(_tiny(), path, fix="rename them")

    def strip_old(loaded):
        return with_metadata(OrderedDict((key.removeprefix("old."), value) for key, value in loaded.items()), loaded)

    load_state_dict_file(_tiny(), path, fix="rename them", rename_keys=strip_old)


def test_with_metadata_keeps_the_module_versions():
    saved = _tiny().state_dict()
    copied = with_metadata(OrderedDict(saved), saved)
    assert copied._metadata == saved._metadata
    assert not hasattr(with_metadata(OrderedDict(), {}), "_metadata")
