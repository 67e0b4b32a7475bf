"""Small synthetic datasets for the audit: clean, with planted shortcuts, and with planted dataset problems."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rbc_dataset.auditing import audit
from rbc_dataset.synth.config import SynthConfig
from rbc_dataset.synth.generate import synthesize
from tests.helpers.audit import FAST, crop_mask, jpeg_crop, role_path, set_value


@pytest.fixture(scope="session")
def clean_root(tmp_path_factory) -> Path:
    """10 anaemic + 10 healthy AneRBC-I images, release-style masks, no shortcut, no defects."""
    out = tmp_path_factory.mktemp("audit_clean") / "data"
    synthesize(SynthConfig(n_images=10, seed=5, with_tiles=False, workers=2), out, show_progress=False)
    return out


@pytest.fixture(scope="session")
def clean_audit(clean_root, tmp_path_factory):
    return audit(clean_root, out_dir=tmp_path_factory.mktemp("audit_clean_out"), config=FAST, show_progress=False)


@pytest.fixture(scope="session")
def planted_root(clean_root, tmp_path_factory) -> Path:
    """``clean_root`` (images, masks and CBC reports only) plus planted dataset problems.

    - 011_h: image and mask are byte copies of 001_a (exact duplicate across classes).
    - 011_a: 002_a re-encoded as JPEG quality 90 with 3 % cut off its top and left (near duplicate, same class).
    - CBC 003_h is a copy of 003_a's report (one report across classes); 005_h of 004_h's (same class).
    - Hb of 001_h set to 9.1 g/dL and of 001_a to 13.6 g/dL (both disagree with their label); MCV of 002_a 3646.
    """
    root = tmp_path_factory.mktemp("audit_planted") / "data"
    skip = shutil.ignore_patterns("synthetic_truth", "RGB_segmented", "Morphology_reports")
    shutil.copytree(clean_root, root, ignore=skip)
    for role in ("image", "mask"):
        shutil.copyfile(role_path(root, role, "001_a"), role_path(root, role, "011_h"))
    jpeg_crop(role_path(root, "image", "002_a"), role_path(root, "image", "011_a", ".jpg"))
    crop_mask(role_path(root, "mask", "002_a"), role_path(root, "mask", "011_a"))
    shutil.copyfile(role_path(root, "cbc", "003_a", ".txt"), role_path(root, "cbc", "003_h", ".txt"))
    shutil.copyfile(role_path(root, "cbc", "004_h", ".txt"), role_path(root, "cbc", "005_h", ".txt"))
    set_value(role_path(root, "cbc", "001_h", ".txt"), "HGB", 9.1)
    set_value(role_path(root, "cbc", "001_a", ".txt"), "HGB", 13.6)
    set_value(role_path(root, "cbc", "002_a", ".txt"), "MCV", 3646)
    return root


@pytest.fixture(scope="session")
def planted_audit(planted_root, tmp_path_factory):
    return audit(planted_root, out_dir=tmp_path_factory.mktemp("audit_planted_out"), config=FAST, show_progress=False)
