"""Checks of COCO JSON files (every problem names the file, the entry, what was expected and the fix), and JSON I/O.

Split from ``annotation/coco.py`` so that the codec and the conversions read without the validation detail.
Every COCO document read goes through ``read_json`` and ``check_coco_document``: files too large to parse,
JSON nested too deep, NaN, Infinity and overflowing numbers are refused while parsing; image sizes are capped at
the project's pixel limit; polygons and boxes must lie inside their image (within a small margin) before
anything is rasterised (pycocotools crashes the process on NaN and allocates without bound on +-1e308).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from rbc_dataset.errors import DataError, UsageError
from rbc_dataset.fileio import write_json

# Annotation files are capped before they are read: an AneRBC-scale COCO export (1,000 smears of ~1,500 cells as
# RLE) is a few hundred MB; parsing costs several times the file size in memory.
MAX_JSON_BYTES = 1 << 30
MAX_TEXT_BYTES = 10_000_000  # one VOC XML or Chula label file is a few kB
EDGE_MARGIN = 0.02  # share of the image side a coordinate may lie outside the image (tools round at the edges)
MIN_EDGE_PX = 2.0
REEXPORT = "re-export the file from the annotation tool"


def load_coco(path: Path) -> dict:
    """A COCO JSON document, checked (see ``import_coco``) and returned as parsed."""
    document = read_json(Path(path))
    check_coco_document(Path(path), document)
    return document


# ------------------------------------------------------------------------------------------ reading and checks


def max_pixels() -> int:
    """The project's decode limit (decompression bombs): no annotation may describe a larger image."""
    from rbc_dataset.validate.config import ValidateConfig

    return ValidateConfig().max_pixels


def read_capped(path: Path, what: str, *, limit: int) -> bytes:
    """The bytes of ``path``; DataError when it is missing, unreadable or larger than ``limit`` bytes."""
    path = Path(path)
    try:
        if not path.is_file():
            raise DataError(path, what, "no such file", "check the path")
        size = path.stat().st_size
        if size > limit:
            raise DataError(path, f"{what} of at most {limit:,} bytes", f"{size:,} bytes", "split the file or check it")
        return path.read_bytes()
    except OSError as exc:
        raise DataError(path, what, f"an unreadable file ({exc.strerror})", "check the file's permissions") from exc


class _NotFinite(ValueError):
    """A JSON number that is NaN, Infinity or too large for a float."""


