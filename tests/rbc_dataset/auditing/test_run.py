"""The audit's outputs and guarantees: JSON + Markdown, inputs untouched, outputs never inside the input."""

from __future__ import annotations

import json
import math

import pytest

from rbc_dataset.auditing import AuditConfig, audit
from rbc_dataset.errors import UsageError
from rbc_dataset.ingestion import ingest
from tests.helpers import tree_hashes


def _no_nan(text: str):
    return json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in audit.json"))


def test_outputs_hold_every_finding_and_table(planted_audit):
    report = _no_nan(planted_audit.report_path.read_text())
    assert report["schema_version"] == 1
    assert report["config"]["hamming_radius"] == 6 and report["config"]["hb_source"] == "who2011_women"
    assert [i["code"] for i in report["issues"]] == [i.code for i in planted_audit.issues]
    assert all(i["message"] for i in report["issues"])
    tables = report["tables"]
    for key in ("duplicate_clusters", "probes", "cbc_shared", "cbc_implausible", "hb_disagreements", "features"):
        assert key in tables
    features = tables["features"]
    assert len(features["rows"]) == planted_audit.summary["n_samples"] == 22
    assert "mask_cell_red_median" in features["columns"] and "bg_blue_minus_green" in features["columns"]
    assert report["summary"] == json.loads(json.dumps(report["summary"]))
    markdown = planted_audit.markdown_path.read_text()
    for heading in ("# Dataset audit", "## Exact and near-duplicate images", "## CBC reports", "### Hb band vs label"):
        assert heading in markdown
    assert "dup_0001" in markdown and "cbc_0001" in markdown
    assert planted_audit.has_errors


def test_manifest_source_with_a_worker_pool_leaves_inputs_untouched(synthetic_root, tmp_path):
    manifest = ingest(synthetic_root, out=tmp_path / "manifest.parquet", workers=1, show_progress=False).manifest_path
    before = tree_hashes(synthetic_root), manifest.read_bytes()
    result = audit(manifest, out_dir=tmp_path / "out", config=AuditConfig(workers=2), show_progress=False)
    assert (tree_hashes(synthetic_root), manifest.read_bytes()) == before
    assert result.summary["n_samples"] == 52 and result.summary["features_unavailable"] == 0
    assert json.loads(result.report_path.read_text())["source_kind"] == "manifest"


@pytest.mark.parametrize("inside", ["out", "AneRBC_dataset/out"])
def test_output_inside_the_input_is_refused(synthetic_root, inside):
    before = tree_hashes(synthetic_root)
    with pytest.raises(UsageError, match="inside the input"):
        audit(synthetic_root, out_dir=synthetic_root / inside, config=AuditConfig(workers=1), show_progress=False)
    assert tree_hashes(synthetic_root) == before


def test_output_inside_a_manifests_data_is_refused(synthetic_root, tmp_path):
    manifest = ingest(synthetic_root, out=tmp_path / "manifest.parquet", workers=1, show_progress=False).manifest_path
    with pytest.raises(UsageError, match="inside the input"):
        audit(manifest, out_dir=synthetic_root / "audit", config=AuditConfig(workers=1), show_progress=False)


def test_unreadable_image_gets_nan_features_not_a_crash(clean_root, tmp_path):
    import shutil

    root = tmp_path / "data"
    shutil.copytree(clean_root / "AneRBC_dataset", root / "AneRBC_dataset")
    image = root / "AneRBC_dataset/AneRBC-I/Healthy_individuals/Original_images/002_h.png"
    image.write_bytes(image.read_bytes()[:2000])  # a cut-off download
    result = audit(root, out_dir=tmp_path / "out", config=AuditConfig(workers=1), show_progress=False)
    (issue,) = [i for i in result.issues if i.code == "features_unavailable"]
    assert "anerbc1_h_002" in issue.found
    assert result.summary["acquisition_shortcut"]["n"] == 19  # left out of the image probe
    assert result.summary["mask_encodes_label"]["n"] == 20  # its mask alone still has mask features
    report = _no_nan(result.report_path.read_text())
    features = report["tables"]["features"]
    row = next(r for r in features["rows"] if r[0] == "anerbc1_h_002")
    assert row[features["columns"].index("bg_red")] is None
    assert not math.isnan(result.summary["acquisition_shortcut"]["auc"])


def test_bad_thresholds_are_usage_errors():
    with pytest.raises(UsageError):
        AuditConfig(probe_auc_warning=0.8, probe_auc_error=0.7)
    with pytest.raises(UsageError):
        AuditConfig(hamming_radius=65)
