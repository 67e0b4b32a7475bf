"""Ground truth of other datasets as COCO: Chula point labels (``x y class``) and Pascal VOC boxes (BCCD).

Points become COCO keypoint annotations (one keypoint "center" per labelled cell, Chula's 13 categories) and
boxes become COCO boxes (RBC, WBC, Platelets), in the form CVAT's COCO importer reads, so those datasets can
be evaluated against (``annotate agree``, the segmentation benchmark).
"""

from __future__ import annotations

from pathlib import Path

from annotation.coco import VOC_CATEGORIES, CocoResult, coco_document, image_size
from annotation.coco_checks import check_inside, check_json_out, max_pixels, write_json_file
from rbc_dataset.errors import DataError


def points_to_coco(labels: Path, images: Path, *, out: Path, overwrite: bool = False) -> CocoResult:
    """Chula-style point labels (``<stem>.txt``, ``x y class`` per line) as a COCO Keypoints JSON file.

    Each labelled cell becomes one annotation with a single keypoint ``center`` (``keypoints: [x, y, 2]``,
    ``num_keypoints: 1``), an empty ``segmentation`` and a zero-size ``bbox`` at the point: the COCO Keypoints
    layout CVAT imports (as one-point skeletons) and that evaluation code can match against instance masks.
    Only images with a label file are listed (no label file means unlabelled, not "no cells").

    Raises:
        DataError: a malformed label file (names file and line), a point outside its image.
    """
    check_json_out(out, overwrite, inputs=[Path(labels), Path(images)])
    document, notes = build_points(Path(labels), Path(images))
    write_json_file(out, document)
    names = tuple(c["name"] for c in document["categories"])
    return CocoResult(
        Path(out),
        len(document["images"]),
        n_annotations=len(document["annotations"]),
        categories=names,
        notes=tuple(notes),
    )


def boxes_to_coco(xml_dir: Path, out: Path, *, images: Path | None = None, overwrite: bool = False) -> CocoResult:
    """Pascal VOC XML boxes (BCCD) as a COCO detection JSON file (categories RBC, WBC, Platelets, then others).

    VOC corners are 1-based and inclusive, so ``bbox = [xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1]``,
    clipped to the image. Zero-area boxes are skipped and counted. Image sizes come from ``images`` when given
    (matched by stem), else from the XML ``<size>``.

    Raises:
        DataError: malformed XML, an XML without a usable size and no image to measure.
    """
    check_json_out(out, overwrite, inputs=[Path(xml_dir)] + ([] if images is None else [Path(images)]))
    document, notes = build_boxes(Path(xml_dir), None if images is None else Path(images))
    write_json_file(out, document)
    names = tuple(c["name"] for c in document["categories"])
    return CocoResult(
        Path(out),
        len(document["images"]),
        n_annotations=len(document["annotations"]),
        categories=names,
        notes=tuple(notes),
    )


def voc_image_info(path: Path) -> tuple[str | None, int | None, int | None]:
    """``(filename, width, height)`` of a VOC XML file (None where absent or not a positive whole number).

    Raises:
        DataError: the XML is unreadable or refused (``parse_xml``), or its size exceeds the project's pixel limit.
    """
    from annotation.external import finite_number, parse_xml

    root = parse_xml(path, "a Pascal VOC XML file")
    sizes = []
    for tag in ("width", "height"):
        value = finite_number(root.findtext(f"size/{tag}"))
        sizes.append(int(value) if value is not None and value >= 1 else None)
    width, height = sizes
    if width is not None and height is not None and width * height > max_pixels():
        raise DataError(
            path,
            f"a <size> of at most {max_pixels():,} pixels",
            f"{width}x{height}",
            "correct <size> or pass the images with --images",
        )
    return root.findtext("filename"), width, height


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
        width, height = image_size(items[stem].path)
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
    return coco_document(coco_images, annotations, categories=categories), notes


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
            file_name, (width, height) = items[xml.stem].path.name, image_size(items[xml.stem].path)
        if width is None or height is None:
            raise DataError(
                xml,
                "a <size> with positive, finite width and height, or the image itself",
                "neither (no usable <size>, no image)",
                "pass the image folder with --images",
            )
        image_id = len(coco_images) + 1
        coco_images.append(
            {"id": image_id, "file_name": file_name or f"{xml.stem}.jpg", "width": width, "height": height}
        )
        for index, box in enumerate(read_voc_boxes(xml), start=1):
            xs, ys = [box["xmin"] - 1, box["xmax"]], [box["ymin"] - 1, box["ymax"]]
            where = f"<object> {index} ({box['name']})"
            check_inside(xml, where, what="box corners", xs=xs, ys=ys, width=width, height=height)
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
    return coco_document(
        coco_images, annotations, categories=[{"id": ids[n], "name": n, "supercategory": "cell"} for n in names]
    ), notes