def _refuse_constant(text: str):
    raise _NotFinite(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 parses as inf
        raise _NotFinite(text)
    return value


def read_json(path: Path) -> object:
    """Parsed JSON of a file; DataError naming the file when it is not JSON, too large, too deep or not finite."""
    data = read_capped(Path(path), "a COCO JSON file", limit=MAX_JSON_BYTES)
    try:
        return json.loads(data, parse_constant=_refuse_constant, parse_float=_finite_float)
    except _NotFinite as exc:
        found = f"the number {str(exc)[:40]}"
        raise DataError(path, "finite numbers (JSON has no NaN or Infinity)", found, REEXPORT) from None
    except RecursionError:
        raise DataError(
            path, "JSON nested a few levels deep (COCO needs 5)", "nesting too deep to parse", REEXPORT
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(path, "JSON", f"invalid JSON ({exc})", REEXPORT) from exc
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise DataError(path, "JSON numbers of ordinary size", f"invalid JSON ({exc})", REEXPORT) from exc


def check_json_out(out: Path, overwrite: bool, *, inputs: list[Path]) -> None:
    """Refuse a JSON output that exists (without ``overwrite``), is a folder, or lies inside an input folder."""
    from rbc_dataset.fileio import check_output_outside

    out = Path(out)
    if out.is_dir():
        raise UsageError(f"output {out} is a folder; pass the path of the .json file to write")
    if out.exists() and not overwrite:
        raise UsageError(f"output {out} already exists; pass --overwrite to replace it")
    check_output_outside(out, inputs)


def write_json_file(out: Path, document: dict) -> None:
    """Write ``document`` to ``out`` through a temporary name and a rename."""
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_json(Path(out), document, indent=None)


def _bad(path: Path, entry: str, expected: str, found: str, fix: str) -> DataError:
    return DataError(path, f"{expected} in {entry}", found, fix)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_keys(path: Path, entry: str, record, required: dict[str, type]) -> None:
    if not isinstance(record, dict):
        raise _bad(path, entry, "a JSON object", type(record).__name__, "re-export the file from the annotation tool")
    for key, kind in required.items():
        value = record.get(key)
        ok = _is_int(value) if kind is int else isinstance(value, kind)
        if not ok:
            found = f"no key {key!r}" if key not in record else f"{key!r} = {value!r:.60}"
            raise _bad(path, entry, f"key {key!r} of type {kind.__name__}", found, f"add a valid {key!r} to {entry}")


def _unique_ids(path: Path, section: str, records: list[dict]) -> None:
    seen: dict[int, int] = {}
    for index, record in enumerate(records):
        if record["id"] in seen:
            raise _bad(
                path,
                f"{section}[{index}]",
                f"ids unique within {section!r}",
                f"id {record['id']} already used by {section}[{seen[record['id']]}]",
                "give every entry its own id",
            )
        seen[record["id"]] = index


def check_coco_document(path: Path, document) -> tuple[dict[int, dict], dict[int, list[dict]], dict[int, str]]:
    """Validate a COCO document; return images by id (with an output ``stem``), annotations by image, categories."""
    from pathlib import PurePosixPath

    from annotation.images import unique_stems

    _check_keys(path, "the top level", document, {"images": list, "annotations": list, "categories": list})
    for index, category in enumerate(document["categories"]):
        _check_keys(path, f"categories[{index}]", category, {"id": int, "name": str})
    for index, image in enumerate(document["images"]):
        _check_keys(path, f"images[{index}]", image, {"id": int, "file_name": str, "width": int, "height": int})
        _check_image_size(path, f"images[{index}]", image["width"], image["height"])
    for index, ann in enumerate(document["annotations"]):
        _check_keys(path, f"annotations[{index}]", ann, {"id": int, "image_id": int, "category_id": int})
    for section in ("categories", "images", "annotations"):
        _unique_ids(path, section, document[section])
    categories = {c["id"]: c["name"] for c in document["categories"]}
    names = [PurePosixPath(image["file_name"].replace("\\", "/")) for image in document["images"]]
    images = {}
    for image, stem in zip(document["images"], unique_stems(names), strict=True):
        images[image["id"]] = {**image, "stem": stem}
    by_image: dict[int, list[dict]] = {}
    for index, ann in enumerate(document["annotations"]):
        if ann["image_id"] not in images:
            raise _bad(
                path,
                f"annotations[{index}] (id {ann['id']})",
                "an image_id listed in 'images'",
                f"image_id {ann['image_id']}",
                "add the image to 'images' or delete the annotation",
            )
        if categories and ann["category_id"] not in categories:
            raise _bad(
                path,
                f"annotations[{index}] (id {ann['id']})",
                "a category_id listed in 'categories'",
                f"category_id {ann['category_id']}",
                "add the category or correct the annotation",
            )
        check_geometry(path, f"annotations[{index}] (id {ann['id']})", ann=ann, image=images[ann["image_id"]])
        by_image.setdefault(ann["image_id"], []).append(ann)
    return images, by_image, categories


def _check_image_size(path: Path, where: str, width: int, height: int) -> None:
    limit = max_pixels()
    if width <= 0 or height <= 0 or width * height > limit:
        raise _bad(
            path,
            where,
            f"a positive width and height of at most {limit:,} pixels in all",
            f"{width}x{height}",
            "give the image's real size",
        )


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_polygon(points) -> bool:
    return isinstance(points, list) and len(points) >= 6 and len(points) % 2 == 0 and all(map(_is_number, points))


def edge_margin(side: int) -> float:
    """How far (px) a coordinate may lie outside an image side of ``side`` pixels."""
    return max(MIN_EDGE_PX, EDGE_MARGIN * side)


def check_inside(path: Path, where: str, *, what: str, xs, ys, width: int, height: int) -> None:
    """Refuse coordinates further outside the image than ``edge_margin`` (a wrong image, size or scale)."""
    xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    mx, my = edge_margin(width), edge_margin(height)
    outside = (xs < -mx) | (xs > width + mx) | (ys < -my) | (ys > height + my)
    if outside.any():
        k = int(np.flatnonzero(outside)[0])
        raise _bad(
            path,
            where,
            f"{what} inside its {width}x{height} image (margin {mx:g} x {my:g} px)",
            f"{int(outside.sum())} point(s) outside, e.g. ({xs[k]:g}, {ys[k]:g})",
            "check that the annotation belongs to this image and the image's width/height are right",
        )


def check_geometry(path: Path, where: str, *, ann: dict, image: dict) -> None:
    """Polygons, RLE and box of one annotation: well formed, finite (parsing saw to that) and inside the image."""
    h, w = image["height"], image["width"]
    where = f"{where}, image {image['id']} ({image['file_name']})"
    segmentation = ann.get("segmentation")
    if isinstance(segmentation, list) and segmentation:
        bad = [p for p in segmentation if not _is_polygon(p)]
        if bad:
            found = f"{len(bad)} malformed polygon(s)"
            raise _bad(path, where, "polygons of at least 3 (x, y) pairs", found, "fix or delete that annotation")
        flat = np.concatenate([np.asarray(p, np.float64) for p in segmentation])
        check_inside(path, where, what="polygon points", xs=flat[0::2], ys=flat[1::2], width=w, height=h)
    elif segmentation:
        check_segmentation_size(path, where, segmentation=segmentation, h=h, w=w)
    box = ann.get("bbox")
    if box not in (None, []):
        if not (isinstance(box, list) and len(box) == 4 and all(map(_is_number, box)) and min(box[2:]) >= 0):
            raise _bad(path, where, "a bbox [x, y, width, height] of numbers", f"bbox {box!r:.60}", "fix or delete it")
        check_inside(
            path, where, what="the bbox", xs=[box[0], box[0] + box[2]], ys=[box[1], box[1] + box[3]], width=w, height=h
        )


def check_segmentation_size(path: Path, where: str, *, segmentation, h: int, w: int) -> None:
    """An RLE segmentation must be a dict with ``size`` equal to its image's ``[height, width]`` and ``counts``."""
    if not isinstance(segmentation, dict) or "counts" not in segmentation or "size" not in segmentation:
        raise _bad(
            path,
            where,
            "a segmentation of polygons or an RLE {size, counts}",
            f"{segmentation!r:.60}",
            "re-export the file from the annotation tool",
        )
    size = segmentation["size"]
    if not isinstance(size, list) or [int(v) if _is_int(v) else v for v in size] != [h, w]:
        raise _bad(
            path,
            where,
            f"an RLE size equal to the image's [height, width] = [{h}, {w}]",
            f"size {size!r}",
            "check that the annotation belongs to this image and the image's width/height are right",
        )


# ------------------------------------------------------------------------------------- building the documents
