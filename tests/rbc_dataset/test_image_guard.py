"""fileio's one check before every decode: empty, unknown, truncated, too large and undecodable files are refused
with a DataError naming the file, never an OpenCV traceback; links out of a dataset root are recognised."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from rbc_dataset.errors import DataError
from rbc_dataset.fileio import (
    MAX_PIXELS,
    ImageRefused,
    decode_image,
    encode_png,
    image_header,
    link_leaves,
    read_image,
    write_png,
)
from rbc_dataset.validate.config import ValidateConfig
from tests.helpers.hostile_images import forbid_decoding, png_bomb


def _refused(path: Path, **kwargs) -> ImageRefused:
    with pytest.raises(ImageRefused) as caught:
        read_image(path, **kwargs)
    assert isinstance(caught.value, DataError) and str(path) in str(caught.value)
    return caught.value


def test_a_clean_image_decodes_in_rgb_order(tmp_path: Path) -> None:
    image = np.zeros((4, 5, 3), np.uint8)
    image[..., 0] = 200  # red
    write_png(tmp_path / "x.png", image)
    assert np.array_equal(read_image(tmp_path / "x.png"), image)
    header = image_header((tmp_path / "x.png").read_bytes(), "x")
    assert (header.format, header.width, header.height, header.mode) == ("png", 5, 4, "RGB")


def test_zero_byte_file_is_refused_not_an_opencv_assertion(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    refused = _refused(tmp_path / "empty.png")
    assert refused.code == "empty_file" and "0 bytes" in refused.found and refused.fix


def test_bomb_is_refused_from_its_header_without_decoding(tmp_path: Path, monkeypatch) -> None:
    for side in (30_000, 40_000):  # 40,000² is beyond OpenCV's own limit: a cv2.error traceback before
        path = tmp_path / f"bomb{side}.png"
        path.write_bytes(png_bomb(side))
        forbid_decoding(monkeypatch, png_bomb(side))
        refused = _refused(path)
        assert refused.code == "too_many_pixels" and f"{side}x{side}" in refused.found
        assert f"{MAX_PIXELS:,}" in refused.expected


def test_one_limit_shared_with_validate_and_raisable(tmp_path: Path) -> None:
    assert ValidateConfig().max_pixels == MAX_PIXELS
    write_png(tmp_path / "x.png", np.zeros((100, 100), np.uint8))
    assert _refused(tmp_path / "x.png", max_pixels=9_999).code == "too_many_pixels"
    assert read_image(tmp_path / "x.png", max_pixels=10_000).shape == (100, 100)


def test_not_an_image_never_quotes_the_file(tmp_path: Path) -> None:
    (tmp_path / "x.png").write_text("SECRET-TOKEN in a text file")
    refused = _refused(tmp_path / "x.png")
    assert refused.code == "not_an_image" and "SECRET" not in str(refused)


def test_truncated_missing_and_undecodable(tmp_path: Path) -> None:
    data = encode_png(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8))
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    assert _refused(tmp_path / "cut.png").code == "truncated_file"
    assert "no such file" in str(_refused(tmp_path / "missing.png"))
    broken = data[:60] + bytes(len(data) - 72) + data[-12:]  # header and IEND kept, pixel data zeroed
    (tmp_path / "broken.png").write_bytes(broken)
    assert _refused(tmp_path / "broken.png").code in ("undecodable_file", "unreadable_file")


def test_opencv_errors_become_refusals(monkeypatch) -> None:
    data = encode_png(np.zeros((8, 8), np.uint8))

    def failing(buffer, flags):
        raise cv2.error("OpenCV(5) loadsave.cpp: error: (-215:Assertion failed) something")

    monkeypatch.setattr(cv2, "imdecode", failing)
    with pytest.raises(ImageRefused, match="an OpenCV error"):
        decode_image(data, "where.png")


def test_refusals_survive_a_worker_process_round_trip() -> None:
    import pickle

    refused = ImageRefused("empty_file", "a.png", "bytes", "an empty file", "fix it")
    again = pickle.loads(pickle.dumps(refused))
    assert again.code == "empty_file" and str(again) == str(refused)


def test_link_leaves_only_for_links_out_of_the_root(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside.txt"
    (root / "sub").mkdir(parents=True)
    outside.write_text("secret")
    (root / "inside.png").write_bytes(b"x")
    os.symlink(outside, root / "out.png")
    os.symlink(root / "inside.png", root / "sub" / "in.png")
    os.symlink(tmp_path, root / "dir_out")  # a folder link: files under it leave the root too
    os.symlink("loop", root / "loop")
    assert link_leaves(root / "out.png", root)
    assert link_leaves(root / "dir_out" / "outside.txt", root)
    assert not link_leaves(root / "sub" / "in.png", root)
    assert not link_leaves(root / "inside.png", root)
    assert not link_leaves(outside, root)  # outside by name: a metadata CSV's own choice, judged elsewhere
    assert not link_leaves(root / "loop", root)  # reading it fails and says so


def test_shard_bytes_go_through_the_same_check(monkeypatch) -> None:
    from rbc_dataset.loaders.decode import decode_image as decode_shard_image
    from rbc_dataset.loaders.decode import decode_mask

    forbid_decoding(monkeypatch, png_bomb())
    for data in (b"", png_bomb()):  # an empty cell was an OpenCV assertion; a bomb was decoded
        for decode in (decode_shard_image, decode_mask):
            with pytest.raises(DataError, match="train\\[3\\]"):
                decode(data, "tiles/train[3]")
