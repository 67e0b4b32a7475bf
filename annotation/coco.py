"""COCO JSON in and out: instance label maps <-> RLE instance segmentation; Chula points and VOC boxes -> COCO.

Export writes one annotation per instance of each 16-bit label map (``DIR/<stem>.png``, 0 = background) with a
compressed-RLE ``segmentation`` (``{"size": [h, w], "counts": "..."}``), the form CVAT's COCO 1.0 importer
(Datumaro) reads as a mask. Import turns COCO instance JSON (compressed or uncompressed RLE, or polygons as CVAT
and Label Studio export them) back into label maps: instances are numbered 1..n in annotation order and, where
instances overlap, the later annotation wins (the counts of overwritten pixels and fully hidden instances are
reported). Export then import is lossless: same instances, IoU 1 each.

The compressed-RLE string codec is written here (numpy runs + the 5-bit LEB128-like code of COCO's maskApi.c)
because decoding through ``pycocotools`` builds one full-size mask per instance (~1 s per 1,500-cell image);
the tests check it against ``pycocotools``, which is used at run time only to rasterise polygons.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rbc_dataset.errors import DataError, UsageError

SCHEMA_VERSION = 1
DEFAULT_CATEGORY = "rbc"
VOC_CATEGORIES = ("RBC", "WBC", "Platelets")


@dataclass(frozen=True)
class CocoResult:
    """What one COCO conversion wrote and what it noticed."""

    out: Path  # the JSON file (export, points, boxes) or label-map folder (import) written
    n_images: int  # images listed
    n_annotations: int  # annotations written (export) or instances painted (import)
    categories: tuple[str, ...]  # category names, in id order (id = position + 1)
    notes: tuple[str, ...] = field(default_factory=tuple)  # things the user should know (skipped, overlaps, ...)


# ---------------------------------------------------------------------------------------------------- RLE codec


def runs_from_flat(flat: np.ndarray, offset: int = 0, total: int | None = None) -> list[int]:
    """COCO run lengths (zeros first) of a boolean vector placed at ``offset`` in a vector of length ``total``."""
    total = len(flat) + offset if total is None else total
    padded = np.concatenate(([False], flat.astype(bool, copy=False), [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1]) + offset
    counts = np.diff(np.concatenate(([0], edges, [total]))).tolist()
    if len(counts) > 1 and counts[-1] == 0:  # a mask ending in ones has no trailing zero run
        counts.pop()
    return counts


def encode_counts(counts: list[int]) -> str:
    """Compressed COCO RLE string of run lengths (maskApi.c ``rleToString``)."""
    chars = []
    for i, count in enumerate(counts):
        x = count - counts[i - 2] if i > 2 else count
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            chars.append(chr((c | 0x20 if more else c) + 48))
    return "".join(chars)


def decode_counts(text: str) -> list[int]:
    """Run lengths of a compressed COCO RLE string (maskApi.c ``rleFrString``); ValueError on a bad string."""
    counts: list[int] = []
    data = text.encode("ascii")
    p = 0
    while p < len(data):
        x = k = 0
        more = True
        while more:
            if p >= len(data):
                raise ValueError("string ends inside a run length")
            c = data[p] - 48
            if not 0 <= c < 64:
                raise ValueError(f"character {chr(data[p])!r} is not in the RLE alphabet")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p, k = p + 1, k + 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def mask_to_rle(mask: np.ndarray) -> dict:
    """COCO compressed RLE (``{"size": [h, w], "counts": str}``) of a 2-D boolean mask."""
    h, w = mask.shape
    return {"size": [h, w], "counts": encode_counts(runs_from_flat(np.asarray(mask, bool).T.ravel()))}


def rle_indices(counts: list[int], total: int) -> np.ndarray:
    """Column-major flat indices of the ones of an RLE; ValueError when the runs do not cover ``total`` pixels."""
    runs = np.asarray(counts, np.int64)
    if (runs < 0).any() or int(runs.sum()) != total:
        raise ValueError(f"run lengths sum to {int(runs.sum())} (negative runs: {bool((runs < 0).any())}), not {total}")
    ends = np.cumsum(runs)
    lengths = runs[1::2]
    starts = ends[0::2][: len(lengths)]
    before = np.concatenate(([0], np.cumsum(lengths)[:-1])) if len(lengths) else lengths
    return np.repeat(starts - before, lengths) + np.arange(int(lengths.sum()))


def rle_to_mask(rle: dict) -> np.ndarray:
    """2-D boolean mask of a compressed or uncompressed COCO RLE."""
    h, w = (int(v) for v in rle["size"])
    counts = rle["counts"]
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    counts = decode_counts(counts) if isinstance(counts, str) else [int(c) for c in counts]
    flat = np.zeros(h * w, bool)
    flat[rle_indices(counts, h * w)] = True
    return flat.reshape(w, h).T


# ------------------------------------------------------------------------------------------------------- export


def instance_annotations(labels: np.ndarray) -> list[dict]:
    """One COCO annotation body (segmentation, area, bbox, iscrowd) per label of a map, ascending label order.

    Each dict also carries ``"label"`` (the value in the map) for the caller to map to a category and drop.
    """
    from scipy import ndimage

    h, w = labels.shape
    transposed = np.ascontiguousarray(labels.T)  # its flat order is the map's column-major order
    found = []
    for value, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        rows, cols = box
        slab = transposed[cols.start : cols.stop] == value  # whole columns: runs cross rows of other cells
        counts = runs_from_flat(slab.ravel(), offset=cols.start * h, total=h * w)
        bbox = [cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start]
        found.append(
            {
                "label": value,
                "segmentation": {"size": [h, w], "counts": encode_counts(counts)},
                "area": int(slab.sum()),
                "bbox": bbox,
                "iscrowd": 0,
            }
        )
    return found


def export_coco(
    images: Path,
    instances: Path,
    out: Path,
    cell_types: Path | None = None,
    category: str = DEFAULT_CATEGORY,
    overwrite: bool = False,
) -> CocoResult:
    """Write label maps and their images as one COCO instance-segmentation JSON file (RLE masks).

    Args:
        images: image folder or manifest (``annotation.images.list_images``); every image is listed.
        instances: folder of 16-bit label maps ``<stem>.png`` (0 = background), as ``annotate instances`` writes.
        out: the JSON file to write.
        cell_types: optional folder of ``<stem>.csv`` files with columns ``cell_id,type`` (cell_id = label value,
            as in ``synthetic_truth/.../cells/``): each instance gets its type as category.
        category: category of instances without a type (all of them without ``cell_types``).
        overwrite: replace an existing ``out``.

    Raises:
        DataError: a label map that is unreadable, not an integer map, or not the size of its image; a bad CSV.
        UsageError: ``out`` exists without ``overwrite`` or lies inside an input folder.
    """
    check_json_out(out, overwrite, [Path(images), Path(instances)])
    document, notes = build_export(images, instances, cell_types, category)
    write_json_file(out, document)
    names = tuple(c["name"] for c in document["categories"])
    return CocoResult(Path(out), len(document["images"]), len(document["annotations"]), names, tuple(notes))


# ------------------------------------------------------------------------------------------------------- import


def import_coco(coco_json: Path, out: Path, overwrite: bool = False) -> CocoResult:
    """Turn a COCO instance JSON into ``out/<image stem>.png`` 16-bit label maps (0 = background).

    Instances are numbered 1..n per image in annotation order; where masks overlap the later annotation wins.
    Annotations without a mask (boxes, keypoints) are skipped and counted. With more than one category,
    ``out/cell_types/<stem>.csv`` (``cell_id,type``) records each instance's category, the format
    ``export_coco(cell_types=...)`` reads back.

    Raises:
        DataError: malformed JSON (missing keys, duplicate or unknown ids, RLE size not the image size, bad RLE),
            naming the file, the entry and the fix.
        UsageError: ``out`` exists and is not empty without ``overwrite``.
    """
    from rbc_dataset.fileio import atomic_directory, write_png

    path = Path(coco_json)
    document = read_json(path)
    images, by_image, categories = check_coco_document(path, document)
    multi = len(categories) > 1
    totals = {"instances": 0, "overlap_pixels": 0, "hidden": 0, "skipped": 0}
    with atomic_directory(Path(out), overwrite) as tmp:
        if multi:
            (tmp / "cell_types").mkdir()
        for image_id, image in images.items():
            labels, types, counts = _paint_image(path, image, by_image.get(image_id, []), categories)
            for key, value in counts.items():
                totals[key] += value
            write_png(tmp / f"{image['stem']}.png", labels)
            if multi:
                _write_cell_types(tmp / "cell_types" / f"{image['stem']}.csv", types)
    notes = []
    if totals["skipped"]:
        notes.append(f"{totals['skipped']} annotations without a mask (boxes or points) skipped")
    if totals["overlap_pixels"]:
        notes.append(
            f"overlapping masks: {totals['overlap_pixels']} pixels given to the later annotation, "
            f"{totals['hidden']} instances fully hidden by later ones"
        )
    names = tuple(categories[k] for k in sorted(categories))
    return CocoResult(Path(out), len(images), totals["instances"], names, tuple(notes))


def _write_cell_types(path: Path, types: list[str]) -> None:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["cell_id", "type"])
        writer.writerows(enumerate(types, start=1))


def _paint_image(path: Path, image: dict, annotations: list[dict], categories: dict[int, str]):
    """Label map of one image; later annotations overwrite earlier ones."""
    h, w = image["height"], image["width"]
    flat = np.zeros(h * w, np.uint16)  # column-major, as RLE runs are
    types: list[str] = []
    counts = {"instances": 0, "overlap_pixels": 0, "hidden": 0, "skipped": 0}
    for ann in annotations:
        indices = _annotation_indices(path, image, ann)
        if indices is None:
            counts["skipped"] += 1
            continue
        if len(types) == np.iinfo(np.uint16).max:
            raise DataError(path, "at most 65535 instances per image", f"more in image {image['id']}", "split it")
        types.append(categories.get(ann.get("category_id"), DEFAULT_CATEGORY))
        counts["overlap_pixels"] += int(np.count_nonzero(flat[indices]))
        flat[indices] = len(types)
    labels = np.ascontiguousarray(flat.reshape(w, h).T)
    counts["instances"] = len(types)
    if counts["overlap_pixels"]:
        counts["hidden"] = len(types) - int(np.count_nonzero(np.bincount(labels.ravel(), minlength=len(types) + 1)[1:]))
    return labels, types, counts


def _annotation_indices(path: Path, image: dict, ann: dict) -> np.ndarray | None:
    """Column-major pixel indices of an annotation's mask; None when it has none (box or point only)."""
    segmentation = ann.get("segmentation")
    h, w = image["height"], image["width"]
    where = f"annotation id {ann['id']} (image id {image['id']}, {image['file_name']})"
    if not segmentation:
        return None
    if isinstance(segmentation, list):
        return _polygon_indices(path, where, segmentation, h, w)
    check_segmentation_size(path, where, segmentation, h, w)
    counts = segmentation["counts"]
    try:
        runs = decode_counts(counts) if isinstance(counts, str) else [int(c) for c in counts]
        return rle_indices(runs, h * w)
    except (ValueError, TypeError) as exc:
        raise DataError(
            path, f"a valid RLE in {where}", str(exc), "re-export the file from the annotation tool"
        ) from exc


