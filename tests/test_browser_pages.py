"""The HTML pages a person opens, opened in headless Chromium: validate-masks.html, audit.html, the review gallery.

Every image on each page must load (no broken thumbnail, crop or overlay), names holding ``<``, ``&``, spaces
and non-ASCII letters must show as text, and the page runs no script. A page with a deleted or corrupt picture
must fail the check. Skipped only where no Chromium binary exists (``.ci/run`` installs Debian's ``chromium``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from annotation.review import review
from rbc_dataset.auditing import AuditConfig, audit
from rbc_dataset.validate.config import ValidateConfig
from rbc_dataset.validate.run import validate_masks
from tests.helpers import PROJECT_ROOT
from tests.helpers.browser import find_chromium, inspect_page, problems, screenshot

CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium binary (chromium, chromium-browser, google-chrome) on PATH"
)
# A dataset folder and an image stem as a user may name them: markup characters, spaces, non-ASCII letters.
NAME = "AneRBC <img src=x onerror=alert(1)> & Übung"
STEM = "smear <i>1 & ü"  # no "/": it is a file name


def _review_inputs(root: Path, base: Path) -> tuple[Path, Path, Path]:
    """Two images (one with ``STEM`` as its name), the synthetic truth instances as A and the masks as B."""
    folders = {name: base / name for name in ("images", "truth", "masks")}
    sources = {
        "images": root / "AneRBC_dataset/AneRBC-I/Anemic_individuals/Original_images",
        "truth": root / "synthetic_truth/AneRBC-I/Anemic_individuals/instances",
        "masks": root / "AneRBC_dataset/AneRBC-I/Anemic_individuals/Binary_segmented",
    }
    for name, folder in folders.items():
        folder.mkdir()
        shutil.copy(sources[name] / "001_a.png", folder / f"{STEM}.png")
        shutil.copy(sources[name] / "002_a.png", folder / "002_a.png")
    return folders["images"], folders["truth"], folders["masks"]


@pytest.fixture(scope="module")
def pages(synthetic_root, tmp_path_factory) -> dict[str, Path]:
    """The three pages for a small synthetic set (the demo's, at 2 images per class), under odd names."""
    base = tmp_path_factory.mktemp("pages")
    data = base / NAME
    shutil.copytree(synthetic_root, data)
    reports = base / "reports"
    validate_masks(data, out_dir=reports, config=ValidateConfig(workers=1), show_progress=False)
    audit(data, out_dir=reports, config=AuditConfig(workers=1), show_progress=False)
    images, truth, masks = _review_inputs(data, base)
    review(images, truth, b_dir=masks, out=base / "review", workers=1)
    return {
        "validate": reports / "validate-masks.html",
        "audit": reports / "audit.html",
        "review": base / "review/index.html",
    }


@needs_chromium
@pytest.mark.parametrize("name", ["validate", "audit", "review"])
def test_every_picture_loads_and_names_show_as_text(pages, name):
    result = inspect_page(pages[name], CHROMIUM)
    assert problems(result) == []
    if name != "audit":  # the audit page has tables only
        assert len(result["images"]) >= 2 and all(image["width"] > 0 for image in result["images"])
    shown = STEM if name == "review" else NAME
    assert shown in result["text"]  # the characters themselves, so not read as a tag or an entity


@needs_chromium
def test_the_review_gallery_compares_two_annotations(pages):
    text = inspect_page(pages["review"], CHROMIUM)["text"]
    assert "A: " in text and "B: " in text and "Dice" in text and "instance F1" in text


@needs_chromium
def test_a_deleted_or_corrupt_picture_is_caught(pages, tmp_path):
    copy = tmp_path / "reports"
    shutil.copytree(pages["validate"].parent, copy)
    thumbnails = sorted((copy / "validate-masks_thumbs").glob("*.png"))
    crops = sorted((copy / "validate-masks_thumbs/crops").glob("*.png"))
    thumbnails[0].unlink()
    crops[0].write_bytes(b"not a png")
    found = problems(inspect_page(copy / "validate-masks.html", CHROMIUM))
    assert sorted(found) == sorted(
        f"image not loaded: validate-masks_thumbs/{path.relative_to(copy / 'validate-masks_thumbs').as_posix()}"
        for path in (thumbnails[0], crops[0])
    )


@needs_chromium
def test_a_screenshot_is_written(pages, tmp_path):
    out = screenshot(pages["validate"], tmp_path / "validate.png", width=800, height=600)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


def test_the_demo_gallery_compares_two_annotations_and_its_pages_are_checked():
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    review_lines = [line for line in makefile.splitlines() if "annotate review" in line]
    assert any("--a " in line and "--b " in line for line in review_lines)  # the two-annotation gallery
    assert "browser-check:" in makefile and "-m tests.helpers.browser" in makefile
