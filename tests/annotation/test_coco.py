"""COCO exchange: RLE codec, lossless round trip, malformed files, Chula points and VOC boxes, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from annotation.coco import (
    decode_counts,
    encode_counts,
    export_coco,
    import_coco,
    instance_annotations,
    mask_to_rle,
    rle_to_mask,
)
from annotation.coco_external import boxes_to_coco, points_to_coco
from annotation.commands import app as annotate_app
from rbc_dataset.errors import DataError, UsageError
from rbc_dataset.fileio import read_image, write_png

SUBSET = "AneRBC-I/Anemic_individuals"


def _images(root: Path) -> Path:
    return root / "AneRBC_dataset" / SUBSET / "Original_images"


def _truth(root: Path, kind: str) -> Path:
    return root / "synthetic_truth" / SUBSET / kind


def _same_instances(a: np.ndarray, b: np.ndarray) -> bool:
    """Same partition into instances (labels may be renumbered): every instance has IoU 1 with one instance."""
    pairs = np.unique(np.stack([a.ravel(), b.ravel()]), axis=1)
    return len(pairs[0]) == len(np.unique(a)) == len(np.unique(b)) and ((pairs[0] == 0) == (pairs[1] == 0)).all()


# --------------------------------------------------------------------------------------------------- codec


def test_rle_codec_matches_known_strings() -> None:
    mask = np.zeros((960, 1224), bool)
    mask[10:30, 40:60] = True  # the string pycocotools.mask.encode gives for this mask
    expected = "Z`U1d0\\m00000000000000000000000000000000000000fWSR1"
    assert mask_to_rle(mask) == {"size": [960, 1224], "counts": expected}
    assert (rle_to_mask({"size": [960, 1224], "counts": expected}) == mask).all()
    # 3x2 mask, column-major [0, 1, 1, 0, 0, 1]: runs 1, 2, 2, 1 (zeros first); trailing zeros not written
    assert decode_counts(encode_counts([1, 2, 2, 1])) == [1, 2, 2, 1]
    assert encode_counts([0, 6]) == "06" and encode_counts([6]) == "6"
    with pytest.raises(ValueError):
        decode_counts("a" * 3 + "\x7f")


def test_rle_codec_agrees_with_pycocotools() -> None:
    coco_mask = pytest.importorskip("pycocotools.mask")
    rng = np.random.default_rng(0)
    for trial in range(200):
        h, w = (int(v) for v in rng.integers(1, 30, 2))
        mask = rng.random((h, w)) < rng.random()
        mask[:] = False if trial % 5 == 0 else mask
        reference = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
        assert mask_to_rle(mask)["counts"] == reference["counts"].decode()
        assert (rle_to_mask({"size": [h, w], "counts": reference["counts"]}) == mask).all()


def test_instance_annotations_boxes_and_areas() -> None:
    labels = np.zeros((20, 30), np.uint16)
    labels[2:6, 3:9] = 1
    labels[10:20, 25:30] = 3  # label 2 absent: skipped
    anns = instance_annotations(labels)
    assert [a["label"] for a in anns] == [1, 3]
    assert anns[0]["bbox"] == [3, 2, 6, 4] and anns[0]["area"] == 24
    assert anns[1]["bbox"] == [25, 10, 5, 10] and anns[1]["area"] == 50
    assert (rle_to_mask(anns[1]["segmentation"]) == (labels == 3)).all()


# ---------------------------------------------------------------------------------------------- round trip


def test_export_import_round_trip_is_lossless(synthetic_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "a.json"
    result = export_coco(_images(synthetic_root), _truth(synthetic_root, "instances"), out=out)
    document = json.loads(out.read_text())
    assert result.n_images == len(document["images"]) == 2 and document["categories"][0] == {
        "id": 1,
        "name": "rbc",
        "supercategory": "cell",
    }
    ann = document["annotations"][0]
    assert set(ann) >= {"id", "image_id", "category_id", "segmentation", "area", "bbox", "iscrowd"}
    assert isinstance(ann["segmentation"]["counts"], str) and ann["iscrowd"] == 0
    back = import_coco(out, tmp_path / "labels")
    assert back.n_annotations == result.n_annotations and not back.notes
    for image in document["images"]:
        stem = Path(image["file_name"]).stem
        original = read_image(_truth(synthetic_root, "instances") / f"{stem}.png")
        restored = read_image(tmp_path / "labels" / f"{stem}.png")
        assert restored.dtype == np.uint16 and _same_instances(original, restored)


def test_cell_types_become_categories_and_come_back(synthetic_root: Path, tmp_path: Path) -> None:
    images, instances, cells = (
        _images(synthetic_root),
        _truth(synthetic_root, "instances"),
        _truth(synthetic_root, "cells"),
    )
    first = export_coco(images, instances, out=tmp_path / "typed.json", cell_types=cells)
    assert len(first.categories) > 1 and "normocyte" in first.categories
    import_coco(tmp_path / "typed.json", tmp_path / "labels")
    assert (tmp_path / "labels" / "cell_types").is_dir()
    export_coco(images, tmp_path / "labels", out=tmp_path / "again.json", cell_types=tmp_path / "labels" / "cell_types")
    a, b = (json.loads((tmp_path / n).read_text()) for n in ("typed.json", "again.json"))
    names = lambda d: [{c["id"]: c["name"] for c in d["categories"]}[x["category_id"]] for x in d["annotations"]]  # noqa: E731
    assert names(a) == names(b)


def test_label_map_of_the_wrong_size_names_both_files(synthetic_root: Path, tmp_path: Path) -> None:
    labels = tmp_path / "labels"
    labels.mkdir()
    stem = sorted(_images(synthetic_root).glob("*.png"))[0].stem
    write_png(labels / f"{stem}.png", np.ones((10, 10), np.uint16))
    with pytest.raises(DataError) as caught:
        export_coco(_images(synthetic_root), labels, out=tmp_path / "x.json")
    assert (
        f"{stem}.png" in str(caught.value) and "Original_images" in str(caught.value) and "10x10" in str(caught.value)
    )


def test_no_overwrite_without_the_flag(synthetic_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "a.json"
    export_coco(_images(synthetic_root), _truth(synthetic_root, "instances"), out=out)
    with pytest.raises(UsageError, match="--overwrite"):
        export_coco(_images(synthetic_root), _truth(synthetic_root, "instances"), out=out)
    export_coco(_images(synthetic_root), _truth(synthetic_root, "instances"), out=out, overwrite=True)
    import_coco(out, tmp_path / "labels")
    with pytest.raises(UsageError, match="--overwrite"):
        import_coco(out, tmp_path / "labels")


# ------------------------------------------------------------------------------------------------ malformed


def _document(**changes) -> dict:
    mask = np.zeros((4, 5), bool)
    mask[1:3, 1:4] = True
    document = {
        "images": [{"id": 1, "file_name": "img.png", "width": 5, "height": 4}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": mask_to_rle(mask), "iscrowd": 0}],
        "categories": [{"id": 1, "name": "rbc"}],
    }
    document.update(changes)
    return document


def _write(tmp_path: Path, document) -> Path:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize(
    ("change", "phrase"),
    [
        ("missing_images", "no key 'images'"),
        ("duplicate_image", "id 1 already used by images[0]"),
        ("duplicate_annotation", "annotations[1]"),
        ("unknown_image", "image_id 7"),
        ("unknown_category", "category_id 9"),
        ("rle_size", "[height, width] = [4, 5]"),
        ("bad_counts", "run lengths sum to"),
        ("missing_width", "no key 'width'"),
        ("bad_polygon", "1 malformed polygon"),
    ],
)
def test_malformed_coco_names_file_entry_and_fix(tmp_path: Path, change: str, phrase: str) -> None:
    document = _document()
    ann = document["annotations"][0]
    if change == "missing_images":
        del document["images"]
    elif change == "duplicate_image":
        document["images"].append(dict(document["images"][0], file_name="other.png"))
    elif change == "duplicate_annotation":
        document["annotations"].append(dict(ann))
    elif change == "unknown_image":
        ann["image_id"] = 7
    elif change == "unknown_category":
        ann["category_id"] = 9
    elif change == "rle_size":
        ann["segmentation"] = dict(ann["segmentation"], size=[5, 4])
    elif change == "bad_counts":
        ann["segmentation"] = {"size": [4, 5], "counts": [3, 2]}
    elif change == "missing_width":
        del document["images"][0]["width"]
    elif change == "bad_polygon":
        ann["segmentation"] = [[1, 2, 3, "x", 5, 6]]
    path = _write(tmp_path, document)
    with pytest.raises(DataError) as caught:
        import_coco(path, tmp_path / "out")
    message = str(caught.value)
    assert str(path) in message and phrase in message and "Fix:" in message
    assert not (tmp_path / "out").exists()


def test_not_json_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("{not json")
    with pytest.raises(DataError, match="invalid JSON"):
        import_coco(path, tmp_path / "out")


def test_overlaps_later_annotation_wins_and_is_reported(tmp_path: Path) -> None:
    first, second = np.zeros((4, 5), bool), np.zeros((4, 5), bool)
    first[0:2, 0:2] = True
    second[0:2, 0:2] = True  # hides the first completely
    polygon = [[3.0, 2.0, 5.0, 2.0, 5.0, 4.0, 3.0, 4.0]]  # a polygon, as CVAT and Label Studio export
    document = _document()
    document["annotations"] = [
        {"id": 1, "image_id": 1, "category_id": 1, "segmentation": mask_to_rle(first)},
        {"id": 2, "image_id": 1, "category_id": 1, "segmentation": {"size": [4, 5], "counts": [0, 2, 2, 2, 14]}},
        {"id": 3, "image_id": 1, "category_id": 1, "segmentation": polygon},
        {"id": 4, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]},
    ]
    result = import_coco(_write(tmp_path, document), tmp_path / "out")
    labels = read_image(tmp_path / "out" / "img.png")
    assert (labels[0:2, 0:2] == 2).all() and not (labels == 1).any()
    assert (labels[2:4, 3:5] == 3).all()
    notes = " ".join(result.notes)
    assert "4 pixels given to the later annotation" in notes and "1 instances fully hidden" in notes
    assert "1 annotations without a mask" in notes


# ------------------------------------------------------------------------------------------ points and boxes


def _tiny_image(folder: Path, name: str, width: int = 200, height: int = 150) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_png(folder / name, np.full((height, width, 3), 200, np.uint8))


def test_chula_points_become_coco_keypoints(tmp_path: Path) -> None:
    images, labels = tmp_path / "Dataset", tmp_path / "Label"
    for name in ("1.jpg", "2.jpg", "3.jpg"):
        _tiny_image(images, name)
    labels.mkdir()
    (labels / "1.txt").write_text("10 20 0\n128 128 4\n")
    (labels / "2.txt").write_text("")
    (labels / "9.txt").write_text("1 1 1\n")
    result = points_to_coco(labels, images, out=tmp_path / "points.json")
    document = json.loads((tmp_path / "points.json").read_text())
    assert result.n_images == 2 and result.n_annotations == 2
    assert result.categories[0] == "normal cell" and len(result.categories) == 13
    first = document["annotations"][0]
    assert first["keypoints"] == [10, 20, 2] and first["num_keypoints"] == 1 and first["category_id"] == 1
    assert document["categories"][4]["keypoints"] == ["center"]
    notes = " ".join(result.notes)
    assert (
        "default (128, 128)" in notes and "1 label files match no image" in notes and "1 label files are empty" in notes
    )
    assert "1 images have no label file" in notes


def test_point_outside_its_image_is_a_data_error(tmp_path: Path) -> None:
    _tiny_image(tmp_path / "img", "1.png", 50, 40)
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "1.txt").write_text("60 10 0\n")
    with pytest.raises(DataError, match=r"point \(60, 10\)"):
        points_to_coco(tmp_path / "lab", tmp_path / "img", out=tmp_path / "p.json")


VOC = """<annotation><filename>{name}</filename><size><width>64</width><height>48</height><depth>3</depth></size>
<object><name>RBC</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>10</xmax><ymax>20</ymax></bndbox></object>
<object><name>Platelets</name><bndbox><xmin>30</xmin><ymin>5</ymin><xmax>40</xmax><ymax>50</ymax></bndbox></object>
<object><name>WBC</name><bndbox><xmin>5</xmin><ymin>5</ymin><xmax>5</xmax><ymax>9</ymax></bndbox></object>
</annotation>"""


def test_voc_boxes_become_coco_boxes(tmp_path: Path) -> None:
    xml = tmp_path / "Annotations"
    xml.mkdir()
    (xml / "BloodImage_1.xml").write_text(VOC.format(name="BloodImage_1.jpg"))
    result = boxes_to_coco(xml, tmp_path / "boxes.json")
    document = json.loads((tmp_path / "boxes.json").read_text())
    assert result.categories == ("RBC", "WBC", "Platelets") and result.n_annotations == 2
    assert document["images"][0] == {"id": 1, "file_name": "BloodImage_1.jpg", "width": 64, "height": 48}
    rbc, platelet = document["annotations"]
    assert rbc["bbox"] == [0, 0, 10, 20] and rbc["category_id"] == 1 and rbc["area"] == 200
    assert platelet["bbox"] == [29, 4, 11, 44] and platelet["category_id"] == 3  # 2 px over: clipped
    assert "1 zero-area boxes skipped" in result.notes and "1 boxes clipped to their image" in result.notes


# ------------------------------------------------------------------------------------------------- real data


@pytest.mark.realdata
def test_real_chula_points_are_all_read(realdata: Path, tmp_path: Path) -> None:
    root = realdata / "Chula-RBC-12-Dataset"
    result = points_to_coco(root / "Label", root / "Dataset", out=tmp_path / "chula.json")
    images = {p.stem for p in (root / "Dataset").glob("*.jpg")}
    lines = sum(
        len([line for line in p.read_text().splitlines() if line.strip()])
        for p in (root / "Label").glob("*.txt")
        if p.stem in images
    )
    assert result.n_annotations == lines > 0
    assert result.n_images == len(images & {p.stem for p in (root / "Label").glob("*.txt")})


@pytest.mark.realdata
def test_real_bccd_boxes_are_all_read(realdata: Path, tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    root = realdata / "BCCD_Dataset" / "BCCD"
    result = boxes_to_coco(root / "Annotations", tmp_path / "bccd.json", images=root / "JPEGImages")
    objects = sum(len(ET.parse(p).getroot().findall("object")) for p in (root / "Annotations").glob("*.xml"))
    skipped = sum(int(n.split()[0]) for n in result.notes if "zero-area" in n)
    assert result.n_images == 15 and result.n_annotations + skipped == objects
    assert result.categories[:3] == ("RBC", "WBC", "Platelets")


# ------------------------------------------------------------------------------------------------------ CLI


def test_cli_export_import_and_errors(synthetic_root: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "a.json"
    args = ["coco-export", str(_images(synthetic_root)), "--instances", str(_truth(synthetic_root, "instances"))]
    result = runner.invoke(annotate_app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 images" in result.output
    result = runner.invoke(annotate_app, [*args, "--out", str(out)])
    assert result.exit_code == 2 and "--overwrite" in result.output
    result = runner.invoke(annotate_app, ["coco-import", str(out), "--out", str(tmp_path / "labels")])
    assert result.exit_code == 0 and "wrote label maps" in result.output
    bad = _write(tmp_path, _document(images=[]))
    result = runner.invoke(annotate_app, ["coco-import", str(bad), "--out", str(tmp_path / "x")])
    assert result.exit_code == 1 and "image_id 1" in result.output
    result = runner.invoke(annotate_app, ["coco-import", "--out", str(tmp_path / "y")])
    assert result.exit_code == 2 and "exactly one of" in result.output


def test_cli_points_and_voc(tmp_path: Path) -> None:
    runner = CliRunner()
    _tiny_image(tmp_path / "Dataset", "1.jpg")
    (tmp_path / "Label").mkdir()
    (tmp_path / "Label" / "1.txt").write_text("10 20 3\n")
    points = ["coco-import", "--points", str(tmp_path / "Label"), "--out", str(tmp_path / "p.json")]
    result = runner.invoke(annotate_app, points)
    assert result.exit_code == 2 and "--images" in result.output
    result = runner.invoke(annotate_app, [*points, "--images", str(tmp_path / "Dataset")])
    assert result.exit_code == 0 and "1 annotations" in result.output
    (tmp_path / "xml").mkdir()
    (tmp_path / "xml" / "b.xml").write_text(VOC.format(name="b.jpg"))
    result = runner.invoke(
        annotate_app, ["coco-import", "--voc", str(tmp_path / "xml"), "--out", str(tmp_path / "b.json")]
    )
    assert result.exit_code == 0 and "RBC, WBC, Platelets" in result.output


def test_binary_mask_is_not_taken_for_a_label_map(synthetic_root: Path, tmp_path: Path) -> None:
    labels = tmp_path / "labels"
    labels.mkdir()
    for image in _images(synthetic_root).glob("*.png"):
        write_png(labels / image.name, np.where(read_image(image)[..., 1] < 128, 255, 0).astype(np.uint8))
    with pytest.raises(DataError, match="0/255 binary mask"):
        export_coco(_images(synthetic_root), labels, out=tmp_path / "x.json")


def test_label_file_matching_two_images_is_a_data_error(tmp_path: Path) -> None:
    _tiny_image(tmp_path / "img" / "x", "1.png")
    _tiny_image(tmp_path / "img" / "y", "1.jpg")
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "1.txt").write_text("5 5 0\n")
    with pytest.raises(DataError, match="one image named 1"):
        points_to_coco(tmp_path / "lab", tmp_path / "img", out=tmp_path / "p.json")


# ---------------------------------------------------------------------------------- hostile files: a clear error


def _polygon_document(polygon: list, width: int = 64, height: int = 48, **annotation) -> dict:
    return {
        "images": [{"id": 1, "file_name": "img.png", "width": width, "height": height}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": [polygon], **annotation}],
        "categories": [{"id": 1, "name": "rbc"}],
    }


SQUARE = [1, 1, 10, 1, 10, 10, 1, 10]
HOSTILE_COCO = {
    "nan": (json.dumps(_polygon_document(SQUARE)).replace("10, 1,", "NaN, 1,", 1), "found the number NaN"),
    "infinity": (json.dumps(_polygon_document(SQUARE)).replace("10, 1,", "-Infinity, 1,", 1), "number -Infinity"),
    "overflow": (json.dumps(_polygon_document(SQUARE)).replace("10, 1,", "1e400, 1,", 1), "the number 1e400"),
    "1e308": (json.dumps(_polygon_document([1, 1, 1e308, 1, 10, 10])), "e.g. (1e+308, 1)"),
    "-1e308": (json.dumps(_polygon_document([1, 1, -1e308, 1, 10, 10])), "e.g. (-1e+308, 1)"),
    "outside": (json.dumps(_polygon_document([100, 100, 110, 100, 110, 110])), "3 point(s) outside"),
    "bbox outside": (json.dumps(_polygon_document(SQUARE, bbox=[0, 0, 500, 10])), "the bbox inside its 64x48"),
    "bbox malformed": (json.dumps(_polygon_document(SQUARE, bbox=[0, 0, -5, 10])), "a bbox [x, y, width, height]"),
    "huge image": (json.dumps(_polygon_document(SQUARE, 10**7, 10**7)), "found 10000000x10000000"),
    "deep nesting": ('{"images": ' + "[" * 200_000 + "]" * 200_000 + "}", "nesting too deep to parse"),
    "huge integer": ('{"images": [' + "9" * 5000 + "]}", "JSON numbers of ordinary size"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_COCO))
def test_hostile_coco_is_refused_before_anything_is_rasterised(tmp_path: Path, case: str) -> None:
    text, phrase = HOSTILE_COCO[case]
    path = tmp_path / "hostile.json"
    path.write_text(text)
    result = CliRunner().invoke(annotate_app, ["coco-import", str(path), "--out", str(tmp_path / "labels")])
    message = " ".join(result.output.split())
    assert result.exit_code == 1 and phrase in message and str(path) in message, result.output
    assert "Traceback" not in result.output and not (tmp_path / "labels").exists()


def test_a_coco_file_over_the_size_cap_is_refused_unread(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("annotation.coco_checks.MAX_JSON_BYTES", 100)
    path = _write(tmp_path, _polygon_document(SQUARE))
    with pytest.raises(DataError, match="a COCO JSON file of at most 100 bytes"):
        import_coco(path, tmp_path / "out")


def test_polygons_on_the_edge_and_within_the_margin_still_import(tmp_path: Path) -> None:
    path = _write(tmp_path, _polygon_document([-1.5, -1, 65, -1, 65, 49, -1.5, 49], bbox=[0, 0, 64, 48]))
    result = import_coco(path, tmp_path / "labels")
    assert result.n_annotations == 1
    assert (read_image(tmp_path / "labels" / "img.png") == 1).all()  # clipped to the image, every pixel covered


VOC_SIZE = "<annotation><filename>a.jpg</filename><size><width>{w}</width><height>{h}</height></size>{objects}"
BOX = (
    "<object><name>RBC</name><bndbox><xmin>{x0}</xmin><ymin>1</ymin><xmax>{x1}</xmax><ymax>10</ymax></bndbox></object>"
)
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY l "lol"><!ENTITY l2 "&l;&l;&l;&l;&l;&l;&l;&l;&l;&l;">'
    '<!ENTITY l3 "&l2;&l2;&l2;&l2;&l2;&l2;&l2;&l2;&l2;&l2;"><!ENTITY l4 "&l3;&l3;&l3;&l3;&l3;&l3;&l3;&l3;&l3;&l3;">]>'
    "<annotation><filename>&l4;</filename><size><width>64</width><height>48</height></size></annotation>"
)
XXE = (
    '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/hostname">]>'
    "<annotation><filename>&x;</filename><size><width>64</width><height>48</height></size>"
    "<object><name>&x;</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax></bndbox></object>"
    "</annotation>"
)
HOSTILE_VOC = {
    "width inf": (VOC_SIZE.format(w="inf", h=48, objects="") + "</annotation>", "no usable <size>"),
    "width 1e7": (VOC_SIZE.format(w=10**7, h=10**7, objects="") + "</annotation>", "found 10000000x10000000"),
    "box inf": (VOC_SIZE.format(w=64, h=48, objects=BOX.format(x0=1, x1="inf")) + "</annotation>", "finite numbers"),
    "box nan": (VOC_SIZE.format(w=64, h=48, objects=BOX.format(x0="nan", x1=9)) + "</annotation>", "finite numbers"),
    "box 1e308": (VOC_SIZE.format(w=64, h=48, objects=BOX.format(x0=1, x1="1e308")) + "</annotation>", "outside"),
    "billion laughs": (LAUGHS, "refused unexpanded"),
    "xxe": (XXE, "refused unexpanded"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_VOC))
def test_hostile_voc_xml_is_refused_naming_the_file(tmp_path: Path, case: str) -> None:
    text, phrase = HOSTILE_VOC[case]
    (tmp_path / "xml").mkdir()
    (tmp_path / "xml" / "a.xml").write_text(text)
    out = tmp_path / "boxes.json"
    result = CliRunner().invoke(annotate_app, ["coco-import", "--voc", str(tmp_path / "xml"), "--out", str(out)])
    message = " ".join(result.output.split())
    assert result.exit_code == 1 and phrase in message and "a.xml" in message, result.output
    assert "Traceback" not in result.output and not out.exists()
    assert open("/etc/hostname").read().strip() not in message


def test_a_voc_file_over_the_size_cap_is_refused_unread(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("annotation.coco_checks.MAX_TEXT_BYTES", 10)
    monkeypatch.setattr("annotation.external.MAX_TEXT_BYTES", 10)
    (tmp_path / "xml").mkdir()
    (tmp_path / "xml" / "a.xml").write_text(VOC.format(name="a.jpg"))
    with pytest.raises(DataError, match="at most 10 bytes"):
        boxes_to_coco(tmp_path / "xml", tmp_path / "b.json")
