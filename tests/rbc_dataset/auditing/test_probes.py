"""Shortcut probes: fire on planted mask and colour shortcuts and on the real AneRBC sample, not on clean data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from rbc_dataset.auditing import audit
from rbc_dataset.auditing.probes import run_probe
from rbc_dataset.synth.config import SynthConfig
from rbc_dataset.synth.generate import synthesize
from tests.helpers import REALDATA
from tests.helpers.audit import FAST


def _shortcut_audit(tmp_path, shortcut: str):
    root = tmp_path / "data"
    synthesize(
        SynthConfig(n_images=4, seed=2, with_tiles=False, shortcuts=(shortcut,), workers=2), root, show_progress=False
    )
    return audit(root, out_dir=tmp_path / "out", config=FAST, show_progress=False)


def test_mask_probe_fires_on_planted_mask_shortcut(tmp_path):
    result = _shortcut_audit(tmp_path, "mask")
    probe = result.summary["mask_encodes_label"]
    assert probe["status"] == "error" and probe["auc"] >= 0.9
    (issue,) = [i for i in result.issues if i.code == "mask_encodes_label"]
    assert issue.severity == "error"
    assert "validate-masks --fix" in issue.fix
    assert "mask_cell_" in issue.found  # names the most telling features


def test_canonical_masks_of_a_mask_shortcut_build_do_not_encode_the_label(tmp_path):
    """The raw masks give the class away; the masks as validate-masks --fix cuts them must not (issue 16)."""
    result = _shortcut_audit(tmp_path, "mask")
    assert result.summary["mask_encodes_label"]["status"] == "error"
    probe = result.summary["canonical_mask_shortcut"]
    assert probe["n"] == 8 and probe["status"] != "error" and probe["ci_low"] <= 0.5, probe  # chance not ruled out
    assert not [i for i in result.issues if i.code == "canonical_mask_shortcut" and i.severity == "error"]
    report = json.loads(result.report_path.read_text())
    features = report["tables"]["probes"]["canonical_mask_shortcut"]["features"]
    assert features == ["canonical_minus_image_share", "canonical_rim_inside", "canonical_rim_outside"]
    markdown = result.markdown_path.read_text()
    assert "## Do the canonical masks still encode the label?" in markdown and "Otsu cut of the image" in markdown


def test_colour_probe_fires_on_planted_colour_shortcut(tmp_path):
    result = _shortcut_audit(tmp_path, "colour")
    probe = result.summary["acquisition_shortcut"]
    assert probe["status"] == "error" and probe["auc"] >= 0.9
    (issue,) = [i for i in result.issues if i.code == "acquisition_shortcut"]
    assert "bg_" in issue.found and "anemic" in issue.found


def test_probes_do_not_fire_on_clean_data(clean_audit):
    for name in ("mask_encodes_label", "canonical_mask_shortcut", "acquisition_shortcut"):
        probe = clean_audit.summary[name]
        assert probe["n"] == 20 and probe["folds"] == 5
        assert probe["status"] != "error", probe
        assert not [i for i in clean_audit.issues if i.code == name and i.severity == "error"]


@pytest.mark.realdata
def test_real_anerbc_masks_encode_the_label(tmp_path):
    result = audit(REALDATA / "AneRBC-I", out_dir=tmp_path / "out", config=FAST, show_progress=False)
    probe = result.summary["mask_encodes_label"]
    assert probe["status"] == "error" and probe["auc"] >= 0.95, probe
    (issue,) = [i for i in result.issues if i.code == "mask_encodes_label"]
    assert "mask_cell_red_median" in issue.found


def test_tiny_dataset_reports_not_enough_samples():
    frame = pd.DataFrame({"f": [1.0, 2.0, 3.0]})
    result = run_probe(
        "p",
        frame,
        features=["f"],
        labels=pd.Series([0.0, 1.0, 1.0]),
        groups=pd.Series(["a", "b", "c"]),
        class_names={0: "healthy", 1: "anemic"},
        thresholds=(0.65, 0.75),
        seed=0,
    )
    assert result.status == "not_enough_samples" and result.auc is None


def test_two_groups_per_class_use_two_folds():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"f": np.r_[rng.normal(0, 1, 4), rng.normal(5, 1, 4)]})
    labels = pd.Series([0.0] * 4 + [1.0] * 4)
    groups = pd.Series(list("aabbccdd"))
    result = run_probe(
        "p",
        frame,
        features=["f"],
        labels=labels,
        groups=groups,
        class_names={0: "healthy", 1: "anemic"},
        thresholds=(0.65, 0.75),
        seed=0,
    )
    assert result.folds == 2 and result.n_groups == 4
    assert result.auc == 1.0
