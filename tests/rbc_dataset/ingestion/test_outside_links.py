"""ingest never reads a file reached through a symbolic link out of the dataset root: the link is named in an
issue, and neither its content, its hash nor its size reaches the manifest or the report."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pandas as pd

from rbc_dataset.ingestion import ingest
from rbc_dataset.layout import role_folder
from rbc_dataset.manifest import read_manifest
from tests.helpers.hostile_images import outside_output

SECRET = b"TOP-SECRET-CONTENT\n"


def test_a_link_out_of_the_root_is_named_never_read(synthetic_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    shutil.copytree(synthetic_root / "AneRBC_dataset/AneRBC-I", root / "AneRBC_dataset/AneRBC-I")
    (tmp_path / "secret.png").write_bytes(SECRET)
    mask = role_folder(root, "I", cls="anemic", role="mask") / "001_a.png"
    mask.unlink()
    os.symlink(tmp_path / "secret.png", mask)
    inside = role_folder(root, "I", cls="healthy", role="mask") / "001_h.png"  # a link within the root is followed
    inside.rename(root / "kept.png")
    os.symlink(root / "kept.png", inside)
    before = outside_output(tmp_path)
    result = ingest(root, out=tmp_path / "out" / "m.parquet", show_progress=False)
    assert outside_output(tmp_path) == before
    (issue,) = [i for i in result.issues if i.path and i.path.endswith("Binary_segmented/001_a.png")]
    assert issue.severity == "error" and "symbolic link to a file outside the dataset folder" in issue.found
    rows = read_manifest(result.manifest_path).set_index("sample_id")
    assert pd.isna(rows.loc["anerbc1_a_001", "mask_sha256"])
    assert rows.loc["anerbc1_h_001", "mask_sha256"] == hashlib.sha256((root / "kept.png").read_bytes()).hexdigest()
    for path in (tmp_path / "out").iterdir():
        data = path.read_bytes()
        assert SECRET.strip() not in data and hashlib.sha256(SECRET).hexdigest().encode() not in data
