"""Users' own data: a generic folder layout, or a metadata CSV naming image, mask, class and group per row.

Folder layout (e.g. the 11,500-image "Anemic-RBC" set of the 3-TierDCFNet paper, never published in a
known layout)::

    ROOT/[train|val|test/]<class>/{images,masks}/<name>.png     or  <class>/<name>.png + <name>_mask.png

The class of a file is the nearest folder above it that is neither a role folder (images, masks, ...)
nor a split folder; files directly under ROOT are "unlabelled". A mask pairs with the image of the same
name (after removing a ``_mask``/``_seg``/``_gt`` suffix) in the same class and split.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pandas as pd

from rbc_dataset.errors import DataError
from rbc_dataset.ingest.anerbc import IMAGE_EXTENSIONS, SPLIT_TOKENS, ScanResult, normalise
from rbc_dataset.ingest.samples import Sample, missing_partner_issues
from rbc_dataset.issues import Issue

IMAGE_FOLDER_TOKENS = {"images", "image", "imgs", "img", "originalimages", "original", "originals", "raw"}
MASK_FOLDER_TOKENS = {
    "masks",
    "mask",
    "binarysegmented",
    "binarymasks",
    "gt",
    "groundtruth",
    "segmentation",
    "segmentations",
    "labels",
    "label",
    "annotations",
}
RGB_MASK_FOLDER_TOKENS = {"rgbsegmented", "rgbmasks"}
MASK_SUFFIX = re.compile(r"[_-](mask|masks|seg|gt|label)$", re.IGNORECASE)
HEALTHY_NAMES = {"healthy", "normal", "control", "nonanemic", "nonanaemic", "healthyindividuals"}
ANEMIC_NAMES = {"anemic", "anaemic", "anemia", "anaemia", "anemicindividuals", "anaemicindividuals"}
CSV_COLUMNS = {"image"}  # plus "class" or "label"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "x"


def _role_and_class(rel_parts: tuple[str, ...], stem: str) -> tuple[str, str, str | None, str]:
    """(role, class, split, pairing stem) of an image-like file from its folders and name."""
    role, cls, split = None, None, None
    for part in reversed(rel_parts):
        token = normalise(part)
        if token in SPLIT_TOKENS:
            split = split or SPLIT_TOKENS[token]
        elif token in MASK_FOLDER_TOKENS | IMAGE_FOLDER_TOKENS | RGB_MASK_FOLDER_TOKENS:
            if role is None:
                role = (
                    "mask"
                    if token in MASK_FOLDER_TOKENS
                    else "rgb_mask"
                    if token in RGB_MASK_FOLDER_TOKENS
                    else "image"
                )
        elif cls is None:
            cls = part
    base = MASK_SUFFIX.sub("", stem)
    if role is None:
        role = "mask" if base != stem else "image"
    return role, cls or "unlabelled", split, base


def class_labels(class_names: list[str]) -> dict[str, int]:
    """0 = healthy, 1 = anaemic when the names say so; otherwise the index in sorted order."""
    tokens = {name: normalise(name) for name in class_names}
    if all(t in HEALTHY_NAMES | ANEMIC_NAMES for t in tokens.values()):
        return {name: int(t in ANEMIC_NAMES) for name, t in tokens.items()}
    return {name: i for i, name in enumerate(sorted(class_names))}


def group_folder(root: Path, files: list[Path], scan: ScanResult) -> list[Sample]:
    """Samples of a generic folder layout; non-image files are listed as unrecognised."""
    grouped: dict[tuple, dict[str, Path]] = defaultdict(dict)
    for path in files:
        rel = path.relative_to(root)
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            scan.unrecognised.append((rel.as_posix(), f"not an image file (extension {path.suffix or 'none'})"))
            continue
        role, cls, split, base = _role_and_class(rel.parts[:-1], path.stem)
        key = (split, cls, base)
        if role in grouped[key]:
            scan.issues.append(
                Issue(
                    "duplicate_file",
                    "error",
                    rel.as_posix(),
                    f"one {role} per name {base!r}",
                    f"a second one besides {grouped[key][role].relative_to(root).as_posix()}",
                    "rename or remove one; the first in path order is used",
                )
            )
            continue
        grouped[key][role] = path
    labels = class_labels(sorted({k[1] for k in grouped}))
    samples = [_folder_sample(key, roles, labels) for key, roles in sorted(grouped.items(), key=lambda kv: str(kv[0]))]
    samples = [s for s in samples if "image" in s.files or "mask" in s.files]
    _dedupe_ids(samples, scan)
    scan.issues.extend(missing_partner_issues(samples))
    return samples


def _folder_sample(key: tuple, files: dict[str, Path], labels: dict[str, int]) -> Sample:
    split, cls, base = key
    sid = "folder_" + "_".join(_slug(p) for p in (split, cls, base) if p)
    return Sample(sid, "folder", cls, labels[cls], sid, sid, split=split, files=dict(files))


def _dedupe_ids(samples: list[Sample], scan: ScanResult) -> None:
    """Different names can slug to the same id ('a b' and 'a_b'): number the later ones and say so."""
    seen: dict[str, int] = {}
    for s in samples:
        if s.sample_id in seen:
            seen[s.sample_id] += 1
            new = f"{s.sample_id}_{seen[s.sample_id]}"
            scan.issues.append(
                Issue(
                    "id_collision",
                    "warning",
                    str(s.files.get("image", "")),
                    "names that give distinct sample ids",
                    f"a second {s.sample_id}",
                    f"renamed to {new}; rename the files to make ids stable",
                    new,
                )
            )
            s.sample_id = s.parent_id = s.group_id = new
        else:
            seen[s.sample_id] = 0


def read_metadata_csv(csv_path: Path, scan: ScanResult) -> list[Sample]:
    """Samples from a CSV with columns image, class (or label), and optional mask, rgb_mask, group, split, sample_id."""
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(
            csv_path, "a readable CSV file", f"an error: {exc}", "save it as UTF-8 CSV with a header"
        ) from exc
    columns = {c.strip().lower(): c for c in table.columns}
    if "image" not in columns or not ({"class", "label"} & set(columns)):
        raise DataError(
            csv_path,
            "columns image and class (or label); optional mask, rgb_mask, group, split",
            f"columns {', '.join(table.columns) or '(none)'}",
            "rename the header row",
        )
    table = table.rename(columns={v: k for k, v in columns.items()})
    class_column = "class" if "class" in table else "label"
    labels = class_labels(sorted(set(table[class_column])))
    # An empty cell means "no such file" on purpose; a path that does not exist is an error.
    samples = [_csv_sample(row, i, csv_path, labels, class_column, scan) for i, row in table.iterrows()]
    _dedupe_ids(samples, scan)
    return samples


def _csv_sample(row, index: int, csv_path: Path, labels, class_column: str, scan: ScanResult) -> Sample:
    files = {}
    for role in ("image", "mask", "rgb_mask"):
        value = str(row.get(role, "") or "").strip()
        if not value:
            continue
        path = Path(value) if Path(value).is_absolute() else (csv_path.parent / value)
        if not path.is_file():
            scan.issues.append(
                Issue(
                    f"missing_{role}",
                    "error",
                    f"{csv_path.name} row {index + 2}",
                    f"the {role} file {value}",
                    "no such file",
                    f"fix the path (relative paths are read from {csv_path.parent})",
                )
            )
            continue
        files[role] = path.resolve()
    cls = str(row[class_column])
    stem = Path(str(row["image"])).stem
    sid = str(row.get("sample_id", "") or "") or f"folder_{_slug(cls)}_{_slug(stem)}"
    group = str(row.get("group", "") or "") or sid
    split = str(row.get("split", "") or "") or None
    return Sample(sid, "folder", cls, labels[cls], sid, group, split=split, files=files)