def _polygon_indices(path: Path, where: str, polygons: list, h: int, w: int) -> np.ndarray:
    """Rasterise COCO polygons exactly as the COCO tools do (pycocotools), merged into one mask."""
    try:
        from pycocotools import mask as mask_utils
    except ImportError as exc:
        raise UsageError("importing COCO polygons needs pycocotools: pip install pycocotools") from exc

    def valid(polygon) -> bool:
        numbers = isinstance(polygon, list) and all(isinstance(v, int | float) for v in polygon)
        return numbers and len(polygon) >= 6 and len(polygon) % 2 == 0

    bad = [p for p in polygons if not valid(p)]
    if bad:
        raise DataError(
            path,
            f"polygons of at least 3 (x, y) pairs in {where}",
            f"{len(bad)} malformed polygon(s)",
            "fix or delete that annotation",
        )
    merged = mask_utils.merge(mask_utils.frPyObjects([[float(v) for v in p] for p in polygons], h, w))
    return rle_indices(decode_counts(merged["counts"].decode()), h * w)


# ------------------------------------------------------------------------------------------- points and boxes


def points_to_coco(labels: Path, images: Path, out: Path, overwrite: bool = False) -> CocoResult:
    """Chula-style point labels (``<stem>.txt``, ``x y class`` per line) as a COCO Keypoints JSON file.

    Each labelled cell becomes one annotation with a single keypoint ``center`` (``keypoints: [x, y, 2]``,
    ``num_keypoints: 1``), an empty ``segmentation`` and a zero-size ``bbox`` at the point: the COCO Keypoints
    layout CVAT imports (as one-point skeletons) and that evaluation code can match against instance masks.
    Only images with a label file are listed (no label file means unlabelled, not "no cells").

    Raises:
        DataError: a malformed label file (names file and line), a point outside its image.
    """
    check_json_out(out, overwrite, [Path(labels), Path(images)])
    document, notes = build_points(Path(labels), Path(images))
    write_json_file(out, document)
    names = tuple(c["name"] for c in document["categories"])
    return CocoResult(Path(out), len(document["images"]), len(document["annotations"]), names, tuple(notes))


