"""Ingest does not parse a report over the size cap (issue 11 §5): a finding "report_too_large" instead."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from rbc_dataset.ingestion import ingest
from rbc_dataset.manifest import read_manifest
from rbc_dataset.reports import REPORT_MAX_BYTES
from tests.helpers import tree_hashes

REPORTS = "AneRBC_dataset/AneRBC-I/{}_individuals/CBC_reports/{}.txt"


def test_huge_and_absurd_cbc_reports(synthetic_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    shutil.copytree(synthetic_root / "AneRBC_dataset/AneRBC-I", root / "AneRBC_dataset/AneRBC-I")
    huge = root / REPORTS.format("Healthy", "001_h")
    line = "HGB,13.1 g/dL,12 --- 15\n"
    huge.write_text("Test,Result/Units,Norm. Range\n" + line * (3 * REPORT_MAX_BYTES // len(line)))
    absurd = root / REPORTS.format("Anemic", "001_a")
    hgb = ("HGB,", "Hemoglobin,")  # the generator writes either name, as the release does
    rows = [("HGB,1e308 g/dL,12 --- 15" if r.startswith(hgb) else r) for r in absurd.read_text().splitlines()]
    absurd.write_text("\n".join(rows) + "\n")
    before = tree_hashes(root)
    result = ingest(root, out=tmp_path / "m.parquet", workers=1, show_progress=False)
    df = read_manifest(result.manifest_path).set_index("sample_id")
    issue = next(i for i in result.issues if i.code == "report_too_large")
    assert issue.severity == "warning" and issue.sample_id == "anerbc1_h_001" and "3,000,0" in issue.found
    assert list(df.loc["anerbc1_h_001", "cbc_problems"]) == ["too_large"] and pd.isna(
        df.loc["anerbc1_h_001", "cbc_raw"]
    )
    assert pd.isna(df.loc["anerbc1_a_001", "cbc_HGB"]) and "absurd:HGB" in list(df.loc["anerbc1_a_001", "cbc_problems"])
    assert df.loc["anerbc1_a_002", "cbc_HGB"] > 0  # the others parse as before
    assert tree_hashes(root) == before
