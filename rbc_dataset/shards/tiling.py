"""Cut full images into an AneRBC-II-style tile grid, and check a release's own tiles against their parents.

``tile_dataset`` is the library side of ``rbc-dataset tile ROOT|MANIFEST --out DIR``: every full image (AneRBC-I,
or an image of a user's folder layout) is cut into a grid of tiles, its masks with it (raw masks stay raw: this
is a layout conversion, not a clean-up), and written in a layout that ``rbc-dataset ingest`` reads back.
``compare_release_tiles`` cuts each AneRBC-I parent again and compares the release's AneRBC-II tiles with
the crops pixel for pixel. Workers decode and write images themselves; only small dicts cross processes.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from rbc_dataset import __version__
from rbc_dataset.errors import DataError, UsageError, check_choice
from rbc_dataset.fileio import (
    PNG_PARAMS,
    ImageRefused,
    atomic_directory,
    atomic_write_bytes,
    check_output_outside,
    read_image,
    write_png,
)
from rbc_dataset.issues import Issue
from rbc_dataset.layout import (
    IMAGE_ROLES,
    REPORT_ROLES,
    TILE_COLS,
    TILE_HEIGHT,
    TILE_ORDERS,
    TILE_ROWS,
    TILE_WIDTH,
    TileBox,
    image_stem,
    report_stem,
    role_folder,
    sample_id,
    tile_box,
)
from rbc_dataset.manifest import absolute_path
from rbc_dataset.parallel import opencv_single_thread, process_pool, worker_count
from rbc_dataset.progress import track
from rbc_dataset.sources import load_source

CHUNK = 4  # parents per worker task: a parent with its two masks is ~10 MB decoded
FORMAT_VERSION = 1  # of tile_config.json
# Role folders of tiles cut from a user's folder layout (names that rbc_dataset/ingestion/folder.py reads back).
FOLDER_ROLE_FOLDERS = {"image": "images", "mask": "masks", "rgb_mask": "rgb_masks"}
TILES_CSV_COLUMNS = ["sample_id", "parent_id", "tile_index", "row", "col", "x", "y", "width", "height", "order"]
MISMATCH_FIX = "re-cut the tiles with `rbc-dataset tile` or drop AneRBC-II from the input"


@dataclass(frozen=True)
class TileGrid:
    """A grid of equal tiles over a parent image (default: AneRBC-II's 4 x 3 tiles of 306 x 320)."""

    cols: int = TILE_COLS  # tiles across
    rows: int = TILE_ROWS  # tiles down
    width: int = TILE_WIDTH  # tile width in pixels
    height: int = TILE_HEIGHT  # tile height in pixels
    order: str = "row-major"  # numbering of tiles 01..NN: row-major (left to right first) or column-major

    def __post_init__(self) -> None:
        for name in ("cols", "rows", "width", "height"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UsageError(f"tile grid {name} must be a positive integer, got {value!r}")
        check_choice("tile order", self.order, choices=TILE_ORDERS)

    @property
    def parent_size(self) -> tuple[int, int]:
        """(width, height) of the images this grid tiles exactly."""
        return self.width * self.cols, self.height * self.rows

    @property
    def n_tiles(self) -> int:
        return self.cols * self.rows

    def boxes(self) -> list[TileBox]:
        """Boxes of tiles 1..n_tiles in file-name order."""
        return [
            tile_box(i, order=self.order, cols=self.cols, rows=self.rows, width=self.width, height=self.height)
            for i in range(1, self.n_tiles + 1)
        ]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TileComparison:
    """How a release's AneRBC-II tiles compare with crops of their AneRBC-I parents."""

    compared: int  # tiles compared with the crop of their parent (matched + mismatched)
    matched: int  # identical pixel for pixel
    mismatched: int  # different pixels or a different size
    without_parent: int  # tiles whose AneRBC-I parent is not in the input (not compared)
    unreadable: int  # tiles not compared because the tile or its parent does not decode
    order: str | None  # order the tiles were cut in (the rows' detected tile_order, else the default); None: no tile
    issues: list[Issue]  # one tile_mismatch / tile_unreadable error per tile that does not match

    def to_dict(self) -> dict:
        counts = {k: getattr(self, k) for k in ("compared", "matched", "mismatched", "without_parent", "unreadable")}
        return {**counts, "order": self.order, "issues": [issue.to_dict() for issue in self.issues]}


@dataclass(frozen=True)
class TileResult:
    """What ``tile_dataset`` wrote."""

    out: Path  # the output folder
    n_parents: int  # full images cut
    n_tiles: int  # tile samples written (n_parents x tiles per parent; each with the masks its parent has)
    order: str  # tile numbering used
    comparison: TileComparison | None  # the input's own AneRBC-II tiles against their parents, when it has some
    seconds: float


def check_tileable(shape: tuple[int, ...], grid: TileGrid, *, path: str | Path | None = None) -> None:
    """Raise a DataError naming ``path`` unless an array of ``shape`` is exactly the grid's parent size."""
    width, height = grid.parent_size
    if tuple(shape[:2]) != (height, width):
        raise DataError(
            path,
            f"an image of {width}x{height} ({grid.cols} x {grid.rows} tiles of {grid.width} x {grid.height})",
            f"an image of {shape[1]}x{shape[0]}",
            "tile only full images of that size, or choose a tile grid that covers it exactly",
        )


def cut_tiles(array: np.ndarray, *, grid: TileGrid | None = None, path: str | Path | None = None):
    """Cut an (H, W) or (H, W, C) array into the grid's tiles.

    Args:
        array: the full image or mask.
        grid: the tile grid (default: AneRBC-II's, row-major).
        path: the file the array came from, named in the error when its size does not fit the grid.

    Returns:
        ``[(TileBox, tile), ...]`` in tile-index order; tiles are contiguous copies, safe to keep.
    """
    grid = grid or TileGrid()
    check_tileable(array.shape, grid, path=path)
    return [
        (box, np.ascontiguousarray(array[box.y : box.y + box.height, box.x : box.x + box.width]))
        for box in grid.boxes()
    ]


def detected_tile_order(rows: pd.DataFrame) -> str | None:
    """Most common ``tile_order`` of the AneRBC-II rows (as ingest detected or was given it), or None."""
    if "tile_order" not in rows or rows.empty:
        return None
    orders = rows.loc[rows["source"] == "AneRBC-II", "tile_order"].dropna()
    return Counter(orders).most_common(1)[0][0] if len(orders) else None


def _is_set(value) -> bool:
    return value is not None and not pd.isna(value)


def _is_full_image(row: dict) -> bool:
    """A row of a whole image (not a tile) that has an image file."""
    return not _is_set(row["tile_index"]) and _is_set(row["image_path"])


# ---------------------------------------------------------------- comparing a release's tiles with their parents


def _rgb(path: str) -> np.ndarray | None:
    try:
        return read_image(Path(path), flags=cv2.IMREAD_COLOR)
    except ImageRefused:  # reported as an unreadable tile or parent
        return None


def _compare_tile(parent: np.ndarray, tile: np.ndarray, box: TileBox) -> str | None:
    """None when the tile equals its crop of the parent; else what was found instead."""
    if tile.shape[:2] != (box.height, box.width):
        return f"a {tile.shape[1]}x{tile.shape[0]} image"
    crop = parent[box.y : box.y + box.height, box.x : box.x + box.width]
    if crop.shape != tile.shape:
        return f"a parent of {parent.shape[1]}x{parent.shape[0]} that does not contain the tile's box"
    if np.array_equal(crop, tile):
        return None
    diff = np.abs(crop.astype(np.int16) - tile.astype(np.int16)).max(axis=2)
    return f"{int(np.count_nonzero(diff))} of {diff.size} pixels differ (max difference {int(diff.max())})"


@opencv_single_thread()
def compare_parent_chunk(tasks: list[dict]) -> list[dict]:
    """Worker task: decode each parent once and compare its tiles; one small dict per tile."""
    results = []
    for task in tasks:
        parent = _rgb(task["parent"])
        for tile in task["tiles"]:
            result = {key: tile[key] for key in ("rel", "index", "order", "sample_id")} | {"parent": task["parent_rel"]}
            pixels = None if parent is None else _rgb(tile["path"])
            if parent is None or pixels is None:
                result |= {"status": "unreadable", "file": task["parent_rel"] if parent is None else tile["rel"]}
            else:
                found = _compare_tile(parent, pixels, tile_box(tile["index"], order=tile["order"]))
                result |= {"status": "matched" if found is None else "mismatched", "found": found}
            results.append(result)
    return results


def _comparison_tasks(rows: pd.DataFrame, default_order: str) -> tuple[list[dict], int]:
    """Tiles grouped by parent (one task per parent), and the number of tiles without a parent in ``rows``."""
    records = rows.to_dict("records")
    full = [r for r in records if r["source"] == "AneRBC-I" and _is_full_image(r)]
    by_id = {r["sample_id"]: r for r in full}
    by_key = {(r["class_name"], int(r["number"])): r for r in full if _is_set(r["number"])}
    tasks: dict[str, dict] = {}
    without_parent = 0
    for tile in records:
        if tile["source"] != "AneRBC-II" or not _is_set(tile["tile_index"]) or not _is_set(tile["image_path"]):
            continue
        key = (tile["class_name"], int(tile["number"])) if _is_set(tile["number"]) else None
        parent = (by_id.get(tile["parent_id"]) if _is_set(tile["parent_id"]) else None) or by_key.get(key)
        if parent is None:
            without_parent += 1
            continue
        task = tasks.setdefault(
            parent["sample_id"],
            {"parent": str(absolute_path(parent, "image")), "parent_rel": parent["image_path"], "tiles": []},
        )
        order = tile["tile_order"] if _is_set(tile["tile_order"]) else default_order
        entry = {"path": str(absolute_path(tile, "image")), "rel": tile["image_path"], "order": order}
        task["tiles"].append({**entry, "index": int(tile["tile_index"]), "sample_id": tile["sample_id"]})
    return [tasks[k] for k in sorted(tasks)], without_parent


def _run_chunks(work, items: list, *, workers: int, description: str, show_progress: bool) -> list:
    """Run ``work`` over chunks of ``items`` (inline for one worker or one chunk) and flatten the results."""
    workers = worker_count(workers)
    size = max(1, min(CHUNK, -(-len(items) // workers)))
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    if workers == 1 or len(chunks) <= 1:
        batches = track(
            map(work, chunks), len(items), description=description, show=show_progress, sizes=map(len, chunks)
        )
        return [result for batch in batches for result in batch]
    with process_pool(min(workers, len(chunks))) as pool:
        batches = track(
            pool.map(work, chunks), len(items), description=description, show=show_progress, sizes=map(len, chunks)
        )
        return [result for batch in batches for result in batch]


def _comparison_issue(r: dict) -> Issue:
    if r["status"] == "unreadable":
        found, fix = "a file that does not decode, so the tile was not compared", "re-download or re-export this file"
        return Issue(
            "tile_unreadable",
            "error",
            path=r["file"],
            expected="a decodable image",
            found=found,
            fix=fix,
            sample_id=r["sample_id"],
        )
    expected = f"tile {r['index']:02d} of {r['parent']} in {r['order']} order, pixel for pixel"
    return Issue(
        "tile_mismatch",
        "error",
        path=r["rel"],
        expected=expected,
        found=r["found"],
        fix=MISMATCH_FIX,
        sample_id=r["sample_id"],
    )


def compare_release_tiles(
    rows: pd.DataFrame, *, grid_order_default: str = "row-major", workers: int = 0, show_progress: bool = False
) -> TileComparison:
    """Compare every AneRBC-II tile whose AneRBC-I parent is in ``rows`` with its crop of the parent.

    Tiles are cut at AneRBC-II's fixed size (306 x 320) in the order recorded in each row's ``tile_order``.

    Args:
        rows: manifest rows (``rbc_dataset.manifest.read_manifest``); parents match by parent_id or (class, number).
        grid_order_default: order for tiles whose row has no detected ``tile_order``.
        workers: processes (0 = all cores); each task decodes a few parents once and compares their tiles.
        show_progress: draw a progress bar.
    """
    check_choice("tile order", grid_order_default, choices=TILE_ORDERS)
    tasks, without_parent = _comparison_tasks(rows, grid_order_default)
    results = _run_chunks(
        compare_parent_chunk, tasks, workers=workers, description="compare tiles", show_progress=show_progress
    )
    status = Counter(r["status"] for r in results)
    orders = Counter(r["order"] for r in results)
    matched, mismatched, order = (
        status["matched"],
        status["mismatched"],
        orders.most_common(1)[0][0] if orders else None,
    )
    issues = [_comparison_issue(r) for r in results if r["status"] != "matched"]
    return TileComparison(
        matched + mismatched,
        matched,
        mismatched=mismatched,
        without_parent=without_parent,
        unreadable=status["unreadable"],
        order=order,
        issues=issues,
    )


# ---------------------------------------------------------------- cutting a dataset into tiles


def _full_image_rows(rows: pd.DataFrame) -> list[dict]:
    """Rows of full images with an image file (AneRBC-I or folder layouts), by sample id."""
    records = rows.sort_values("sample_id").to_dict("records")
    return [r for r in records if r["source"] in ("AneRBC-I", "folder") and _is_full_image(r)]


def _check_sizes(parents: list[dict], grid: TileGrid) -> None:
    """Refuse, before writing anything, a parent whose manifest size does not fit the grid."""
    for row in parents:
        for role, keys in (("image", ("width", "height")), ("mask", ("mask_width", "mask_height"))):
            if not _is_set(row[f"{role}_path"]):
                continue
            width, height = row[keys[0]], row[keys[1]]
            if not (_is_set(width) and _is_set(height)):
                raise DataError(
                    absolute_path(row, role),
                    "a readable image",
                    "a file whose size could not be read at ingest",
                    "re-download or re-export this file, or leave the sample out",
                )
            check_tileable((int(height), int(width)), grid, path=absolute_path(row, role))


def _anerbc_job(row: dict, grid: TileGrid) -> dict:
    cls, number = row["class_name"], int(row["number"])
    base = Path(row["split"]) if _is_set(row["split"]) else Path()
    folders = {role: role_folder(base, "II", cls=cls, role=role).as_posix() for role in IMAGE_ROLES}
    stems = [image_stem("II", cls, number=number, tile=box.index) for box in grid.boxes()]
    ids = [sample_id("II", cls, number=number, tile=box.index) for box in grid.boxes()]
    reports = []
    for role in REPORT_ROLES:
        path = absolute_path(row, role)
        if path is not None:
            target = Path(role_folder(base, "II", cls=cls, role=role)) / f"{report_stem('II', cls, number=number)}.txt"
            reports.append((str(path), target.as_posix()))
    return {"folders": folders, "stems": stems, "ids": ids, "reports": reports}


def _folder_job(row: dict, grid: TileGrid) -> dict:
    base = Path(row["split"]) if _is_set(row["split"]) else Path()
    base = base / str(row["class_name"])
    folders = {role: (base / name).as_posix() for role, name in FOLDER_ROLE_FOLDERS.items()}
    stem = absolute_path(row, "image").stem
    stems = [f"{stem}_{box.index:02d}" for box in grid.boxes()]
    ids = [f"{row['parent_id']}_{box.index:02d}" for box in grid.boxes()]
    return {"folders": folders, "stems": stems, "ids": ids, "reports": []}


def _plan(parents: list[dict], grid: TileGrid) -> list[dict]:
    """One job per parent: source files, output folders (relative to OUT), tile stems and ids."""
    jobs, taken = [], {}
    for row in parents:
        job = _anerbc_job(row, grid) if row["source"] == "AneRBC-I" else _folder_job(row, grid)
        image = absolute_path(row, "image")
        target = f"{job['folders']['image']}/{job['stems'][0]}"
        if target in taken:
            raise DataError(
                image,
                "one full image per tile name in its class and split",
                f"a second image named {image.stem} besides {taken[target]}",
                "rename one of the two images",
            )
        taken[target] = image
        files = {role: str(absolute_path(row, role)) for role in IMAGE_ROLES if _is_set(row[f"{role}_path"])}
        jobs.append({**job, "files": files, "sample_id": row["sample_id"], "parent_id": row["sample_id"]})
    return jobs


def _write_tile(path: Path, array: np.ndarray) -> None:
    if array.ndim == 3 and array.shape[2] == 4:  # write_png would drop the alpha channel
        ok, buffer = cv2.imencode(".png", cv2.cvtColor(array, cv2.COLOR_RGBA2BGRA), PNG_PARAMS)
        if not ok:
            raise RuntimeError(f"OpenCV could not encode {path.name}")
        path.write_bytes(buffer.tobytes())
    else:
        write_png(path, array)


def _tile_file(path: str, folder: Path, stems: list[str], grid: TileGrid) -> None:
    array = read_image(Path(path))  # a refused file raises a DataError naming it
    folder.mkdir(parents=True, exist_ok=True)
    for (_, tile), stem in zip(cut_tiles(array, grid=grid, path=path), stems, strict=True):
        _write_tile(folder / f"{stem}.png", tile)


@opencv_single_thread()
def tile_parent_chunk(jobs: list[dict], out: str, *, grid: dict) -> list[dict]:
    """Worker task: cut and write the tiles of a few parents."""
    tile_grid, root = TileGrid(**grid), Path(out)
    results = []
    for job in jobs:
        for role, path in job["files"].items():
            _tile_file(path, root / job["folders"][role], job["stems"], tile_grid)
        for src, target in job["reports"]:
            (root / target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, root / target)
        results.append({"sample_id": job["sample_id"]})
    return results


def resolve_grid(rows: pd.DataFrame, grid: TileGrid | None) -> tuple[TileGrid, str]:
    """The grid to cut with and how its order was chosen: "given", "detected" (input's AneRBC-II) or "default"."""
    if grid is not None:
        return grid, "given"
    order = detected_tile_order(rows)
    return (TileGrid(order=order), "detected") if order else (TileGrid(), "default")


def _tiles_table(jobs: list[dict], grid: TileGrid) -> pd.DataFrame:
    records = [
        [tid, job["parent_id"], box.index, box.row, box.col, box.x, box.y, box.width, box.height, grid.order]
        for job in jobs
        for box, tid in zip(grid.boxes(), job["ids"], strict=True)
    ]
    return pd.DataFrame(records, columns=TILES_CSV_COLUMNS)


def _config_json(source, kind: str, *, grid: TileGrid, how: str, n_parents: int, comparison) -> bytes:
    data = {
        "format": "rbc-dataset-tiles",
        "format_version": FORMAT_VERSION,
        "tool": f"rbc-dataset {__version__}",
        "source": str(source),
        "source_kind": kind,
        "grid": grid.to_dict(),
        "parent_size": list(grid.parent_size),
        "order_how": how,
        "n_parents": n_parents,
        "n_tiles_per_parent": grid.n_tiles,
        "release_comparison": None if comparison is None else comparison.to_dict(),
    }
    return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode()


def tile_dataset(
    source: Path,
    out: Path,
    *,
    grid: TileGrid | None = None,
    overwrite: bool = False,
    workers: int = 0,
    show_progress: bool = True,
) -> TileResult:
    """Cut every full image of a dataset (and its masks) into tiles, in a layout ``rbc-dataset ingest`` reads.

    AneRBC-I images go to ``OUT/AneRBC_dataset/AneRBC-II/<class>/<role>/NNNN_SS_a.png`` with their CBC and
    morphology reports copied verbatim per parent; images of a folder layout go to
    ``OUT/[split/]<class>/{images,masks,rgb_masks}/<stem>_SS.png``. ``OUT/tiles.csv`` lists every tile's box and
    ``OUT/tile_config.json`` the grid. The input is only read.

    Args:
        source: dataset folder (ingested on the fly) or a manifest written by ``rbc-dataset ingest``.
        out: output folder, outside the input; written atomically (all of it or nothing).
        grid: tile grid; None = AneRBC-II's, numbered in the order detected in the input's AneRBC-II (else
            row-major).
        overwrite: replace an existing non-empty ``out``.
        workers: processes (0 = all cores).
        show_progress: draw progress bars.

    Raises:
        DataError: no full image to tile, or an image or mask whose size is not ``grid.parent_size``.
        UsageError: ``out`` lies inside the input, or exists and ``overwrite`` is false.
    """
    start = time.perf_counter()
    source, out = Path(source), Path(out)
    loaded = load_source(source, workers=workers, show_progress=show_progress)
    check_output_outside(out, [*loaded.roots, source], replaced=True)
    grid, how = resolve_grid(loaded.rows, grid)
    parents = _full_image_rows(loaded.rows)
    if not parents:
        raise DataError(
            source,
            "full images to tile (AneRBC-I, or images of a folder layout)",
            f"none among {len(loaded.rows)} samples",
            "pass the folder that holds AneRBC-I (or your full images)",
        )
    _check_sizes(parents, grid)
    jobs = _plan(parents, grid)
    has_tiles = bool((loaded.rows["source"] == "AneRBC-II").any())
    comparison = (
        compare_release_tiles(loaded.rows, grid_order_default=grid.order, workers=workers, show_progress=show_progress)
        if has_tiles
        else None
    )
    with atomic_directory(out, overwrite) as tmp:
        work = partial(tile_parent_chunk, out=str(tmp), grid=grid.to_dict())
        _run_chunks(work, jobs, workers=workers, description="tile images", show_progress=show_progress)
        buffer = _tiles_table(jobs, grid).to_csv(index=False).encode()
        atomic_write_bytes(tmp / "tiles.csv", buffer)
        atomic_write_bytes(
            tmp / "tile_config.json",
            _config_json(source, loaded.kind, grid=grid, how=how, n_parents=len(jobs), comparison=comparison),
        )
    return TileResult(
        out,
        len(jobs),
        n_tiles=len(jobs) * grid.n_tiles,
        order=grid.order,
        comparison=comparison,
        seconds=time.perf_counter() - start,
    )