def boxes_to_coco(xml_dir: Path, out: Path, images: Path | None = None, overwrite: bool = False) -> CocoResult:
    """Pascal VOC XML boxes (BCCD) as a COCO detection JSON file (categories RBC, WBC, Platelets, then others).

    VOC corners are 1-based and inclusive, so ``bbox = [xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1]``,
    clipped to the image. Zero-area boxes are skipped and counted. Image sizes come from ``images`` when given
    (matched by stem), else from the XML ``<size>``.

    Raises:
        DataError: malformed XML, an XML without a usable size and no image to measure.
    """
    check_json_out(out, overwrite, [Path(xml_dir)] + ([] if images is None else [Path(images)]))
    document, notes = build_boxes(Path(xml_dir), None if images is None else Path(images))
    write_json_file(out, document)
    names = tuple(c["name"] for c in document["categories"])
    return CocoResult(Path(out), len(document["images"]), len(document["annotations"]), names, tuple(notes))


def voc_image_info(path: Path) -> tuple[str | None, int | None, int | None]:
    """``(filename, width, height)`` of a VOC XML file (None where absent or not a positive integer)."""
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError):
        return None, None, None

    def number(tag: str) -> int | None:
        try:
            value = int(float(root.findtext(f"size/{tag}") or ""))
        except ValueError:
            return None
        return value if value > 0 else None

    return root.findtext("filename"), number("width"), number("height")


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


