"""COCO JSON in and out: instance label maps <-> RLE instance segmentation (points and boxes: ``coco_external``).

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

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from annotation.coco_checks import (
    check_coco_document,
    check_json_out,
    check_segmentation_size,
    read_json,
    write_json_file,
)
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


def runs_from_flat(flat: np.ndarray, *, offset: int = 0, total: int | None = None) -> list[int]:
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
    *,
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
    check_json_out(out, overwrite, inputs=[Path(images), Path(instances)])
    document, notes = build_export(images, instances, cell_types=cell_types, category=category)
    write_json_file(out, document)
    names = tuple(c["name"] for c in document["categories"])
    return CocoResult(
        Path(out),
        len(document["images"]),
        n_annotations=len(document["annotations"]),
        categories=names,
        notes=tuple(notes),
    )


# ------------------------------------------------------------------------------------------------------- import


def import_coco(coco_json: Path, out: Path, *, overwrite: bool = False) -> CocoResult:
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
    return CocoResult(Path(out), len(images), n_annotations=totals["instances"], categories=names, notes=tuple(notes))


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
        return _polygon_indices(path, where, polygons=segmentation, h=h, w=w)
    check_segmentation_size(path, where, segmentation=segmentation, h=h, w=w)
    counts = segmentation["counts"]
    try:
        runs = decode_counts(counts) if isinstance(counts, str) else [int(c) for c in counts]
        return rle_indices(runs, h * w)
    except (ValueError, TypeError) as exc:
        raise DataError(
            path, f"a valid RLE in {where}", str(exc), "re-export the file from the annotation tool"
        ) from exc


def _polygon_indices(path: Path, where: str, *, polygons: list, h: int, w: int) -> np.ndarray:
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


def image_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` from the image header (by content: a PNG named .jpg is fine), through the decode check."""
    from rbc_dataset.fileio import image_header, read_file

    header = image_header(read_file(path), path)
    return header.width, header.height


def _read_label_map(path: Path, width: int, height: int, image_path: Path) -> np.ndarray:
    from rbc_dataset.fileio import read_image

    labels = read_image(path)  # a refused file (empty, too many pixels ...) raises a DataError naming it
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


def build_export(images: Path, instances: Path, *, cell_types: Path | None, category: str) -> tuple[dict, list[str]]:
    from annotation.images import list_images

    items = list_images(Path(images))
    instances = Path(instances)
    label_files = {p.stem: p for p in sorted(instances.glob("*.png"))} if instances.is_dir() else {}
    if not label_files:
        raise DataError(instances, "label maps <stem>.png", "none", "pass the folder `annotate instances` wrote")
    coco_images, annotations, notes = [], [], []
    untyped_files = 0
    for image_id, (item, file_name) in enumerate(zip(items, _file_names(items, images), strict=True), start=1):
        width, height = image_size(item.path)
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
    return coco_document(
        coco_images, annotations, categories=[{"id": ids[n], "name": n, "supercategory": "cell"} for n in names]
    ), notes


def coco_document(images: list[dict], annotations: list[dict], *, categories: list[dict]) -> dict:
    info = {"description": "written by rbc-dataset annotate", "version": str(SCHEMA_VERSION)}
    return {"info": info, "licenses": [], "images": images, "annotations": annotations, "categories": categories}
