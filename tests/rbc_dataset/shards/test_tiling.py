"""Tiling: grid boxes, size checks, tile_dataset against the synthetic AneRBC-II, and the release tile comparison."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from rbc_dataset.errors import DataError, UsageError
from rbc_dataset.fileio import read_image, write_png
from rbc_dataset.ingestion import ingest
from rbc_dataset.layout import DATASET_FOLDER, KIND_FOLDERS, role_folder
from rbc_dataset.manifest import read_manifest
from rbc_dataset.shards.tiling import TileGrid, compare_release_tiles, cut_tiles, tile_dataset
from rbc_dataset.sources import load_source
from rbc_dataset.synth.config import SynthConfig
from rbc_dataset.synth.generate import synthesize
from tests.helpers import tree_hashes

SMALL = TileGrid(cols=2, rows=3, width=20, height=10)  # parents of 40 x 30


def release_files(root: Path, folder: str) -> list[Path]:
    """AneRBC-II files of one role folder (Original_images, Binary_segmented, ...), relative to root."""
    tiles = root / DATASET_FOLDER / KIND_FOLDERS["II"]
    return sorted(p.relative_to(root) for p in tiles.glob(f"*/{folder}/*") if p.is_file())


def assert_same_pixels(a: Path, b: Path) -> None:
    assert np.array_equal(read_image(a), read_image(b)), f"{a} differs from {b}"


@pytest.fixture(scope="module")
def tiled(synthetic_root: Path, tmp_path_factory) -> tuple:
    """tile_dataset on the row-major synthetic set, with the input's file hashes before and after."""
    before = tree_hashes(synthetic_root)
    out = tmp_path_factory.mktemp("tiled") / "tiles"
    result = tile_dataset(synthetic_root, out, workers=1, show_progress=False)
    return result, out, before, tree_hashes(synthetic_root)


