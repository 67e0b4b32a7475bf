"""annotate on hostile images: a decompression bomb or a zero-byte image stops `propose`, `instances` and
`review` with a DataError naming the file (exit 1), never a decode or a traceback; names that are HTML are
escaped in the review gallery."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from annotation.images import load_rgb
from annotation.review import review
from cli import dataset_app
from rbc_dataset.errors import DataError
from rbc_dataset.fileio import write_png
from tests.helpers.hostile_images import FILE_SAFE_HTML, forbid_decoding, outside_output, png_bomb

runner = CliRunner()


def _images(tmp_path: Path, *stems: str) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    image = np.full((40, 50, 3), 220, np.uint8)
    image[10:30, 10:30] = 90
    for stem in stems:
        write_png(folder / f"{stem}.png", image)
    return folder


@pytest.mark.parametrize("command", ["propose", "instances"])
@pytest.mark.parametrize("bad", ["bomb", "empty"])
def test_a_refused_image_stops_annotate_with_its_name(tmp_path: Path, monkeypatch, command: str, bad: str) -> None:
    images = _images(tmp_path, "a", "c")
    (images / "b.png").write_bytes(png_bomb() if bad == "bomb" else b"")
    forbid_decoding(monkeypatch, png_bomb())
    before = outside_output(tmp_path)
    args = ["annotate", command, str(images), "--out", str(tmp_path / "out" / "p"), "--workers", "1", "-q"]
    result = runner.invoke(dataset_app, args)
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    message = " ".join(result.output.split())
    assert "b.png" in message and ("30000x30000" in message if bad == "bomb" else "0 bytes" in message)
    assert outside_output(tmp_path) == before and not (tmp_path / "out" / "p").exists()


def test_load_rgb_refuses_a_bomb_and_still_reads_a_clean_image(tmp_path: Path, monkeypatch) -> None:
    images = _images(tmp_path, "clean")
    (images / "bomb.png").write_bytes(png_bomb())
    forbid_decoding(monkeypatch, png_bomb())
    with pytest.raises(DataError, match="too many|at most"):
        load_rgb(images / "bomb.png")
    assert load_rgb(images / "clean.png").shape == (40, 50, 3)


def test_html_names_are_escaped_in_the_review_gallery(tmp_path: Path) -> None:
    images = _images(tmp_path, FILE_SAFE_HTML, "plain")
    masks = tmp_path / "a"
    masks.mkdir()
    mask = np.zeros((40, 50), np.uint8)
    mask[10:30, 10:30] = 255
    for stem in (FILE_SAFE_HTML, "plain"):
        write_png(masks / f"{stem}.png", mask)
    result = review(images, masks, out=tmp_path / "out" / "gallery")
    page = result.index.read_text()
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
