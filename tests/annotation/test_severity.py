"""Tests for annotation/severity.py: the rule file, per-cell scores, the rule on synthetic images, Hb bands,
the derived manifest (never overwriting a known severity) and the ``severity`` command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from annotation.commands import app as annotate_app
from annotation.severity import (
    cell_scores,
    derive_severity,
    hb_band,
    load_severity_config,
    published_size_score,
    reported_band,
    severity_from_image,
    severity_images,
)
from rbc_dataset.errors import DataError, UsageError
from rbc_dataset.fileio import read_image
from rbc_dataset.manifest import read_manifest, report_path_for, write_manifest
from tests.helpers import squeezed

SOURCE = "derived: annotation severity_v1 (rule)"
ANAEMIC_I = Path("AneRBC_dataset/AneRBC-I/Anemic_individuals/Original_images")


def test_packaged_rule_names_a_source_for_every_number() -> None:
    config = load_severity_config()
    assert config.version == "severity_v1"
    assert config.source_label == SOURCE
    assert config.published_size_rule == (0.66, 0.96, 0.8, 1.6)
    for key in ("size_tolerance", "min_roundness", "pallor_tolerance", "rim_tolerance", "chronic_min_abnormal_share"):
        assert key in config.sources and "PLACEHOLDER" not in config.sources[key]
    assert "seed" in config.sources["chronic_min_abnormal_share"]
    assert "not published" in Path(config.path).read_text()


def test_bad_rule_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load_severity_config(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: [unclosed\n")
    with pytest.raises(DataError, match="broken.yaml"):
        load_severity_config(broken)
    text = Path(load_severity_config().path).read_text()
    incomplete = tmp_path / "incomplete.yaml"
    incomplete.write_text(text.replace("  rim_tolerance: 0.22\n", ""))
    with pytest.raises(DataError, match="cell.rim_tolerance"):
        load_severity_config(incomplete)
    custom = tmp_path / "custom.yaml"
    custom.write_text(text.replace("version: severity_v1", "version: severity_test"))
    assert load_severity_config(custom).source_label == "derived: annotation severity_test (rule)"


def test_published_size_rule() -> None:
    size = np.array([0.8, 0.9, 1.0, 1.6, 0.5])
    score = published_size_score(size, np.ones(5), rule=(0.66, 0.96, 0.8, 1.6))
    assert score == pytest.approx([1.0, 0.9, 0.4, 1.0, -0.1])


def test_cell_scores_flag_size_shape_and_pallor() -> None:
    cells = pd.DataFrame(
        {
            "size": [1.0, 0.75, 1.3, 1.0, 1.0, 1.0],
            "elongation": [1.02, 1.0, 1.0, 1.6, 1.0, 1.0],
            "extra_pallor": [0.0, 0.0, 0.0, 0.0, 0.25, 0.0],
            "rim_rel": [1.0, 1.0, 1.0, 1.0, 1.0, 0.7],
        }
    )
    scores = cell_scores(cells, load_severity_config())
    assert scores["abnormal"].tolist() == [False, True, True, True, True, True]
    assert scores.loc[0, "score"] < 0.2
    assert scores.loc[1, "size_term"] > 1 and scores.loc[3, "roundness_term"] > 1
    assert scores.loc[4, "pallor_term"] > 1 and scores.loc[5, "rim_term"] > 1


def test_rule_on_synthetic_images(synthetic_root: Path) -> None:
    truth = synthetic_root / "synthetic_truth" / "AneRBC-I" / "Anemic_individuals"
    from annotation.images import load_rgb

    for stem in ("001_a", "002_a"):
        expected = json.loads((truth / "meta" / f"{stem}.json").read_text())["severity"]
        image = load_rgb(synthetic_root / ANAEMIC_I / f"{stem}.png")
        result = severity_from_image(image, read_image(truth / "instances" / f"{stem}.png"))
        assert result["severity"] == expected, (stem, result)
        assert result["n_cells"] > 500 and result["rule"] == "severity_v1"


@pytest.mark.parametrize(
    ("hb", "table", "band"),
    [
        (12.5, "who2011_women", "none"),
        (12.0, "who2011_women", "none"),
        (11.5, "who2011_women", "mild"),
        (9.0, "who2011_women", "moderate"),
        (7.9, "who2011_women", "severe"),
        (12.5, "who2011_men", "mild"),
        (13.0, "who2011_men", "none"),
        (None, "who2011_women", None),
        (float("nan"), "who2011_men", None),
    ],
)
def test_hb_bands(hb, table, band) -> None:
    assert hb_band(hb, table) == band


def test_hb_band_refuses_bad_input() -> None:
    with pytest.raises(UsageError, match="who2011_women"):
        hb_band(10.0, "who2099")
    with pytest.raises(UsageError, match="plausible"):
        hb_band(-3.0)
    # Values read from CBC reports may be column-shifted: they are reported, not fatal.
    assert reported_band(101.0, "who2011_women") == "implausible"
    assert reported_band(11.2, "who2011_women") == "mild"
    with pytest.raises(UsageError, match="who2011_men"):
        reported_band(11.2, "who")


@pytest.fixture(scope="module")
def derive_setup(synthetic_root: Path, tmp_path_factory) -> dict:
    """A manifest of the synthetic set where some anaemic severities are unknown, and flat truth instances."""
    from rbc_dataset.ingestion import ingest

    base = tmp_path_factory.mktemp("derive")
    full = base / "full.parquet"
    ingest(synthetic_root, out=full, workers=1, show_progress=False)
    instances = base / "instances"
    instances.mkdir()
    for path in (synthetic_root / "synthetic_truth").rglob("instances/*.png"):
        shutil.copy(path, instances / path.name)
    rows = read_manifest(full)
    truth = rows.set_index("sample_id")["severity"].to_dict()
    blank = rows["parent_id"].eq("anerbc1_a_001") | rows["sample_id"].isin(["anerbc2_a_0002_03"])
    rows.loc[blank, ["severity", "severity_source"]] = None
    wrong = {"chronic": "mild", "mild": "chronic"}[truth["anerbc2_a_0002_05"]]
    rows.loc[rows["sample_id"] == "anerbc2_a_0002_05", "severity"] = wrong  # a known value, deliberately odd
    from annotation.severity import _manifest_extras, _records

    metadata, report = _manifest_extras(full)
    manifest = base / "partial.parquet"
    write_manifest(_records(rows), manifest, metadata=metadata, report=report)
    return {"manifest": manifest, "instances": instances, "truth": truth, "wrong": wrong, "base": base}


def test_derive_fills_unknown_severity_only(derive_setup: dict) -> None:
    out = derive_setup["base"] / "out" / "derived.parquet"
    before = read_manifest(derive_setup["manifest"])
    result = derive_severity(
        derive_setup["manifest"], out, instances_dir=derive_setup["instances"], workers=1, show_progress=False
    )
    after = read_manifest(out)
    truth = derive_setup["truth"]
    by_id = after.set_index("sample_id")
    family = [sid for sid in by_id.index if by_id.loc[sid, "parent_id"] == "anerbc1_a_001"]
    assert len(family) == 13  # the full image and its 12 tiles, all derived from the full image
    assert result.n_derived == 13 and result.n_inherited == 1
    for sid in family:
        assert by_id.loc[sid, "severity"] == truth["anerbc1_a_001"]
        assert by_id.loc[sid, "severity_source"] == SOURCE
    # A tile of a parent with a known severity inherits it (and its source), no rule involved.
    assert by_id.loc["anerbc2_a_0002_03", "severity"] == truth["anerbc1_a_002"]
    assert by_id.loc["anerbc2_a_0002_03", "severity_source"] == "synthetic_truth"
    # Known severities stay as they were, even an odd one; healthy rows stay unknown.
    assert by_id.loc["anerbc2_a_0002_05", "severity"] == derive_setup["wrong"]
    assert by_id.loc[by_id["class_name"] == "healthy", "severity"].isna().all()
    untouched = [c for c in before.columns if c not in ("severity", "severity_source")]
    pd.testing.assert_frame_equal(before[untouched], after[untouched])
    report = json.loads(report_path_for(out).read_text())
    original = json.loads(report_path_for(derive_setup["manifest"]).read_text())
    assert set(original) < set(report) and report["layout"] == original["layout"]
    derivation = report["severity_derivation"]
    assert derivation["rule"] == "severity_v1" and derivation["n_derived"] == 13
    assert derivation["units"][0]["key"] == "anerbc1_a_001"
    assert sum(sum(v.values()) for v in derivation["severity_vs_hb_band"].values()) == 13


def test_derive_refuses_bad_outputs(derive_setup: dict, tmp_path: Path) -> None:
    manifest = derive_setup["manifest"]
    with pytest.raises(UsageError, match="input manifest"):
        derive_severity(manifest, manifest, show_progress=False)
    existing = tmp_path / "existing.parquet"
    existing.write_bytes(b"x")
    with pytest.raises(UsageError, match="overwrite"):
        derive_severity(manifest, existing, show_progress=False)
    with pytest.raises(DataError, match="manifest"):
        derive_severity(tmp_path / "nothing.parquet", tmp_path / "out.parquet", show_progress=False)
    with pytest.raises(UsageError, match="who2011"):
        derive_severity(manifest, tmp_path / "out.parquet", hb_source="bad", show_progress=False)


def test_derive_with_nothing_to_derive(synthetic_root: Path, derive_setup: dict, tmp_path: Path) -> None:
    from rbc_dataset.ingestion import ingest

    full = tmp_path / "full.parquet"
    ingest(synthetic_root, out=full, workers=1, show_progress=False)
    result = derive_severity(full, tmp_path / "same.parquet", show_progress=False)
    assert result.n_derived == 0 and result.n_kept == 2 + 24
    pd.testing.assert_frame_equal(read_manifest(full), read_manifest(tmp_path / "same.parquet"))


def test_severity_images_and_cli(synthetic_root: Path, derive_setup: dict, tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(synthetic_root / ANAEMIC_I / "001_a.png", images / "001_a.png")
    result = severity_images(images, tmp_path / "sev.csv", instances_dir=derive_setup["instances"], workers=1)
    row = result.table.iloc[0]
    assert row["stem"] == "001_a" and row["severity"] == derive_setup["truth"]["anerbc1_a_001"]
    assert 0 <= row["abnormal_share"] <= 1 and row["rule"] == "severity_v1"
    assert pd.read_csv(tmp_path / "sev.csv")["severity"].tolist() == [row["severity"]]

    runner = CliRunner()
    inst = ["--instances", str(derive_setup["instances"]), "--quiet"]
    done = runner.invoke(annotate_app, ["severity", str(images), "--out", str(tmp_path / "dir"), *inst])
    assert done.exit_code == 0, done.output
    assert (tmp_path / "dir" / "severity.csv").is_file()
    again = runner.invoke(annotate_app, ["severity", str(images), "--out", str(tmp_path / "dir"), *inst])
    assert again.exit_code == 2 and "overwrite" in again.output
    manifest = runner.invoke(
        annotate_app, ["severity", str(derive_setup["manifest"]), "--out", str(tmp_path / "m"), "--workers", "1", *inst]
    )
    assert manifest.exit_code == 0, manifest.output
    assert "13 rows derived" in manifest.output and (tmp_path / "m" / "partial.parquet").is_file()
    bad = runner.invoke(annotate_app, ["severity", str(images), "--out", str(tmp_path / "x.csv"), "--hb-source", "who"])
    assert bad.exit_code == 2 and "who2011_men" in bad.output
    missing = runner.invoke(annotate_app, ["severity", str(tmp_path / "none"), "--out", str(tmp_path / "y.csv")])
    assert missing.exit_code == 2 and squeezed("no such file or folder") in squeezed(missing.output)
