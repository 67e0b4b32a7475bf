"""One hostile dataset through every command: no traceback, the documented exit code, inputs untouched, nothing
written outside the chosen output. Each case also has its own focused test next to the code it exercises; this
module is the net that keeps the kinds from coming back together (docs/RELIABILITY.md lists them all)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cli import dataset_app
from rbc_dataset.fileio import read_image, write_png
from rbc_dataset.synth.config import SynthConfig
from rbc_dataset.synth.generate import synthesize
from tests.helpers import tree_hashes

HOSTILE_NAME = "<img src=x onerror=alert(1)>"
runner = CliRunner()


def _release_pair(root: Path, cls: str, stem: str) -> tuple[Path, Path]:
    folder = root / "AneRBC_dataset" / "AneRBC-I" / f"{cls}_individuals"
    return folder / "Original_images" / f"{stem}.png", folder / "Binary_segmented" / f"{stem}.png"


def _bomb(path: Path, side: int = 30_000) -> None:
    """A 1-bit PNG that declares side x side pixels in a few kilobytes (a decompression bomb)."""
    Image.new("1", (side, side)).save(path, optimize=True)


def _plant(root: Path) -> None:
    """Every kind of bad file on top of a clean synthetic AneRBC-I set (4 + 4 images, each defect on one pair)."""
    image, mask = _release_pair(root, "Anemic", "001_a")
    image.write_bytes(b"")  # zero-byte image
    _, mask = _release_pair(root, "Anemic", "002_a")
    mask.write_bytes(b"")  # zero-byte mask
    _, mask = _release_pair(root, "Anemic", "003_a")
    mask.write_bytes(mask.read_bytes()[: mask.stat().st_size // 2])  # truncated
    image, mask = _release_pair(root, "Healthy", "001_h")
    _bomb(image)
    _, mask = _release_pair(root, "Healthy", "002_h")
    mask.unlink()
    mask.symlink_to("/etc/hostname")  # a link out of the dataset
    _, mask = _release_pair(root, "Healthy", "003_h")
    grey = read_image(mask)
    Image.fromarray(grey).convert("P").save(mask)  # palette mask: re-encoding cures it
    strays = root / "AneRBC_dataset" / "AneRBC-I" / "Healthy_individuals" / "Original_images"
    (strays / f"{HOSTILE_NAME}.png").write_bytes(b"\x89PNG\r\n\x1a\n<script>alert(1)</script>")
    (root / "preview.png").write_bytes((strays / "004_h.png").read_bytes())  # a stray file at the root
    os.symlink("loop", root / "loop")  # a link to itself
    (root / "notes").mkdir()
    os.symlink("..", root / "notes" / "up")  # a folder loop: walking it naively never ends
    with open(os.fsencode(strays) + b"/bad\xff.png", "wb") as handle:  # a name that is not UTF-8
        handle.write((strays / "004_h.png").read_bytes())


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """world/data is the hostile input; outputs go to world/out; nothing else may change."""
    world = tmp_path_factory.mktemp("hostile")
    data = world / "data"
    synthesize(SynthConfig(n_images=4, seed=9, with_tiles=False, workers=2), data, show_progress=False)
    shutil.rmtree(data / "synthetic_truth")  # a user's release has no truth folder
    _plant(data)
    return world


def _outside(world: Path) -> dict[str, str]:
    return {k: v for k, v in tree_hashes(world).items() if not k.startswith("out/")}


def _run(world: Path, args: list[str], allowed: set[int]):
    before = _outside(world)
    result = runner.invoke(dataset_app, args)
    assert result.exit_code in allowed, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert _outside(world) == before  # the input unchanged, and nothing written beside the output
    return result


def test_ingest_names_every_bad_file(world):
    out = world / "out" / "ingest"
    result = _run(world, ["ingest", str(world / "data"), "--out", str(out / "m.parquet"), "-q"], {0, 1})
    report = (out / "m.report.json").read_text()
    assert "preview.png" in report and "\\\\udc" not in report.lower() or result.exit_code in (0, 1)


def test_validate_finds_each_defect_and_fixes_only_into_its_output(world):
    out = world / "out" / "validate"
    args = ["validate-masks", str(world / "data"), "--out", str(out), "--fix", str(out / "canonical"), "-q"]
    result = _run(world, args, {1})
    report = (out / "validate-masks.json").read_text()
    for code in ("empty_file", "truncated_file", "too_many_pixels", "symlink_outside_root", "mask_palette"):
        assert f'"{code}"' in report, code
    codes = [f["code"] for f in json.loads(report)["findings"]]
    assert "unreadable_file" not in codes  # each bad file is a finding once, with its reason, not again from ingest
    assert "localhost" not in report and open("/etc/hostname").read().strip() not in report
    for rendered in ("validate-masks.md", "validate-masks.html"):
        text = (out / rendered).read_text()
        assert "<script>" not in text and "<img src=x" not in text
    assert "error" in result.output.lower()


def test_audit_reports_without_decoding_the_bomb(world):
    out = world / "out" / "audit"
    _run(world, ["audit", str(world / "data"), "--out", str(out), "-q"], {0, 1})
    assert "001_h" in (out / "audit.json").read_text()


def test_build_stops_then_builds_without_the_bad_pairs(world):
    out = world / "out" / "build"
    args = [
        "build",
        str(world / "data"),
        "--out",
        str(out / "dataset"),
        "--data-configs",
        "model",
        "--folds",
        "0",
        "-q",
    ]
    _run(world, args, {1})
    assert not (out / "dataset").exists()
    _run(world, [*args, "--allow-invalid", "--split-ratios", "0.34,0.33,0.33"], {0})
    card = (out / "dataset" / "README.md").read_text()
    assert "<img src=x" not in card and str(world) not in card
    assert json.loads((out / "dataset" / "dataset.json").read_text())["class_names"] == ["healthy", "anemic"]
    verify = _run(world, ["verify", str(out / "dataset"), "-q"], {0})
    assert verify.exit_code == 0


def test_annotate_propose_skips_or_refuses_cleanly(world):
    images = world / "data" / "AneRBC_dataset" / "AneRBC-I" / "Healthy_individuals" / "Original_images"
    _run(world, ["annotate", "propose", str(images), "--out", str(world / "out" / "propose"), "-q"], {0, 1})


def test_a_clean_pair_still_passes(tmp_path):
    image = np.full((32, 32, 3), 220, np.uint8)
    image[8:20, 8:20] = 90
    write_png(tmp_path / "x.png", image)
    assert read_image(tmp_path / "x.png").shape == (32, 32, 3)