@pytest.fixture(scope="module")
def column_major_root(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("column_major") / "data"
    synthesize(SynthConfig(n_images=1, seed=5, tile_order="column-major", workers=1), out, show_progress=False)
    return out


@pytest.fixture(scope="module")
def tampered_rows(synthetic_root: Path, tmp_path_factory) -> tuple[pd.DataFrame, dict[str, str]]:
    """The synthetic set with one tile's pixels changed, one tile of the wrong size and one cut-off tile."""
    root = tmp_path_factory.mktemp("tampered") / "data"
    shutil.copytree(synthetic_root, root)
    folder = role_folder(root, "II", cls="anemic", role="image")
    changed = read_image(folder / "0001_05_a.png")
    changed[10:20, 30:40] = 255 - changed[10:20, 30:40]
    write_png(folder / "0001_05_a.png", changed)
    write_png(folder / "0002_03_a.png", read_image(folder / "0002_03_a.png")[:300, :300])
    cut = folder / "0002_07_a.png"
    cut.write_bytes(cut.read_bytes()[:200])
    rel = {name: (folder / name).relative_to(root).as_posix() for name in ("0001_05_a.png", "0002_03_a.png")}
    rel["cut"] = cut.relative_to(root).as_posix()
    return load_source(root, workers=1).rows, rel


@pytest.fixture()
def own_folder(tmp_path: Path) -> Path:
    """A user's folder layout: two classes, 40 x 30 images with 0/255 masks (fits SMALL)."""
    rng = np.random.default_rng(0)
    for cls in ("healthy", "anemic"):
        for name in ("s1", "s2"):
            (tmp_path / "own" / cls / "images").mkdir(parents=True, exist_ok=True)
            (tmp_path / "own" / cls / "masks").mkdir(parents=True, exist_ok=True)
            write_png(tmp_path / "own" / cls / "images" / f"{name}.png", rng.integers(0, 256, (30, 40, 3), np.uint8))
            write_png(tmp_path / "own" / cls / "masks" / f"{name}.png", rng.integers(0, 2, (30, 40), np.uint8) * 255)
    return tmp_path / "own"


# ---------------------------------------------------------------- grid and cutting


@pytest.mark.parametrize(
    ("order", "index", "row", "col"),
    [("row-major", 2, 0, 1), ("row-major", 3, 1, 0), ("column-major", 2, 1, 0), ("column-major", 4, 0, 1)],
)
def test_cut_tiles_positions_in_both_orders(order: str, index: int, row: int, col: int) -> None:
    grid = TileGrid(cols=2, rows=3, width=20, height=10, order=order)
    array = np.arange(30 * 40 * 3, dtype=np.int32).reshape(30, 40, 3)
    tiles = cut_tiles(array, grid=grid)
    assert [box.index for box, _ in tiles] == list(range(1, 7))
    box, tile = tiles[index - 1]
    assert (box.row, box.col, box.x, box.y) == (row, col, col * 20, row * 10)
    assert tile.shape == (10, 20, 3) and np.array_equal(tile, array[row * 10 : row * 10 + 10, col * 20 : col * 20 + 20])
    assert tile.flags.c_contiguous
    tile[:] = -1  # a copy: the caller may keep or change it
    assert array.min() == 0


def test_default_grid_is_anerbc_ii() -> None:
    grid = TileGrid()
    assert grid.parent_size == (1224, 960) and grid.n_tiles == 12
    tiles = cut_tiles(np.zeros((960, 1224), np.uint8))
    assert len(tiles) == 12 and all(tile.shape == (320, 306) for _, tile in tiles)
    assert (tiles[-1][0].x, tiles[-1][0].y) == (918, 640)


@pytest.mark.parametrize(("field", "value"), [("cols", 0), ("height", -3), ("width", 2.5), ("order", "diagonal")])
def test_bad_grid_is_a_usage_error(field: str, value) -> None:
    with pytest.raises(UsageError, match=field if field != "order" else "row-major, column-major"):
        TileGrid(**{field: value})


def test_wrong_size_names_the_file() -> None:
    with pytest.raises(DataError) as caught:
        cut_tiles(np.zeros((300, 300, 3), np.uint8), path=Path("some/dir/007_a.png"))
    message = str(caught.value)
    assert "some/dir/007_a.png" in message and "1224x960" in message and "300x300" in message


# ---------------------------------------------------------------- tile_dataset on the synthetic release


def test_tiles_reproduce_the_release_pixel_for_pixel(tiled, synthetic_root: Path) -> None:
    result, out, _, _ = tiled
    assert (result.n_parents, result.n_tiles, result.order) == (4, 48, "row-major")
    for folder in ("Original_images", "Binary_segmented", "RGB_segmented"):
        expected = release_files(synthetic_root, folder)
        assert len(expected) == 48 and release_files(out, folder) == expected
        for rel in expected:
            assert_same_pixels(synthetic_root / rel, out / rel)
    for folder in ("CBC_reports", "Morphology_reports"):
        expected = release_files(synthetic_root, folder)
        assert len(expected) == 4 and release_files(out, folder) == expected
        assert all((synthetic_root / rel).read_bytes() == (out / rel).read_bytes() for rel in expected)


def test_release_comparison_of_a_clean_set(tiled) -> None:
    comparison = tiled[0].comparison
    assert (comparison.compared, comparison.matched, comparison.mismatched) == (48, 48, 0)
    assert (comparison.without_parent, comparison.unreadable, comparison.order) == (0, 0, "row-major")
    assert comparison.issues == []


def test_tile_table_config_and_clean_reingest(tiled, synthetic_root: Path, tmp_path: Path) -> None:
    result, out, _, _ = tiled
    table = pd.read_csv(out / "tiles.csv")
    tile = table.set_index("sample_id").loc["anerbc2_h_0002_06"]
    assert len(table) == 48 and tile["parent_id"] == "anerbc1_h_002"
    assert (tile["row"], tile["col"], tile["x"], tile["y"], tile["width"], tile["order"]) == (
        1,
        1,
        306,
        320,
        306,
        "row-major",
    )
    config = json.loads((out / "tile_config.json").read_text())
    assert config["grid"]["order"] == "row-major" and config["order_how"] == "detected"
    assert config["release_comparison"]["matched"] == 48
    again = ingest(out, out=tmp_path / "m.parquet", workers=1, show_progress=False)
    rows = read_manifest(again.manifest_path)
    assert not [i for i in again.issues if i.severity == "error"]
    assert set(rows["source"]) == {"AneRBC-II"} and set(rows["sample_id"]) == set(table["sample_id"])
    assert rows["cbc_HGB"].notna().all()  # per-parent reports are found again


def test_input_is_never_written(tiled) -> None:
    _, _, before, after = tiled
    assert before == after


def test_column_major_input_is_detected_and_matched(column_major_root: Path, tmp_path: Path) -> None:
    result = tile_dataset(column_major_root, tmp_path / "tiles", workers=2, show_progress=False)
    assert result.order == "column-major" and result.n_tiles == 24
    assert (result.comparison.matched, result.comparison.mismatched) == (24, 0)
    expected = release_files(column_major_root, "Original_images")
    assert release_files(tmp_path / "tiles", "Original_images") == expected
    for rel in expected:
        assert_same_pixels(column_major_root / rel, tmp_path / "tiles" / rel)


def test_an_explicit_order_overrides_the_detected_one(column_major_root: Path, tmp_path: Path) -> None:
    result = tile_dataset(column_major_root, tmp_path / "tiles", grid=TileGrid(), workers=1, show_progress=False)
    assert result.order == "row-major"
    assert result.comparison.matched == 24  # the release's own tiles are still compared in their detected order
    rel = role_folder(Path(), "II", cls="anemic", role="image") / "0001_02_a.png"
    release, ours = read_image(column_major_root / rel), read_image(tmp_path / "tiles" / rel)
    parent = read_image(role_folder(column_major_root, "I", cls="anemic", role="image") / "001_a.png")
    assert np.array_equal(ours, parent[:320, 306:612]) and not np.array_equal(ours, release)


# ---------------------------------------------------------------- the release comparison catches bad tiles


def test_comparison_catches_changed_wrong_size_and_unreadable_tiles(tampered_rows) -> None:
    rows, rel = tampered_rows
    comparison = compare_release_tiles(rows, workers=1)
    assert (comparison.compared, comparison.matched, comparison.mismatched) == (47, 45, 2)
    assert comparison.unreadable == 1 and comparison.without_parent == 0
    by_path = {issue.path: issue for issue in comparison.issues}
    changed = by_path[rel["0001_05_a.png"]]
    assert changed.code == "tile_mismatch" and changed.severity == "error" and changed.sample_id == "anerbc2_a_0001_05"
    assert "tile 05 of " in changed.expected and "001_a.png in row-major order" in changed.expected
    assert changed.found.startswith("100 of 97920 pixels differ (max difference ")  # all of the inverted 10 x 10
    assert by_path[rel["0002_03_a.png"]].found == "a 300x300 image"
    assert by_path[rel["cut"]].code == "tile_unreadable"


def test_comparison_in_parallel_gives_the_same_findings(tampered_rows) -> None:
    rows, _ = tampered_rows
    serial, parallel = compare_release_tiles(rows, workers=1), compare_release_tiles(rows, workers=2)
    assert serial == parallel


def test_tiles_without_their_parent_are_counted_not_compared(tampered_rows) -> None:
    rows, _ = tampered_rows
    comparison = compare_release_tiles(rows[rows["source"] == "AneRBC-II"], workers=1)
    assert comparison.compared == 0 and comparison.without_parent == 48 and comparison.order is None


# ---------------------------------------------------------------- folder layouts, refusals


def test_folder_layout_round_trip_with_a_custom_grid(own_folder: Path, tmp_path: Path) -> None:
    before = tree_hashes(own_folder)
    result = tile_dataset(own_folder, tmp_path / "tiles", grid=SMALL, workers=1, show_progress=False)
    assert (result.n_parents, result.n_tiles, result.comparison) == (4, 24, None)
    image = read_image(own_folder / "anemic" / "images" / "s2.png")
    mask = read_image(own_folder / "anemic" / "masks" / "s2.png", flags=cv2.IMREAD_UNCHANGED)
    assert np.array_equal(read_image(tmp_path / "tiles" / "anemic" / "images" / "s2_04.png"), image[10:20, 20:40])
    assert np.array_equal(read_image(tmp_path / "tiles" / "anemic" / "masks" / "s2_04.png"), mask[10:20, 20:40])
    again = ingest(tmp_path / "tiles", out=tmp_path / "m.parquet", workers=1, show_progress=False)
    rows = read_manifest(again.manifest_path)
    table = pd.read_csv(tmp_path / "tiles" / "tiles.csv")
    assert again.layout == "folder" and len(rows) == 24 and rows["mask_path"].notna().all()
    assert set(rows["sample_id"]) == set(table["sample_id"]) and "folder_anemic_s2_04" in set(table["sample_id"])
    assert tree_hashes(own_folder) == before


def test_a_manifest_is_accepted_as_input(own_folder: Path, tmp_path: Path) -> None:
    manifest = ingest(own_folder, out=tmp_path / "m.parquet", workers=1, show_progress=False).manifest_path
    result = tile_dataset(manifest, tmp_path / "tiles", grid=SMALL, workers=1, show_progress=False)
    assert result.n_tiles == 24 and (tmp_path / "tiles" / "healthy" / "images" / "s1_06.png").is_file()


def test_a_full_image_of_the_wrong_size_is_refused(own_folder: Path, tmp_path: Path) -> None:
    write_png(own_folder / "healthy" / "images" / "odd.png", np.zeros((31, 40, 3), np.uint8))
    with pytest.raises(DataError, match=r"odd\.png.*40x30.*40x31"):
        tile_dataset(own_folder, tmp_path / "tiles", grid=SMALL, workers=1, show_progress=False)
    assert not (tmp_path / "tiles").exists()


def test_existing_output_is_refused_without_overwrite(own_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "tiles"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(UsageError, match="overwrite"):
        tile_dataset(own_folder, out, grid=SMALL, workers=1, show_progress=False)
    assert (out / "keep.txt").is_file()
    tile_dataset(own_folder, out, grid=SMALL, overwrite=True, workers=1, show_progress=False)
    assert not (out / "keep.txt").exists() and (out / "tiles.csv").is_file()


def test_output_inside_the_input_is_refused(own_folder: Path) -> None:
    before = tree_hashes(own_folder)
    with pytest.raises(UsageError, match="inside the input"):
        tile_dataset(own_folder, own_folder / "tiles", grid=SMALL, workers=1, show_progress=False)
    assert tree_hashes(own_folder) == before and not (own_folder / "tiles").exists()
