"""verify catches every tampered part of a build: extra shards, edited splits, card body and audit, broken cards."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import dataset_app
from rbc_dataset.errors import DataError
from rbc_dataset.shards.config import BuildConfig
from rbc_dataset.shards.integrity import canonical_sha256
from rbc_dataset.shards.run import build
from rbc_dataset.shards.verify import verify

CONFIG = BuildConfig(configs=("model",), split_ratios=(0.4, 0.3, 0.3), folds=0, workers=1)


@pytest.fixture(scope="module")
def built(synthetic_root, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tamper") / "dataset"
    build(synthetic_root, out=out, config=CONFIG, show_progress=False)
    return out


@pytest.fixture(autouse=True)
def hf_cache(tmp_path, monkeypatch):
    """datasets may cache what it streams: under tmp_path, never in $HOME."""
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf_cache"))


@pytest.fixture
def copy(built, tmp_path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(built, target)
    return target


def _check(folder: Path):
    return verify(folder, deep=False, workers=1, show_progress=False)


def _messages(result) -> str:
    return "\n".join(f"{i.code} {i.message}" for i in result.issues)


def test_the_untouched_build_verifies_and_lists_every_file(built):
    card = json.loads((built / "dataset.json").read_text())
    assert {"README.md", "splits/splits.csv", "reports/audit.json", "manifest.parquet"} <= set(card["files"])
    assert card["integrity"]["sections"]["audit"] == canonical_sha256(card["audit"])
    result = _check(built)
    assert result.ok, _messages(result)


def test_an_unlisted_parquet_shard_is_flagged_and_the_streamed_rows_counted(copy):
    shard = next((copy / "data" / "model").glob("test-*.parquet"))
    shutil.copyfile(shard, shard.with_name("test-00001-of-00001.parquet"))  # load_dataset would read both
    result = _check(copy)
    found = _messages(result)
    assert not result.ok
    assert "verify_unlisted_file" in found and "test-00001-of-00001.parquet" in found
    assert "rows streamed from model/test" in found and "more than once" in found


def test_an_unlisted_hdf5_file_is_flagged(copy):
    shutil.copyfile(copy / "hdf5" / "model" / "test.h5", copy / "hdf5" / "model" / "test-copy.h5")
    found = _messages(_check(copy))
    assert "verify_unlisted_file" in found and "test-copy.h5" in found


def test_an_edited_splits_csv_fails(copy):
    path = copy / "splits" / "splits.csv"
    path.write_text(path.read_text().replace("test", "train"))
    result = _check(copy)
    assert not result.ok and "splits/splits.csv" in _messages(result)


def test_an_edited_card_body_fails(copy):
    path = copy / "README.md"
    path.write_text(path.read_text().replace("## Known issues", "## Known issues\n\n- none, trust us"))
    result = _check(copy)
    assert not result.ok and "README.md" in _messages(result) and "changed file" in _messages(result)


def test_an_edited_audit_summary_in_dataset_json_fails(copy):
    path = copy / "dataset.json"
    card = json.loads(path.read_text())
    card["audit"]["summary"]["issues"]["error"] = 0
    card["audit"]["summary"]["acquisition_shortcut"] = {"auc": 0.5, "status": "ok"}
    path.write_text(json.dumps(card, indent=4))  # re-indenting alone would not count as an edit
    result = _check(copy)
    assert not result.ok
    assert any(i.code == "verify_card_edited" and "audit" in i.found for i in result.issues), _messages(result)


def test_a_reformatted_card_still_verifies(copy):
    path = copy / "dataset.json"
    path.write_text(json.dumps(json.loads(path.read_text()), indent=4))
    assert _check(copy).ok


def test_a_card_without_its_checksums_fails(copy):
    path = copy / "dataset.json"
    card = json.loads(path.read_text())
    del card["integrity"]
    path.write_text(json.dumps(card))
    result = _check(copy)
    assert not result.ok and "integrity.sections" in _messages(result)


def test_a_non_utf8_card_is_a_clear_error(copy):
    (copy / "dataset.json").write_bytes((copy / "dataset.json").read_bytes() + b"\xff\xfe")
    with pytest.raises(DataError, match="not UTF-8"):
        _check(copy)
    for args in (
        ["verify", str(copy), "-q", "--quick", "--workers", "1"],
        ["show", str(copy), "--loader-workers", "0"],
    ):
        result = CliRunner().invoke(dataset_app, args)
        assert result.exit_code == 1 and "not UTF-8" in result.output and "Traceback" not in result.output


def test_a_card_with_a_mistyped_field_is_a_clear_error(copy):
    path = copy / "dataset.json"
    card = json.loads(path.read_text())
    card["configs"]["model"]["splits"] = ["train"]
    path.write_text(json.dumps(card))
    result = CliRunner().invoke(dataset_app, ["verify", str(copy), "-q", "--quick", "--workers", "1"])
    assert result.exit_code == 1 and "mistyped field" in result.output and "edited fields: configs" in result.output
    assert "Traceback" not in result.output


def test_a_broken_readme_yaml_is_a_finding_not_a_traceback(copy):
    path = copy / "README.md"
    path.write_text(path.read_text().replace("dataset_info:", "dataset_info: [unclosed", 1))
    result = CliRunner().invoke(dataset_app, ["verify", str(copy), "-q", "--quick", "--workers", "1"])
    assert result.exit_code == 1 and "invalid YAML" in result.output and "Traceback" not in result.output


def test_a_non_utf8_readme_is_a_finding(copy):
    (copy / "README.md").write_bytes(b"---\n\xff\n---\n")
    result = _check(copy)
    assert not result.ok and "not UTF-8" in _messages(result)
