"""dataset.json has one typed card: what build writes reads back equal, every reader goes through ``read_card``,
and a card that is not what the build writes is one clear error naming the file, the field and the fix."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from rbc_dataset import dataset_card
from rbc_dataset.dataset_card import ShardFile, SplitEntry, read_card, write_card
from rbc_dataset.errors import DataError
from rbc_dataset.shards.config import BuildConfig
from rbc_dataset.shards.run import build

REPO = Path(__file__).resolve().parents[2]
CONFIG = BuildConfig(configs=("full",), split_ratios=(0.4, 0.3, 0.3), folds=0, workers=1)


@pytest.fixture(scope="module")
def built(synthetic_root, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("card") / "dataset"
    build(synthetic_root, out=out, config=CONFIG, show_progress=False)
    return out


def _edited_copy(built: Path, tmp_path: Path, edit) -> Path:
    """A folder holding the build's dataset.json changed by ``edit(document)``."""
    folder = tmp_path / "edited"
    folder.mkdir()
    document = json.loads((built / "dataset.json").read_text())
    edit(document)
    (folder / "dataset.json").write_text(json.dumps(document))
    return folder


def _refusal(folder: Path) -> str:
    with pytest.raises(DataError) as caught:
        read_card(folder)
    message = str(caught.value)
    assert str(folder / "dataset.json") in message and "Fix:" in message
    return message


def test_the_built_card_is_typed_and_gives_back_the_file_exactly(built):
    card = read_card(built)
    split = card.configs["full"].splits["train"]
    assert isinstance(split, SplitEntry) and isinstance(split.hdf5, ShardFile) and split.parquet
    assert card.schema_version == dataset_card.SCHEMA_VERSION and card.format_version == dataset_card.FORMAT_VERSION
    assert card.default_config == "full" and card.audit is not None and card.integrity is not None
    assert card.to_dict() == json.loads((built / "dataset.json").read_text())
    assert card.edited_fields() == ([], None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        card.has_masks = False


def test_write_then_read_gives_an_equal_card(built, tmp_path):
    card = read_card(built)
    written = write_card(tmp_path, card)
    assert read_card(tmp_path) == written
    text = json.dumps(written.to_dict(), indent=1, sort_keys=True) + "\n"
    assert (tmp_path / "dataset.json").read_text() == text
    # The folder holds no other file: only `files` and the seal over it differ from the build's card.
    assert written.files == {} and dataclasses.replace(written, files=card.files, integrity=card.integrity) == card


def test_a_mistyped_field_is_one_clear_error(built, tmp_path):
    def edit(document):
        document["configs"]["full"]["splits"]["train"]["num_examples"] = "3"

    message = _refusal(_edited_copy(built, tmp_path, edit))
    assert 'configs.full.splits.train.num_examples (input should be a valid integer, found "3")' in message
    assert "edited fields: configs" in message and "rebuild" in message


def test_a_missing_or_unknown_field_is_named(built, tmp_path):
    def edit(document):
        del document["class_names"]
        document["configs"]["full"]["splits"]["train"]["hdf5"]["note"] = "added"

    message = _refusal(_edited_copy(built, tmp_path, edit))
    assert "class_names (missing)" in message
    assert "configs.full.splits.train.hdf5.note (a field the card does not define)" in message


def test_a_format_1_build_is_refused_with_rebuild(built, tmp_path):
    message = _refusal(_edited_copy(built, tmp_path, lambda document: document.update(format_version=1)))
    assert "expected format_version 2" in message and "found format_version 1" in message
    assert "rebuild with rbc-dataset build --overwrite (format 1 stored Parquet masks as 0/255)" in message


def test_a_newer_card_asks_for_the_version_that_wrote_it(built, tmp_path):
    message = _refusal(_edited_copy(built, tmp_path, lambda document: document.update(schema_version=99)))
    assert "found schema_version 99" in message and "install the rbc-dataset version that wrote it" in message


class Sentinel(Exception):
    """Raised by the patched reader: a caller that reaches it read the card through ``read_card``."""


def test_verify_show_and_rbc_bench_read_the_card_through_read_card(built, monkeypatch):
    from benchmarks.suite.request import RunRequest, run_config
    from benchmarks.training.presets import get_preset
    from rbc_dataset.loaders.check import load_back
    from rbc_dataset.shards.verify import verify

    def parse(*args):
        raise Sentinel

    monkeypatch.setattr(dataset_card, "_parse", parse)
    callers = {
        "verify": lambda: verify(built, deep=False, workers=1, show_progress=False),
        "show": lambda: load_back(built, workers=0),
        "rbc-bench run": lambda: run_config(RunRequest("3tier", built, get_preset("cpu-smoke"), config="full")),
    }
    for call in callers.values():
        with pytest.raises(Sentinel):
            call()


def test_no_module_but_dataset_card_parses_dataset_json():
    """A second reader would bring back its own errors: only rbc_dataset/dataset_card.py reads the file."""
    reading = re.compile(r"dataset\.json.*(read_text|read_bytes|json\.load|open\()|def read_(dataset_json|card)\b")
    offenders = []
    for package in ("rbc_dataset", "benchmarks", "annotation"):
        for path in sorted((REPO / package).rglob("*.py")):
            if path.name == "dataset_card.py":
                continue
            offenders += [f"{path.relative_to(REPO)}: {line.strip()}" for line in path.read_text().splitlines()
                          if reading.search(line)]  # fmt: skip
    assert offenders == []
