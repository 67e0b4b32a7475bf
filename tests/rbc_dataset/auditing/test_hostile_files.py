"""audit on hostile files: a decompression bomb, a zero-byte mask and a link out of the dataset are reported by
name (features_unavailable) without being decoded or read; names that are HTML are escaped in audit.md."""

from __future__ import annotations

import json
import os
import shutil

from typer.testing import CliRunner

from cli import dataset_app
from rbc_dataset.auditing.report import render_markdown
from tests.helpers.audit import role_path
from tests.helpers.hostile_images import HTML_NAMES, forbid_decoding, outside_output, png_bomb

runner = CliRunner()
SECRET = "TOP-SECRET-CONTENT"


def test_refused_files_are_reported_by_name_never_decoded(clean_root, tmp_path, monkeypatch):
    root = tmp_path / "data"
    shutil.copytree(clean_root / "AneRBC_dataset", root / "AneRBC_dataset")
    role_path(root, "image", "002_h").write_bytes(png_bomb())
    role_path(root, "mask", "003_h").write_bytes(b"")
    (tmp_path / "secret.png").write_text(SECRET)
    role_path(root, "mask", "004_h").unlink()
    os.symlink(tmp_path / "secret.png", role_path(root, "mask", "004_h"))
    forbid_decoding(monkeypatch, png_bomb())
    before = outside_output(tmp_path)
    out = tmp_path / "out"
    result = runner.invoke(dataset_app, ["audit", str(root), "--out", str(out), "--workers", "1", "-q"])
    assert result.exit_code in (0, 1) and "Traceback" not in result.output, result.output
    assert outside_output(tmp_path) == before
    report = json.loads((out / "audit.json").read_text())
    (issue,) = [i for i in report["issues"] if i["code"] == "features_unavailable"]
    assert "anerbc1_h_002" in issue["found"] and "30000x30000" in issue["found"] and "002_h.png" in issue["found"]
    errors = {row["sample_id"]: row["error"] for row in report["tables"]["features_unavailable"]}
    assert "empty" in errors["anerbc1_h_003"] and "003_h.png" in errors["anerbc1_h_003"]
    assert "symbolic link" in errors["anerbc1_h_004"]
    for name in ("audit.json", "audit.md"):
        assert SECRET not in (out / name).read_text()
    assert str(tmp_path) not in (out / "audit.md").read_text()  # audit.md travels inside builds: no local path


def test_names_from_the_data_are_escaped_in_audit_md(clean_audit):
    report = json.loads(clean_audit.report_path.read_text())
    bad = HTML_NAMES[0]
    report["summary"]["classes"] = {bad: 3, **report["summary"]["classes"]}
    report["tables"]["features_unavailable"] = [
        {"sample_id": name, "error": f"image refused ({name})"} for name in HTML_NAMES
    ]
    report["tables"]["duplicate_clusters"] = [
        {
            "cluster_id": 0,
            "severity": "error",
            "kind": "exact",
            "n_members": 2,
            "classes": [bad],
            "sample_ids": list(HTML_NAMES),
        }
    ]
    report["source"] = f"/data/{HTML_NAMES[1]}"
    text = render_markdown(report)
    assert "<script" not in text and "<img" not in text and "<iframe" not in text
    assert text.count("&lt;script&gt;") >= 3 and "/data/" not in text
