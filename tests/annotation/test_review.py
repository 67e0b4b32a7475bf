"""Review gallery: static HTML with overlays, sorted by disagreement, atomic and never overwritten silently."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from annotation.commands import app as annotate_app
from annotation.review import COLOURS, boundaries, review
from rbc_dataset.errors import DataError, UsageError
from rbc_dataset.fileio import read_image, write_png


def _square(size: int, shape=(40, 50)) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    mask[5 : 5 + size, 5 : 5 + size] = 255
    return mask


@pytest.fixture()
def tiny(tmp_path: Path) -> dict[str, Path]:
    """Three images; B agrees perfectly on `good`, half on `half`, not at all on `bad`; A lacks `extra`."""
    images, a, b = tmp_path / "images", tmp_path / "a", tmp_path / "b"
    for folder in (images, a, b):
        folder.mkdir()
    for stem in ("good", "half", "bad", "unannotated"):
        write_png(images / f"{stem}.png", np.full((40, 50, 3), 220, np.uint8))
    write_png(a / "good.png", _square(20))
    write_png(b / "good.png", _square(20))
    write_png(a / "half.png", _square(20))
    half = np.zeros((40, 50), np.uint8)
    half[5:25, 5:15] = 255
    write_png(b / "half.png", half)
    write_png(a / "bad.png", _square(10))
    write_png(b / "bad.png", np.roll(_square(10), 25, axis=1))
    write_png(b / "extra.png", _square(5))  # no such image
    return {"images": images, "a": a, "b": b, "root": tmp_path}


def test_gallery_is_sorted_worst_first_with_overlays(tiny: dict[str, Path]) -> None:
    out = tiny["root"] / "gallery"
    result = review(tiny["images"], tiny["a"], b_dir=tiny["b"], out=out)
    assert [e.stem for e in result.entries] == ["bad", "half", "good"]
    assert result.images_without_annotation == ("unannotated",) and result.annotations_without_image == ("extra",)
    page = (out / "index.html").read_text()
    assert page.index('id="bad"') < page.index('id="half"') < page.index('id="good"')
    assert "<script" not in page and "http" not in page and 'href="overlays/bad.png"' in page
    assert "Images without any annotation (1)" in page and "unannotated" in page
    picture = read_image(out / "overlays" / "half.png")
    colours = {tuple(c) for c in picture.reshape(-1, 3)}
    assert {COLOURS["a"], COLOURS["b"], COLOURS["both"]} <= colours
    record = json.loads((out / "review.json").read_text())
    assert record["entries"][0]["agreement"]["dice"] == 0.0
    assert (out / "agreement.csv").is_file() and not list(tiny["root"].glob(".gallery*"))


def test_one_source_gallery_sorted_by_name(tiny: dict[str, Path]) -> None:
    result = review(tiny["images"], tiny["a"], out=tiny["root"] / "g")
    assert [e.stem for e in result.entries] == ["bad", "good", "half"]
    assert all(e.agreement is None and e.cells_a == 1 and e.cells_b is None for e in result.entries)
    assert not (tiny["root"] / "g" / "agreement.csv").exists()


def test_no_overwrite_without_the_flag_and_overlays_are_scaled(tiny: dict[str, Path]) -> None:
    out = tiny["root"] / "gallery"
    review(tiny["images"], tiny["a"], b_dir=tiny["b"], out=out)
    with pytest.raises(UsageError, match="--overwrite"):
        review(tiny["images"], tiny["a"], b_dir=tiny["b"], out=out)
    review(tiny["images"], tiny["a"], b_dir=tiny["b"], out=out, overwrite=True, max_size=25)
    assert read_image(out / "overlays" / "good.png").shape == (20, 25, 3)


def test_mask_of_the_wrong_size_names_mask_and_image(tiny: dict[str, Path]) -> None:
    write_png(tiny["a"] / "good.png", np.zeros((10, 10), np.uint8))
    with pytest.raises(DataError) as caught:
        review(tiny["images"], tiny["a"], out=tiny["root"] / "g")
    assert "good.png" in str(caught.value) and "images" in str(caught.value)
    assert not (tiny["root"] / "g").exists()


def test_boundaries_outline_each_instance() -> None:
    labels = np.zeros((6, 8), np.uint16)
    labels[1:5, 1:4], labels[1:5, 4:7] = 1, 2
    edge = boundaries(labels)
    assert edge[1:5, 3].all() and edge[1:5, 4].all()  # the touching sides of both cells
    assert not edge[2:4, 2].any() and not edge[0].any()


def test_cli_review(tiny: dict[str, Path]) -> None:
    runner = CliRunner()
    out = tiny["root"] / "gallery"
    args = ["review", str(tiny["images"]), "--a", str(tiny["a"]), "--b", str(tiny["b"]), "--out", str(out), "-q"]
    result = runner.invoke(annotate_app, [*args, "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "gallery of 3 images" in result.output and (out / "index.html").is_file()
    result = runner.invoke(annotate_app, [*args, "--workers", "1"])
    assert result.exit_code == 2 and "--overwrite" in result.output
