"""Readers of public ground truth: Chula points and Pascal VOC boxes."""

from __future__ import annotations

from pathlib import Path

import pytest

from annotation.external import CHULA_CLASSES, read_chula_points, read_voc_boxes
from rbc_dataset.errors import DataError
from tests.helpers import REALDATA

VOC = """<annotation><filename>x.jpg</filename>
<object><name>RBC</name><bndbox><xmin>10</xmin><ymin>20</ymin><xmax>50</xmax><ymax>70</ymax></bndbox></object>
<object><name>WBC</name><bndbox><xmin>5</xmin><ymin>5</ymin><xmax>5</xmax><ymax>40</ymax></bndbox></object>
</annotation>"""


def test_chula_points_parse_x_as_column(tmp_path: Path) -> None:
    label = tmp_path / "1.txt"
    label.write_text("77 363 3\n\n147 279 12\n")
    assert read_chula_points(label) == [(77, 363, 3), (147, 279, 12)]
    assert len(CHULA_CLASSES) == 13 and CHULA_CLASSES[12] == "elliptocyte"


def test_empty_chula_file_gives_no_points(tmp_path: Path) -> None:
    (tmp_path / "53.txt").write_text("")
    assert read_chula_points(tmp_path / "53.txt") == []


@pytest.mark.parametrize("line", ["1 2", "1 2 x", "1 2 13", "-1 2 0", "1.5 2 0"])
def test_malformed_chula_line_names_file_and_line(tmp_path: Path, line: str) -> None:
    label = tmp_path / "9.txt"
    label.write_text(f"1 1 0\n{line}\n")
    with pytest.raises(DataError, match=r"9\.txt:2"):
        read_chula_points(label)


def test_voc_boxes_keep_zero_area_boxes_flagged(tmp_path: Path) -> None:
    xml = tmp_path / "a.xml"
    xml.write_text(VOC)
    boxes = read_voc_boxes(xml)
    assert boxes[0] == {"name": "RBC", "xmin": 10, "ymin": 20, "xmax": 50, "ymax": 70, "zero_area": False}
    assert boxes[1]["name"] == "WBC" and boxes[1]["zero_area"]


def test_malformed_voc_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text("<annotation><object>")
    with pytest.raises(DataError, match="bad.xml"):
        read_voc_boxes(bad)
    no_box = tmp_path / "nobox.xml"
    no_box.write_text("<annotation><object><name>RBC</name></object></annotation>")
    with pytest.raises(DataError, match="object 1"):
        read_voc_boxes(no_box)
    with pytest.raises(DataError, match="no such file"):
        read_voc_boxes(tmp_path / "missing.xml")


@pytest.mark.realdata
def test_every_real_label_file_reads() -> None:
    chula = sorted((REALDATA / "Chula-RBC-12-Dataset" / "Label").glob("*.txt"))
    points = [p for f in chula for p in read_chula_points(f)]
    assert len(chula) == 23 and len(points) > 500
    assert read_chula_points(REALDATA / "Chula-RBC-12-Dataset" / "Label" / "53.txt") == []
    voc = sorted((REALDATA / "BCCD_Dataset" / "BCCD" / "Annotations").glob("*.xml"))
    boxes = [b for f in voc for b in read_voc_boxes(f)]
    assert {b["name"] for b in boxes} == {"RBC", "WBC", "Platelets"}
    assert any(b["zero_area"] for b in boxes)