def _image_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` from the image header (by content: a PNG named .jpg is fine)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, UnidentifiedImageError) as exc:
        raise DataError(path, "a readable image", f"an unreadable file ({exc})", "replace or remove it") from exc


def _read_label_map(path: Path, width: int, height: int, image_path: Path) -> np.ndarray:
    from rbc_dataset.fileio import read_image

    try:
        labels = read_image(path)
    except (ValueError, OSError) as exc:
        raise DataError(path, "a 16-bit label map PNG", "an undecodable file", "re-run `annotate instances`") from exc
    binary = labels.dtype == np.uint8 and labels.ndim == 2 and set(np.unique(labels).tolist()) == {0, 255}
    if labels.ndim != 2 or labels.dtype.kind not in "ui" or binary:
        raise DataError(
            path,
            "a single-channel integer label map (0 = background, one value per cell)",
            "a 0/255 binary mask" if binary else f"{labels.dtype} array of shape {labels.shape}",
            "pass the folder that `annotate instances` wrote (a binary mask has no cells to tell apart)",
        )
    if labels.shape != (height, width):
        raise DataError(
            path,
            f"the size of its image {image_path} ({width}x{height})",
            f"{labels.shape[1]}x{labels.shape[0]}",
            "pair each label map with the image it was made from",
        )
    return labels


def _read_cell_types(path: Path) -> dict[int, str]:
    import csv

    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"cell_id", "type"} <= set(reader.fieldnames):
            raise DataError(path, "a CSV with columns cell_id,type", f"columns {reader.fieldnames}", "add them")
        try:
            return {int(row["cell_id"]): row["type"].strip() for row in reader}
        except (TypeError, ValueError) as exc:
            raise DataError(path, "integer cell_id values", str(exc), "correct the cell_id column") from exc


def _file_names(items, images: Path) -> list[str]:
    """COCO ``file_name`` of each image: its path below the image folder, or its name for a manifest."""
    if Path(images).is_dir():
        return [item.path.relative_to(Path(images).resolve()).as_posix() for item in items]
    names = [item.path.name for item in items]
    if len(set(names)) < len(names):  # same name in several folders of a manifest: keep the unique stems
        names = [f"{item.stem}{item.path.suffix}" for item in items]
    return names


def build_export(images: Path, instances: Path, cell_types: Path | None, category: str) -> tuple[dict, list[str]]:
    from annotation.images import list_images

    items = list_images(Path(images))
    instances = Path(instances)
    label_files = {p.stem: p for p in sorted(instances.glob("*.png"))} if instances.is_dir() else {}
    if not label_files:
        raise DataError(instances, "label maps <stem>.png", "none", "pass the folder `annotate instances` wrote")
    coco_images, annotations, notes = [], [], []
    untyped_files = 0
    for image_id, (item, file_name) in enumerate(zip(items, _file_names(items, images), strict=True), start=1):
        width, height = _image_size(item.path)
        coco_images.append({"id": image_id, "file_name": file_name, "width": width, "height": height})
        if item.stem not in label_files:
            continue
        labels = _read_label_map(label_files[item.stem], width, height, item.path)
        types: dict[int, str] = {}
        if cell_types is not None:
            csv_path = Path(cell_types) / f"{item.stem}.csv"
            types = _read_cell_types(csv_path) if csv_path.is_file() else {}
            untyped_files += not csv_path.is_file()
        for body in instance_annotations(labels):
            name = types.get(body.pop("label"), category)
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": name, **body})
    names = sorted({ann["category_id"] for ann in annotations}) or [category]
    ids = {name: k for k, name in enumerate(names, start=1)}
    for ann in annotations:
        ann["category_id"] = ids[ann["category_id"]]
    stems = {item.stem for item in items}
    unlabelled = sum(item.stem not in label_files for item in items)
    orphans = sorted(set(label_files) - stems)
    if unlabelled:
        notes.append(f"{unlabelled} images have no label map: listed without annotations")
    if orphans:
        notes.append(f"{len(orphans)} label maps match no image and were left out: {', '.join(orphans[:5])}")
    if untyped_files:
        notes.append(f"{untyped_files} labelled images have no cell-type CSV: their cells are {category!r}")
    return _document(
        coco_images, annotations, [{"id": ids[n], "name": n, "supercategory": "cell"} for n in names]
    ), notes


def _document(images: list[dict], annotations: list[dict], categories: list[dict]) -> dict:
    info = {"description": "written by rbc-dataset annotate", "version": str(SCHEMA_VERSION)}
    return {"info": info, "licenses": [], "images": images, "annotations": annotations, "categories": categories}


def _items_by_file_stem(images: Path, wanted: set[str]) -> tuple[dict[str, object], set[str]]:
    """Image items by file stem for the stems in ``wanted`` (label files are named after it), and the other stems.

    Raises:
        DataError: a wanted stem names several images (the pairing would be a guess).
    """
    from annotation.images import list_images

    found: dict[str, list] = {}
    others: set[str] = set()
    for item in list_images(images):
        if item.path.stem in wanted:
            found.setdefault(item.path.stem, []).append(item)
        else:
            others.add(item.path.stem)
    for stem, group in found.items():
        if len(group) > 1:
            paths = ", ".join(str(item.path) for item in group)
            raise DataError(
                images,
                f"one image named {stem}.*",
                f"{len(group)}: {paths}",
                "pass the folder that holds only the annotated images",
            )
    return {stem: group[0] for stem, group in found.items()}, others


def build_points(labels: Path, images: Path) -> tuple[dict, list[str]]:
    from annotation.external import CHULA_CLASSES, CHULA_DEFAULT_POINT, read_chula_points

    label_files = {p.stem: p for p in sorted(labels.glob("*.txt"))} if labels.is_dir() else {}
    if not label_files:
        raise DataError(labels, "point label files <stem>.txt (`x y class` lines)", "none", "pass the Label folder")
    items, unlabelled = _items_by_file_stem(images, set(label_files))
    coco_images, annotations = [], []
    defaults = empty = 0
    for stem in sorted(set(label_files) & set(items), key=lambda s: (len(s), s)):
        width, height = _image_size(items[stem].path)
        image_id = len(coco_images) + 1
        coco_images.append({"id": image_id, "file_name": items[stem].path.name, "width": width, "height": height})
        points = read_chula_points(label_files[stem])
        empty += not points
        for x, y, cls in points:
            if x >= width or y >= height:
                raise DataError(
                    label_files[stem],
                    f"points inside its image {items[stem].path} ({width}x{height})",
                    f"point ({x}, {y})",
                    "check that the label file belongs to this image",
                )
            defaults += (x, y) == CHULA_DEFAULT_POINT
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": cls + 1,
                    "keypoints": [x, y, 2],
                    "num_keypoints": 1,
                    "segmentation": [],
                    "area": 0,
                    "bbox": [x, y, 0, 0],
                    "iscrowd": 0,
                }
            )
    notes = _pairing_notes(set(label_files) - set(items), "label files match no image (left out)")
    notes += _pairing_notes(unlabelled, "images have no label file (unlabelled, left out)")
    if empty:
        notes.append(f"{empty} label files are empty (listed with no annotation)")
    if defaults:
        notes.append(f"{defaults} points sit at the labelling tool's default {CHULA_DEFAULT_POINT} (kept; check them)")
    categories = [
        {"id": k + 1, "name": name, "supercategory": "cell", "keypoints": ["center"], "skeleton": []}
        for k, name in enumerate(CHULA_CLASSES)
    ]
    return _document(coco_images, annotations, categories), notes


def _pairing_notes(stems: set[str], what: str) -> list[str]:
    if not stems:
        return []
    shown = sorted(stems, key=lambda s: (len(s), s))
    return [f"{len(stems)} {what}: {', '.join(shown[:5])}{' ...' if len(shown) > 5 else ''}"]


def build_boxes(xml_dir: Path, images: Path | None) -> tuple[dict, list[str]]:
    from annotation.external import read_voc_boxes

    xml_files = sorted(xml_dir.glob("*.xml")) if xml_dir.is_dir() else []
    if not xml_files:
        raise DataError(xml_dir, "Pascal VOC files <stem>.xml", "none", "pass the Annotations folder")
    items = _items_by_file_stem(images, {p.stem for p in xml_files})[0] if images is not None else {}
    coco_images, annotations, names = [], [], list(VOC_CATEGORIES)
    skipped = clipped = 0
    for xml in xml_files:
        file_name, width, height = voc_image_info(xml)
        if xml.stem in items:
            file_name, (width, height) = items[xml.stem].path.name, _image_size(items[xml.stem].path)
        if width is None or height is None:
            raise DataError(
                xml,
                "a <size> with width and height, or the image itself",
                "neither",
                "pass the image folder with --images",
            )
        image_id = len(coco_images) + 1
        coco_images.append(
            {"id": image_id, "file_name": file_name or f"{xml.stem}.jpg", "width": width, "height": height}
        )
        for box in read_voc_boxes(xml):
            x0, y0 = max(box["xmin"] - 1, 0), max(box["ymin"] - 1, 0)
            x1, y1 = min(box["xmax"], width), min(box["ymax"], height)
            clipped += (x0, y0, x1, y1) != (box["xmin"] - 1, box["ymin"] - 1, box["xmax"], box["ymax"])
            if box.get("zero_area") or x1 <= x0 or y1 <= y0:
                skipped += 1
                continue
            if box["name"] not in names:
                names.append(box["name"])
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": box["name"],
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "area": (x1 - x0) * (y1 - y0),
                    "segmentation": [],
                    "iscrowd": 0,
                }
            )
    names = names[:3] + sorted(names[3:])
    ids = {name: k for k, name in enumerate(names, start=1)}
    for ann in annotations:
        ann["category_id"] = ids[ann["category_id"]]
    notes = [f"{skipped} zero-area boxes skipped"] if skipped else []
    notes += [f"{clipped} boxes clipped to their image"] if clipped else []
    return _document(
        coco_images, annotations, [{"id": ids[n], "name": n, "supercategory": "cell"} for n in names]
    ), notes
