"""build on hostile files: a zero-byte image stops the build with a clear message (or is left out with
--allow-invalid), a decompression bomb is never decoded, and the card holds neither raw HTML nor the builder's
local paths."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import dataset_app
from rbc_dataset.dataset_card import (
    AuditInfo,
    ConfigEntry,
    DatasetCard,
    FindingCount,
    SourceInfo,
    SplitEntry,
    TileGridInfo,
    ValidationInfo,
)
from rbc_dataset.layout import role_folder
from rbc_dataset.shards.card import _count_table, _known_issues
from rbc_dataset.shards.splits import render_split_report
from tests.helpers.hostile_images import FILE_SAFE_HTML, HTML_NAMES, forbid_decoding, outside_output, png_bomb

runner = CliRunner()
ARGS = ["--data-configs", "full", "--formats", "parquet", "--folds", "0", "--split-ratios", "1,0,0", "--no-audit"]
SMALL_TEXT = ("README.md", "dataset.json", "build_config.yaml", "splits/split_report.md", "splits/split_report.json")


@pytest.fixture
def source(synthetic_root: Path, tmp_path: Path) -> Path:
    """The 4 AneRBC-I images of the synthetic set, in a folder whose name is HTML."""
    root = tmp_path / FILE_SAFE_HTML
    shutil.copytree(synthetic_root / "AneRBC_dataset/AneRBC-I", root / "AneRBC_dataset/AneRBC-I")
    return root


def _build(tmp_path: Path, source: Path, *extra: str, expected: int) -> Path:
    out = tmp_path / "out" / "dataset"
    before = outside_output(tmp_path)
    result = runner.invoke(
        dataset_app, ["build", str(source), "--out", str(out), "-q", "--workers", "1", *ARGS, *extra]
    )
    assert result.exit_code == expected, result.output
    assert "Traceback" not in result.output and (result.exception is None or isinstance(result.exception, SystemExit))
    assert outside_output(tmp_path) == before
    return out


def test_zero_byte_image_stops_the_build_or_is_left_out(source: Path, tmp_path: Path) -> None:
    (role_folder(source, "I", cls="healthy", role="image") / "001_h.png").write_bytes(b"")
    out = _build(tmp_path, source, expected=1)  # an OpenCV traceback before, even with --allow-invalid
    assert not out.exists()
    out = _build(tmp_path, source, "--allow-invalid", expected=0)
    document = json.loads((out / "dataset.json").read_text())
    assert "anerbc1_h_001" in {row["sample_id"] for row in document["validation"]["excluded_samples"]}
    assert document["validation"]["by_code"]["empty_file"]["count"] == 1


def test_a_bomb_is_never_decoded_by_the_build(source: Path, tmp_path: Path, monkeypatch) -> None:
    (role_folder(source, "I", cls="anemic", role="mask") / "001_a.png").write_bytes(png_bomb())
    forbid_decoding(monkeypatch, png_bomb())
    out = _build(tmp_path, source, "--allow-invalid", expected=0)
    document = json.loads((out / "dataset.json").read_text())
    assert document["validation"]["by_code"]["too_many_pixels"]["count"] == 1
    assert not list((out / "reports" / "validate-masks_thumbs").glob("anerbc1_a_001*"))


def test_the_card_holds_no_local_path_and_no_raw_html(source: Path, tmp_path: Path) -> None:
    out = _build(tmp_path, source, expected=0)
    for name in (*SMALL_TEXT, "reports/validate-masks.md", "reports/validate-masks.html"):
        text = (out / name).read_text()
        assert str(tmp_path) not in text, name
        assert name.endswith(".json") or "<img src=x" not in text, name  # rendered files: no raw HTML
    assert json.loads((out / "dataset.json").read_text())["source"]["path"] == FILE_SAFE_HTML
    assert "&lt;img src=x onerror=alert(1)&gt;" in (out / "README.md").read_text()


def test_class_names_and_audit_examples_are_escaped_in_the_card() -> None:
    names = tuple(HTML_NAMES)
    split = SplitEntry(num_examples=3, classes={name: 1 for name in names}, content_sha256="0" * 64)
    card = DatasetCard(
        schema_version=1,
        format_version=2,
        tool="rbc-dataset test",
        source=SourceInfo("data", "manifest.parquet", manifest_sha256="0" * 64, n_input_samples=3, origin="folder"),
        config={},
        class_names=names,
        severity_names=(),
        cbc_tests=(),
        has_masks=False,
        tile_grid=TileGridInfo(4, 3, width=306, height=320, order="row-major"),
        configs={"full": ConfigEntry("whole images", (1, 1), {"train": split})},
        splits={},
        split_warnings=(),
        validation=ValidationInfo(
            {}, {}, allowed_invalid=False, excluded_samples=(), report="reports/validate-masks.json"
        ),
        audit=AuditInfo({}, {"duplicate_across_classes": FindingCount("error", 1, names[1])}, "reports/audit.json"),
        tile_check=None,
    )
    text = "\n".join(_count_table(card) + _known_issues(card))
    assert "<script" not in text and "<img" not in text and "<iframe" not in text
    assert text.count("&lt;") >= 4


def test_strata_and_notes_are_escaped_in_the_split_report() -> None:
    counts = {"train": 1, "validation": 0, "test": 0}
    report = {
        "method": "stratified-group",
        "seed": 0,
        "folds": 0,
        "n_parents": 1,
        "n_groups": 1,
        "largest_group": 1,
        "strata": [{"stratum": name, "parents": counts, "samples": counts, "share": counts} for name in HTML_NAMES],
        "max_deviation_pp": None,
        "target_ratios": {},
        "fold_notes": [f"class {HTML_NAMES[1]} has one parent"],
    }
    text = render_split_report(report)
    assert "<script" not in text and "<img" not in text and "<iframe" not in text
    assert text.count("&lt;") >= 4
