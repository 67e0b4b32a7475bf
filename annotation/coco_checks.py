"""Checks of COCO JSON files (every problem names the file, the entry, what was expected and the fix), and JSON I/O.

Split from ``annotation/coco.py`` so that the codec and the conversions read without the validation detail.
"""

from __future__ import annotations

import json
from pathlib import Path

from rbc_dataset.errors import DataError, UsageError


def load_coco(path: Path) -> dict:
    """A COCO JSON document, checked (see ``import_coco``) and returned as parsed."""
    document = read_json(Path(path))
    check_coco_document(Path(path), document)
    return document


# ------------------------------------------------------------------------------------------ reading and checks


def read_json(path: Path) -> object:
    """Parsed JSON of a file; DataError naming the file, line and column when it is not JSON."""
    if not path.is_file():
        raise DataError(path, "a COCO JSON file", "no such file", "check the path")
    try:
        return json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(path, "JSON", f"invalid JSON ({exc})", "re-export the file from the annotation tool") from exc


def check_json_out(out: Path, overwrite: bool, inputs: list[Path]) -> None:
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
    from rbc_dataset.fileio import atomic_write_bytes

    Path(out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(Path(out), json.dumps(document, separators=(",", ":")).encode())


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
        if image["width"] <= 0 or image["height"] <= 0:
            size = f"{image['width']}x{image['height']}"
            raise _bad(path, f"images[{index}]", "a positive width and height", size, "give the image's real size")
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
        by_image.setdefault(ann["image_id"], []).append(ann)
    return images, by_image, categories


def check_segmentation_size(path: Path, where: str, segmentation, h: int, w: int) -> None:
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
