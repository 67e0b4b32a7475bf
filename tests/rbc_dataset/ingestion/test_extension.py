"""File formats are sniffed from bytes; a name that lies about the format is reported."""

from __future__ import annotations

import shutil
from pathlib import Path

from rbc_dataset.ingestion import ingest


def test_png_named_jpg_is_reported(synthetic_root: Path, tmp_path: Path) -> None:
    top = tmp_path / "own" / "healthy"
    top.mkdir(parents=True)
    src = synthetic_root / "AneRBC_dataset/AneRBC-I/Healthy_individuals/Original_images"
    shutil.copyfile(src / "001_h.png", top / "a.jpg")
    shutil.copyfile(src / "002_h.png", top / "b.png")
    result = ingest(tmp_path / "own", out=tmp_path / "m.parquet", show_progress=False)
    issues = [i for i in result.issues if i.code == "extension_mismatch"]
    assert [(i.path, i.sample_id) for i in issues] == [("healthy/a.jpg", "folder_healthy_a")]
    assert "PNG bytes" in issues[0].found
