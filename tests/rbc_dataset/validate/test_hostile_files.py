"""validate-masks on hostile files: zero-byte files, decompression bombs, links out of the dataset and names that
are HTML each become a finding naming the file (exit 1), never a traceback, a decode, file content from outside
the dataset or raw HTML in a report; the input is unchanged and nothing is written beside the output."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from cli import dataset_app
from rbc_dataset.fileio import MAX_PIXELS, read_image, write_png
from tests.helpers.hostile_images import FILE_SAFE_HTML, forbid_decoding, outside_output, png_bomb

runner = CliRunner()
SECRET = "TOP-SECRET-CONTENT"


def _dataset(tmp_path: Path, synthetic_root: Path, stems=("a", "b", "c")) -> Path:
    """A folder-layout dataset of tile-sized pairs (healthy/images/<stem>.png + healthy/masks/<stem>.png)."""
    base = synthetic_root / "AneRBC_dataset/AneRBC-II/Healthy_individuals"
    truth = synthetic_root / "synthetic_truth/AneRBC-II/Healthy_individuals/instances"
    root = tmp_path / "data"
    for k, stem in enumerate(stems):
        name = f"0001_0{k + 1}_h.png"
        for kind in ("images", "masks"):
            (root / "healthy" / kind).mkdir(parents=True, exist_ok=True)
        write_png(root / "healthy/images" / f"{stem}.png", read_image(base / "Original_images" / name))
        write_png(
            root / "healthy/masks" / f"{stem}.png", np.where(read_image(truth / name) > 0, 255, 0).astype(np.uint8)
        )
    return root


def _validate(tmp_path: Path, root: Path, *extra: str, expected: int = 1) -> tuple[dict, Path]:
    out = tmp_path / "out"
    before = outside_output(tmp_path)
    result = runner.invoke(
        dataset_app, ["validate-masks", str(root), "--out", str(out), "-q", "--workers", "1", *extra]
    )
    assert result.exit_code == expected, result.output
    assert "Traceback" not in result.output and (result.exception is None or isinstance(result.exception, SystemExit))
    after = outside_output(tmp_path)
    assert after == before  # the input unchanged, nothing written beside the output
    return json.loads((out / "validate-masks.json").read_text()), out


def _errors(document: dict) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for f in document["findings"]:
        if f["severity"] == "error":
            found.setdefault(f["code"], set()).add(f["path"])
    return found


def _thumbnails(out: Path) -> set[str]:
    return {p.stem for p in (out / "validate-masks_thumbs").glob("*.png")}


def test_zero_byte_image_and_mask_are_findings(tmp_path: Path, synthetic_root: Path) -> None:
    root = _dataset(tmp_path, synthetic_root)
    (root / "healthy/images/a.png").write_bytes(b"")
    (root / "healthy/masks/b.png").write_bytes(b"")
    document, out = _validate(tmp_path, root)
    assert _errors(document)["empty_file"] == {"healthy/images/a.png", "healthy/masks/b.png"}
    message = next(f["message"] for f in document["findings"] if f["code"] == "empty_file")
    assert "0 bytes" in message and "Fix:" in message
    assert not {"a", "b"} & {s.split("_")[-1] for s in _thumbnails(out)}  # no thumbnail of a refused pair


@pytest.mark.parametrize("side", [30_000, 40_000])  # 40,000²: beyond OpenCV's own limit (a cv2.error before)
def test_bombs_are_refused_from_the_header_never_decoded(
    tmp_path: Path, synthetic_root: Path, monkeypatch, side
) -> None:
    root = _dataset(tmp_path, synthetic_root)
    (root / "healthy/masks/a.png").write_bytes(png_bomb(side))
    (root / "healthy/images/b.png").write_bytes(png_bomb(side))
    forbid_decoding(monkeypatch, png_bomb(side))  # the thumbnails too: they decoded refused files before
    document, out = _validate(tmp_path, root)
    assert _errors(document)["too_many_pixels"] == {"healthy/masks/a.png", "healthy/images/b.png"}
    message = next(f["message"] for f in document["findings"] if f["code"] == "too_many_pixels")
    assert f"{side}x{side}" in message and f"{MAX_PIXELS:,}" in message
    assert len(_thumbnails(out)) == 1  # only the clean pair c is drawn


def test_the_pixel_limit_is_set_in_the_config_file(tmp_path: Path, synthetic_root: Path) -> None:
    root = _dataset(tmp_path, synthetic_root, stems=("a",))
    config = tmp_path / "v.yaml"
    config.write_text(yaml.safe_dump({"max_pixels": 1000}))
    document, _ = _validate(tmp_path, root, "--config", str(config))
    assert _errors(document)["too_many_pixels"] == {"healthy/images/a.png", "healthy/masks/a.png"}
    assert "1,000 pixels" in json.dumps(document)


def test_clean_pairs_still_pass(tmp_path: Path, synthetic_root: Path) -> None:
    document, out = _validate(tmp_path, _dataset(tmp_path, synthetic_root), expected=0)
    assert not _errors(document)


def test_a_link_out_of_the_dataset_is_reported_never_read(tmp_path: Path, synthetic_root: Path) -> None:
    root = _dataset(tmp_path, synthetic_root)
    secret = tmp_path / "secret.png"
    secret.write_text(SECRET)
    (root / "healthy/masks/a.png").unlink()
    os.symlink(secret, root / "healthy/masks/a.png")
    (root / "healthy/masks/b.png").rename(root / "b_mask.png")  # a link that stays inside the dataset is fine
    os.symlink(root / "b_mask.png", root / "healthy/masks/b.png")
    document, out = _validate(tmp_path, root)
    assert _errors(document)["symlink_outside_root"] == {"healthy/masks/a.png"}  # b's link stays inside: fine
    for report in ("validate-masks.json", "validate-masks.md", "validate-masks.html"):
        text = (out / report).read_text()
        assert SECRET not in text and SECRET[:8] not in text and str(secret) not in text


def test_html_in_file_names_is_escaped_in_every_report(tmp_path: Path, synthetic_root: Path) -> None:
    root = _dataset(tmp_path, synthetic_root, stems=(FILE_SAFE_HTML, "b"))
    (root / "healthy/masks/b.png").write_bytes(b"")  # a finding whose example is the other sample
    (root / "healthy/masks" / f"{FILE_SAFE_HTML}.png").write_bytes(b"\x89PNG\r\n\x1a\n<script>alert(1)</script>")
    document, out = _validate(tmp_path, root)
    assert any(FILE_SAFE_HTML in f["path"] for f in document["findings"])  # the JSON keeps the name as it is
    for report in ("validate-masks.md", "validate-masks.html"):
        text = (out / report).read_text()
        assert "<img src=x" not in text and "<script" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in (out / "validate-masks.md").read_text()
    assert all("<" not in p.name for p in (out / "validate-masks_thumbs").glob("*"))
    assert str(tmp_path) not in (out / "validate-masks.md").read_text()  # the heading names the folder only
