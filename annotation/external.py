"""Readers for the ground truth of public datasets used to check annotation tools: Chula points, BCCD VOC boxes.

Chula-RBC-12 (Naruenatthanaset et al., arXiv:2012.01321) labels one point per cell, ``x y class`` per line
(x = column, y = row). BCCD (Shenggan/BCCD_Dataset) has Pascal VOC XML boxes named RBC / WBC / Platelets.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

from annotation.coco_checks import MAX_TEXT_BYTES, read_capped
from rbc_dataset.errors import DataError

# Class index -> name, as listed in the Chula-RBC-12-Dataset README.
CHULA_CLASSES = (
    "normal cell",
    "macrocyte",
    "microcyte",
    "spherocyte",
    "target cell",
    "stomatocyte",
    "ovalocyte",
    "teardrop",
    "burr cell",
    "schistocyte",
    "uncategorised",
    "hypochromia",
    "elliptocyte",
)

# The Chula labelling tool's default position: a point here was often never moved onto a cell.
CHULA_DEFAULT_POINT = (128, 128)


def read_chula_points(path: Path) -> list[tuple[int, int, int]]:
    """Points of a Chula label file as ``(x, y, class)`` with x = column, y = row; an empty file gives ``[]``.

    Raises:
        DataError: the file is missing, or a line is not three integers with a known class (names file and line).
    """
    path = Path(path)
    try:
        text = read_capped(path, "a Chula label file", limit=MAX_TEXT_BYTES).decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise DataError(path, "a text file of `x y class` lines", f"unreadable bytes ({exc})", "replace it") from exc
    points = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        x, y, cls = _parse_point(line)
        if x is None or y is None or cls is None or not 0 <= cls < len(CHULA_CLASSES) or x < 0 or y < 0:
            raise DataError(
                f"{path}:{number}",
                f"`x y class` with non-negative integers and class 0..{len(CHULA_CLASSES) - 1}",
                repr(line.strip()[:80]),
                "correct or delete that line",
            )
        points.append((x, y, cls))
    return points


def _parse_point(line: str) -> tuple[int | None, int | None, int | None]:
    parts = line.split()
    try:
        return tuple(int(p) for p in parts) if len(parts) == 3 else (None, None, None)
    except ValueError:
        return None, None, None


def read_voc_boxes(path: Path) -> list[dict]:
    """Boxes of a Pascal VOC annotation: ``{"name", "xmin", "ymin", "xmax", "ymax", "zero_area"}`` per object.

    Zero-area boxes (xmax <= xmin or ymax <= ymin, present in BCCD) are kept with ``zero_area=True`` so that a
    caller decides; coordinates are VOC's (1-based, inclusive) integers as written.

    Raises:
        DataError: the file is missing, not XML, or an object lacks a name or a numeric box (names the object).
    """
    root = parse_xml(path, "a Pascal VOC XML file")
    boxes = []
    for index, obj in enumerate(root.iter("object"), start=1):
        name = (obj.findtext("name") or "").strip()
        box = obj.find("bndbox")
        numbers = {
            k: finite_number(box.findtext(k)) if box is not None else None for k in ("xmin", "ymin", "xmax", "ymax")
        }
        values = {k: int(round(v)) for k, v in numbers.items()} if None not in numbers.values() else None
        if not name or values is None:
            raise DataError(
                path,
                "each <object> with a <name> and a <bndbox> of finite numbers xmin, ymin, xmax, ymax",
                f"object {index} ({name or 'no name'}) without them",
                "correct or delete that object",
            )
        zero = values["xmax"] <= values["xmin"] or values["ymax"] <= values["ymin"]
        boxes.append({"name": name, **values, "zero_area": zero})
    return boxes


def finite_number(text: str | None) -> float | None:
    """A finite number written in an XML element (``inf``, ``nan``, ``1e999`` and words give None)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def parse_xml(path: Path, what: str) -> ET.Element:
    """The root element of an XML file, read with defusedxml: entity declarations (billion laughs) and external
    entities (XXE) are refused, not expanded; the file size is capped first.

    Raises:
        DataError: missing, too large, not well-formed, or declaring entities (names the file).
    """
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    data = read_capped(Path(path), what, limit=MAX_TEXT_BYTES)
    try:
        return fromstring(data)
    except DefusedXmlException as exc:
        found = f"XML declaring entities or a DTD ({type(exc).__name__}), refused unexpanded"
        raise DataError(path, f"{what} without entity declarations", found, "re-export the file") from None
    except ET.ParseError as exc:
        raise DataError(path, f"well-formed {what}", f"unparsable XML ({exc})", "replace the file") from exc
