"""Class names to labels: 0 = healthy and 1 = anaemic always; anything else only through an explicit map.

Labels were once numbered alphabetically whenever one name was unknown, so a stray ``preview.png`` under the
root (class "unlabelled") or an extra class folder turned anemic into 0 and healthy into 1. Now a known name
always keeps its label, a name that only holds images (``Dataset/``, ``JPEGImages/``) means "no class", and an
unknown name is an error until the user maps it with ``--class-map``:

    --class-map normal_rbc=healthy,ida=anaemic        (inline, comma-separated NAME=VALUE)
    --class-map classes.yaml                          (a mapping: {normal_rbc: healthy, ida: 1})
    --class-map classes.csv                           (columns name,class)

VALUE is healthy, anaemic (or anemic and the other names below), 0, 1 or unlabelled. Names are compared after
lower-casing and dropping everything but letters and digits ("Normal RBC" = "normal_rbc"). Unlabelled samples
carry a null label in the manifest, which can never be read as class 0 or 1; ``build`` leaves them out.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from rbc_dataset.errors import DataError, UsageError
from rbc_dataset.ingestion.anerbc import normalise
from rbc_dataset.issues import Issue

HEALTHY_NAMES = {"healthy", "normal", "control", "nonanemic", "nonanaemic", "healthyindividuals"}
ANEMIC_NAMES = {"anemic", "anaemic", "anemia", "anaemia", "anemicindividuals", "anaemicindividuals"}
UNLABELLED_NAMES = {"unlabelled", "unlabeled", "nolabel", "unknown", "none"}
# Folders that hold images rather than name a class (Chula's Dataset/, Pascal VOC's JPEGImages/).
CONTAINER_NAMES = {"dataset", "datasets", "data", "jpegimages", "pngimages", "all", "allimages", "samples"}
UNLABELLED = "unlabelled"
MAP_VALUES = "healthy, anaemic (or anemic), 0, 1, unlabelled"
MAP_MAX_BYTES = 1_000_000  # a class map is a handful of lines


def label_of_value(value: object) -> int | None:
    """Label of a class-map value or a CSV class cell (0, 1 or None for unlabelled); ValueError when unknown."""
    token = normalise(str(value))
    if token in HEALTHY_NAMES or token == "0":
        return 0
    if token in ANEMIC_NAMES or token == "1":
        return 1
    if token in UNLABELLED_NAMES or not token:
        return None
    raise ValueError(value)


@dataclass
class ClassMap:
    """Labels given by the user (normalised name -> label, None = unlabelled), and which entries were used."""

    labels: dict[str, int | None] = field(default_factory=dict)
    source: str = ""
    used: set[str] = field(default_factory=set)

    def unused_issues(self) -> list[Issue]:
        """A map entry that matched no class is most likely a typo: say so."""
        return [
            Issue(
                "class_map_unused",
                "warning",
                path=None,
                expected=f"a class named {name!r} (from --class-map {self.source})",
                found="no class of that name in the data",
                fix="check the spelling in --class-map (names are compared without case, spaces and punctuation)",
            )
            for name in sorted(set(self.labels) - self.used)
        ]


def _pairs_from_file(path: Path) -> list[tuple[str, object]]:
    if path.stat().st_size > MAP_MAX_BYTES:
        raise DataError(path, f"a class map of at most {MAP_MAX_BYTES:,} bytes", "a larger file", "pass a smaller map")
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    if path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        columns = {c.strip().lower(): c for c in (rows[0].keys() if rows else [])}
        value_column = columns.get("class") or columns.get("label")
        if "name" not in columns or value_column is None:
            raise DataError(path, "a CSV with columns name and class", "other columns or no rows", "fix the header")
        return [(row[columns["name"]], row[value_column]) for row in rows]
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DataError(path, "a YAML mapping NAME: VALUE", f"invalid YAML ({exc})", "fix the file") from exc
    if not isinstance(data, dict):
        raise DataError(path, "a YAML mapping NAME: VALUE", type(data).__name__, "write one NAME: VALUE per line")
    return list(data.items())


def _pairs_inline(text: str) -> list[tuple[str, object]]:
    pairs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(
                f"--class-map entry {item!r} is not NAME=VALUE; write e.g. --class-map normal_rbc=healthy,ida=anaemic "
                "or pass a .yaml/.csv file"
            )
        pairs.append((name.strip(), value.strip()))
    return pairs


def parse_class_map(value: str | Path | None) -> ClassMap:
    """The user's class map from ``NAME=VALUE,...`` or a .yaml/.yml/.csv file (None: an empty map)."""
    if value is None or not str(value).strip():
        return ClassMap()
    text = str(value)
    is_file = Path(text).suffix.lower() in (".yaml", ".yml", ".csv")
    if is_file and not Path(text).is_file():
        raise UsageError(f"--class-map file {text} does not exist; pass NAME=VALUE,... or an existing .yaml/.csv file")
    pairs = _pairs_from_file(Path(text)) if is_file else _pairs_inline(text)
    labels: dict[str, int | None] = {}
    for name, raw in pairs:
        try:
            labels[normalise(str(name))] = label_of_value(raw)
        except ValueError:
            raise UsageError(
                f"--class-map gives {name!r} the unknown class {raw!r}; valid values: {MAP_VALUES}"
            ) from None
    return ClassMap(labels, text)


def resolve_class(name: str, class_map: ClassMap, *, digits: bool = False) -> tuple[str, int | None]:
    """(status, label) of one class name: "mapped", "known", "unlabelled" or "unknown" (label None).

    Args:
        name: a class folder name or a CSV class cell.
        class_map: the user's map; it wins over the built-in names.
        digits: accept "0"/"1" as labels (a CSV label column; a folder named "1" says nothing reliable).
    """
    token = normalise(name)
    if token in class_map.labels:
        class_map.used.add(token)
        return "mapped", class_map.labels[token]
    if token in HEALTHY_NAMES or (digits and token == "0"):
        return "known", 0
    if token in ANEMIC_NAMES or (digits and token == "1"):
        return "known", 1
    if token in UNLABELLED_NAMES or token in CONTAINER_NAMES or not token:
        return "unlabelled", None
    return "unknown", None


def unknown_class_issue(name: str, where: str, *, count: int) -> Issue:
    """The error for a class name that is neither known nor mapped."""
    return Issue(
        "unknown_class",
        "error",
        path=where,
        expected="class names healthy/normal/control (label 0) or anemic/anaemic/anemia (label 1), or a --class-map "
        "entry",
        found=f"the class {name!r} ({count} samples)",
        fix=f"pass --class-map '{name}=healthy' (or =anaemic, =unlabelled) to `rbc-dataset ingest` and give the "
        "manifest to validate-masks/build; labels are never numbered from names",
    )
