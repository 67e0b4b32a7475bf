"""The Python API (rbc_dataset/api.py): keyword-only, typed results, nothing written unless an output is given."""

from __future__ import annotations

import collections
import json
import subprocess
import sys
import tempfile

import pandas as pd
import pytest

import rbc_dataset as rd
from rbc_dataset.errors import UsageError
from tests.helpers import PROJECT_ROOT, tree_hashes


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """Temporary folders of the API go here, so a test can see that none is left behind."""
    folder = tmp_path / "tmpdir"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_import_loads_no_heavy_library():
    code = (
        "import sys, rbc_dataset, annotation, benchmarks; "
        "print(sorted(m for m in ('torch', 'pandas', 'cv2', 'h5py', 'datasets') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_every_exported_name_resolves_even_after_every_submodule_is_imported():
    # A submodule of the same name as an export would replace it on the package once imported.
    import importlib
    import pkgutil

    import annotation
    import benchmarks

    for package in (rd, annotation, benchmarks):
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."):
            if info.name.rpartition(".")[2] in package.__all__:
                importlib.import_module(info.name)
    for module in (rd, annotation, benchmarks):
        for name in module.__all__:
            assert callable(getattr(module, name)), f"{module.__name__}.{name}"
            assert name in dir(module)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = rd.nothing


def test_findings_frame_puts_errors_first_and_keeps_the_report_codes():
    findings = [
        {
            "code": "b_info",
            "severity": "info",
            "path": "a.png",
            "expected": "",
            "found": "",
            "fix": "",
            "sample_id": "a",
        },
        {
            "code": "z_err",
            "severity": "error",
            "path": "b.png",
            "expected": "",
            "found": "",
            "fix": "",
            "sample_id": "b",
        },
        {
            "code": "a_warn",
            "severity": "warning",
            "path": None,
            "expected": "",
            "found": "",
            "fix": "",
            "sample_id": None,
        },
    ]
    frame = rd.findings_frame(findings)
    assert list(frame["code"]) == ["z_err", "a_warn", "b_info"]
    assert list(frame.columns)[:2] == ["severity", "code"]
    assert rd.findings_frame([]).empty


def test_ingest_without_out_writes_nothing(defective_root, tmp_path, monkeypatch, private_tmp):
    monkeypatch.chdir(tmp_path)
    before = tree_hashes(defective_root)
    manifest = rd.ingest(defective_root, workers=1)
    assert isinstance(manifest.rows, pd.DataFrame) and len(manifest.rows) == 52  # 4 images + 48 tiles
    assert manifest.layout == "anerbc" and manifest.path is None
    assert tree_hashes(defective_root) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmpdir"] and not any(private_tmp.iterdir())


def test_validate_findings_are_the_json_reports(defective_root, tmp_path, monkeypatch, private_tmp):
    monkeypatch.chdir(tmp_path)
    quiet = rd.validate_masks(defective_root, workers=1)
    assert quiet.report_path is None and not (tmp_path / "validate-masks.json").exists()
    assert not any(private_tmp.iterdir())
    written = rd.validate_masks(defective_root, report=tmp_path / "out" / "v.json", workers=1)
    document = json.loads((tmp_path / "out" / "v.json").read_text())
    codes = collections.Counter(f["code"] for f in document["findings"])
    assert collections.Counter(quiet.findings["code"]) == codes == collections.Counter(written.findings["code"])
    assert not quiet.ok and quiet.counts["error"] == codes.total() - sum(
        1 for f in document["findings"] if f["severity"] != "error"
    )
    assert set(quiet.worst(1)["severity"]) == {"error"}
    assert len(quiet.samples) == document["n_samples"]


def test_options_are_keywords_and_one_way_to_configure(defective_root):
    from rbc_dataset.validate.config import ValidateConfig

    with pytest.raises(TypeError):
        rd.validate_masks(defective_root, "report.json")
    with pytest.raises(UsageError, match="either config= or the options"):
        rd.validate_masks(defective_root, config=ValidateConfig(), workers=1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'not_an_option'"):
        rd.audit(defective_root, not_an_option=1)


def test_audit_without_out_dir_writes_nothing(synthetic_root, tmp_path, monkeypatch, private_tmp):
    monkeypatch.chdir(tmp_path)
    result = rd.audit(synthetic_root, workers=1)
    assert result.out_dir is None and result.summary
    assert set(rd.api.FINDING_COLUMNS) <= set(result.findings.columns)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmpdir"] and not any(private_tmp.iterdir())


def test_a_build_knows_its_card_splits_and_shards(synthetic_root, tmp_path):
    built = rd.build(
        synthetic_root, out=tmp_path / "built", configs=("model",), formats=("hdf5",), split_ratios=(0.4, 0.3, 0.3),
        folds=0, workers=1,
    )  # fmt: skip
    assert built.configs == ("model",) and built.card.class_names[:2] == ("healthy", "anemic")
    splits_of_parent = built.splits.groupby("parent_id")["split"].nunique()
    assert (splits_of_parent == 1).all() and len(splits_of_parent) == 4
    counts = built.counts.groupby("split")["samples"].sum()
    assert counts.sum() == 48  # 4 images x 12 model tiles
    assert rd.Build.open(built.path).card == built.card
    assert len(built.manifest) == 52
    assert built.verify().ok
    pytest.importorskip("torch")
    train = built.load(config="model", split="train")
    assert len(train) == counts["train"] and tuple(train[0]["image"].shape) == (3, 300, 300)
    with pytest.raises(UsageError, match="format 'zarr'"):
        built.load(format="zarr")


def test_opening_a_folder_that_is_not_a_build_names_the_file(tmp_path):
    from rbc_dataset.errors import DataError

    with pytest.raises(DataError, match="dataset.json"):
        rd.Build.open(tmp_path)


def test_run_benchmark_refuses_a_wrong_name_before_anything_loads(tmp_path):
    import benchmarks

    with pytest.raises(UsageError, match="nope"):
        benchmarks.run_benchmark("nope", tmp_path)
