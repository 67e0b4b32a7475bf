"""Users' own data in a generic folder layout.

Folder layout (e.g. the 11,500-image "Anemic-RBC" set of the 3-TierDCFNet paper, never published in a
known layout)::

    ROOT/[train|val|test/]<class>/{images,masks}/<name>.png     or  <class>/<name>.png + <name>_mask.png

The class of a file is the nearest folder above it that is neither a role folder (images, masks, ...)
nor a split folder; its label comes from ``ingest.classes`` (healthy = 0, anaemic = 1, a --class-map, or
unlabelled; an unknown name is an error). Files directly under ROOT never define a class: next to class
folders they are listed as unrecognised; only a flat folder of images makes unlabelled samples of them.
A mask pairs with the image of the same name (after removing a ``_mask``/``_seg``/``_gt`` suffix) in the same
class and split. The metadata-CSV layout lives in ``ingest.metadata_csv``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from rbc_dataset.ingestion.anerbc import IMAGE_EXTENSIONS, SPLIT_TOKENS, ScanResult, normalise
from rbc_dataset.ingestion.classes import UNLABELLED, ClassMap, resolve_class, unknown_class_issue
from rbc_dataset.ingestion.samples import Sample, missing_partner_issues
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
ROOT_FILE_REASON = (
    "directly under the root, outside every class folder: a file here has no class (move it into a class folder)"
)


def slug(text: str) -> str:
    """Lower-case letters and digits joined by ``_``: the parts of a folder-layout sample id."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "x"


def _role_and_class(rel_parts: tuple[str, ...], stem: str) -> tuple[str, str, str | None, str]:
    """(role, class folder, split, pairing stem) of an image-like file from its folders and name."""
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
    return role, cls or UNLABELLED, split, base


def _image_files(root: Path, files: list[Path], scan: ScanResult) -> list[Path]:
    """Image files that can be samples; the rest is listed as unrecognised with the reason."""
    images = []
    for path in files:
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            rel = path.relative_to(root).as_posix()
            scan.unrecognised.append((rel, f"not an image file (extension {path.suffix or 'none'})"))
        else:
            images.append(path)
    if any(len(p.relative_to(root).parts) > 1 for p in images):  # class folders exist: loose files have no class
        loose = [p for p in images if len(p.relative_to(root).parts) == 1]
        scan.unrecognised.extend((p.relative_to(root).as_posix(), ROOT_FILE_REASON) for p in loose)
        images = [p for p in images if p not in set(loose)]
    return images


def group_folder(root: Path, files: list[Path], *, scan: ScanResult, class_map: ClassMap | None = None) -> list[Sample]:
    """Samples of a generic folder layout; non-image files and files loose under the root are listed as unrecognised.

    Args:
        root: the dataset folder.
        files: every file under it.
        scan: collects issues and unrecognised files.
        class_map: the user's --class-map (class folder name -> label).
    """
    grouped: dict[tuple, dict[str, Path]] = defaultdict(dict)
    duplicates: dict[tuple, list[Issue]] = defaultdict(list)
    for path in _image_files(root, files, scan):
        rel = path.relative_to(root)
        role, cls, split, base = _role_and_class(rel.parts[:-1], path.stem)
        key = (split, cls, base)
        if role in grouped[key]:
            duplicates[key].append(_duplicate(rel.as_posix(), role, base, grouped[key][role].relative_to(root)))
            continue
        grouped[key][role] = path
    labels = _class_labels(root, grouped, class_map or ClassMap(), scan)
    samples, keys = [], []
    for key, roles in sorted(grouped.items(), key=lambda kv: str(kv[0])):
        if "image" in roles or "mask" in roles:
            samples.append(_folder_sample(key, roles, labels))
            keys.append(key)
    dedupe_ids(samples, scan)
    for key, sample in zip(keys, samples, strict=True):  # a duplicate blocks its sample (never "the first file")
        scan.issues.extend(_with_sample(issue, sample.sample_id) for issue in duplicates.get(key, []))
    scan.issues.extend(missing_partner_issues(samples))
    return samples


def _duplicate(rel: str, role: str, base: str, kept: Path) -> Issue:
    return Issue(
        "duplicate_file",
        "error",
        path=rel,
        expected=f"one {role} per name {base!r}",
        found=f"a second one besides {kept.as_posix()}",
        fix="rename or remove one (validate and build stop on this; --allow-invalid leaves the sample out)",
    )


def _with_sample(issue: Issue, sample_id: str) -> Issue:
    return Issue(
        issue.code,
        issue.severity,
        path=issue.path,
        expected=issue.expected,
        found=issue.found,
        fix=issue.fix,
        sample_id=sample_id,
    )


def _class_labels(root: Path, grouped: dict[tuple, dict], class_map: ClassMap, scan: ScanResult) -> dict:
    """Class folder -> (class name, label); an unknown folder name is an error issue, its samples unlabelled."""
    counts: dict[str, int] = defaultdict(int)
    where: dict[str, str] = {}
    for (_, cls, _), roles in sorted(grouped.items(), key=lambda kv: str(kv[0])):
        counts[cls] += "image" in roles or "mask" in roles
        where.setdefault(cls, next(iter(roles.values())).parent.relative_to(root).as_posix() + "/")
    labels = {}
    for cls in sorted(counts):
        status, label = resolve_class(cls, class_map)
        if status == "unknown":
            scan.issues.append(unknown_class_issue(cls, where[cls], count=counts[cls]))
        labels[cls] = (UNLABELLED if label is None and status != "unknown" else cls, label)
    scan.issues.extend(class_map.unused_issues())
    return labels


def _folder_sample(key: tuple, files: dict[str, Path], labels: dict[str, tuple[str, int | None]]) -> Sample:
    split, cls, base = key
    sid = "folder_" + "_".join(slug(p) for p in (split, cls, base) if p)
    name, label = labels[cls]
    return Sample(sid, "folder", cls=name, label=label, parent_id=sid, group_id=sid, split=split, files=dict(files))


def dedupe_ids(samples: list[Sample], scan: ScanResult) -> None:
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
                    path=str(s.files.get("image", "")),
                    expected="names that give distinct sample ids",
                    found=f"a second {s.sample_id}",
                    fix=f"renamed to {new}; rename the files to make ids stable",
                    sample_id=new,
                )
            )
            s.sample_id = s.parent_id = s.group_id = new
        else:
            seen[s.sample_id] = 0
