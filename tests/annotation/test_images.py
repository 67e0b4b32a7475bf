"""IMAGES input: folders searched recursively, manifests, unique stems, decoding by content."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from annotation.images import ImageItem, list_images, load_rgb, unique_stems
from rbc_dataset.errors import DataError
from rbc_dataset.fileio import encode_png
from rbc_dataset.manifest import write_manifest


def _write(path: Path, array: np.ndarray | None = None, ext: str = ".png") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.full((8, 10, 3), 200, np.uint8) if array is None else array
    if ext == ".png":
        path.write_bytes(encode_png(array))
    else:
        ok, data = cv2.imencode(ext, array)
        assert ok
        path.write_bytes(data.tobytes())
    return path


def test_folder_is_searched_recursively_in_sorted_order(tmp_path: Path) -> None:
    _write(tmp_path / "b" / "2.png")
    _write(tmp_path / "a" / "1.JPG", ext=".jpg")
    _write(tmp_path / "c.tif", ext=".tif")
    _write(tmp_path / ".hidden" / "x.png")  # hidden folders are skipped
    (tmp_path / "notes.txt").write_text("not an image")
    items = list_images(tmp_path)
    assert [i.stem for i in items] == ["1", "2", "c"]
    assert all(isinstance(i, ImageItem) and i.path.is_absolute() and i.sample_id is None for i in items)


def test_shared_stems_get_their_closest_distinct_folders(tmp_path: Path) -> None:
    _write(tmp_path / "Anemic_individuals" / "Original_images" / "001.png")
    _write(tmp_path / "Healthy_individuals" / "Original_images" / "001.png")
    _write(tmp_path / "other" / "002.png")
    stems = [i.stem for i in list_images(tmp_path)]
    assert stems == ["Anemic_individuals__Original_images__001", "Healthy_individuals__Original_images__001", "002"]


def test_unique_stems_rule_handles_extension_only_and_collisions() -> None:
    stems = unique_stems([Path("a/x.png"), Path("a/x.jpg"), Path("b/1.png"), Path("c/1.png"), Path("b__1.png")])
    assert stems[:2] == ["a__x_png", "a__x_jpg"]
    assert stems[2:4] == ["b__1", "c__1"]
    assert len(set(stems)) == len(stems)  # "b__1" of the last file gets a suffix


def test_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="nothing at this path"):
        list_images(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(DataError, match=r"no images \(png, jpg"):
        list_images(tmp_path / "empty")
    (tmp_path / "list.csv").write_text("a,b\n")
    with pytest.raises(DataError, match="manifest"):
        list_images(tmp_path / "list.csv")


def test_manifest_rows_give_ids_classes_and_masks(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _write(root / "img" / "001_a.png")
    _write(root / "img" / "001_h.png")
    rows = [
        {"sample_id": "s_h", "class_name": "healthy", "root": str(root), "image_path": "img/001_h.png"},
        {"sample_id": "s_a", "class_name": "anemic", "root": str(root), "image_path": "img/001_a.png",
         "mask_path": "masks/001_a.png"},
        {"sample_id": "s_none", "class_name": "anemic", "root": str(root)},  # no image: skipped
    ]  # fmt: skip
    manifest = tmp_path / "m.parquet"
    write_manifest(rows, manifest, metadata={}, report={})
    items = list_images(manifest)
    assert [(i.sample_id, i.stem, i.class_name) for i in items] == [
        ("s_a", "001_a", "anemic"),
        ("s_h", "001_h", "healthy"),
    ]
    assert items[0].mask_path == root / "masks" / "001_a.png" and items[1].mask_path is None


def test_manifest_without_image_paths_is_refused(tmp_path: Path) -> None:
    manifest = tmp_path / "m.parquet"
    write_manifest([{"sample_id": "x", "root": str(tmp_path)}], manifest, metadata={}, report={})
    with pytest.raises(DataError, match="none with an image path"):
        list_images(manifest)


def test_load_rgb_decodes_by_content_and_names_bad_files(tmp_path: Path) -> None:
    png_named_jpg = _write(tmp_path / "707.jpg", np.full((5, 6, 3), (10, 20, 30), np.uint8))
    rgb = load_rgb(png_named_jpg)
    assert rgb.shape == (5, 6, 3) and tuple(rgb[0, 0]) == (10, 20, 30)
    grey = tmp_path / "g.png"
    grey.write_bytes(encode_png(np.full((4, 4), 77, np.uint8)))
    assert load_rgb(ImageItem("g", grey)).shape == (4, 4, 3)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(DataError, match="broken.png"):
        load_rgb(broken)
    with pytest.raises(DataError, match="no such file"):
        load_rgb(tmp_path / "gone.png")
