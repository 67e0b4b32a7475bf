"""Turn samples plus the facts about their files into manifest rows (dicts matching MANIFEST_SCHEMA)."""

from __future__ import annotations

from pathlib import Path

from rbc_dataset.fileio import EXTENSION_FORMATS
from rbc_dataset.ingestion.samples import Sample
from rbc_dataset.ingestion.tiles import TileOrder
from rbc_dataset.issues import Issue
from rbc_dataset.layout import tile_box
from rbc_dataset.manifest import MANIFEST_SCHEMA

IMAGE_HEADER_ROLES = {
    "image": ("image_format", "width", "height", "image_mode"),
    "mask": ("mask_format", "mask_width", "mask_height", "mask_mode"),
}


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:  # CSV layouts may name files outside the root
        return path.as_posix()


def _file_fields(sample: Sample, infos: dict, root: Path, issues: list[Issue]) -> dict:
    row: dict = {}
    for role, path in sample.files.items():
        info = infos[str(path)]
        row[f"{role}_path"] = _rel(path, root)
        row[f"{role}_sha256"] = info.get("sha256")
        if "error" in info:
            issues.append(
                Issue(
                    "unreadable_file",
                    "error",
                    path=_rel(path, root),
                    expected=f"a readable {role} file",
                    found=info["error"],
                    fix="re-download or re-export this file",
                    sample_id=sample.sample_id,
                )
            )
        if "too_large" in info:
            issues.append(_too_large(sample, role, _rel(path, root), info["too_large"]))
        _check_extension(sample, role, path=path, info=info, root=root, issues=issues)
        if role in IMAGE_HEADER_ROLES:
            keys = IMAGE_HEADER_ROLES[role]
            row.update(
                {
                    keys[0]: info.get("format"),
                    keys[1]: info.get("width"),
                    keys[2]: info.get("height"),
                    keys[3]: info.get("mode"),
                }
            )
        if "cbc" in info:
            row.update(info["cbc"])
        if "morphology" in info:
            row["morphology_keywords"] = info["morphology"]["keywords"]
            row["morphology_raw"] = info["morphology"]["raw"]
        if "meta" in info and info["meta"].get("severity"):
            row["severity"] = info["meta"]["severity"]
            row["severity_source"] = "synthetic_truth"
    return row


def _too_large(sample: Sample, role: str, rel: str, found: str) -> Issue:
    return Issue(
        "report_too_large",
        "warning",
        path=rel,
        expected=f"a {role} report of a few hundred bytes",
        found=found,
        fix="check the file (a wrong export, or another file under this name?); it was not parsed",
        sample_id=sample.sample_id,
    )


def _check_extension(sample: Sample, role: str, *, path: Path, info: dict, root: Path, issues: list[Issue]) -> None:
    """A file whose bytes are another format than its name says (e.g. a PNG named .jpg, a JPEG mask named .png)."""
    named = EXTENSION_FORMATS.get(path.suffix.lower())
    actual = info.get("format")
    if named and actual and named != actual:
        issues.append(
            Issue(
                "extension_mismatch",
                "warning",
                path=_rel(path, root),
                expected=f"{named.upper()} bytes (from the name)",
                found=f"{actual.upper()} bytes",
                fix="rename the file or re-encode it; readers here go by the bytes",
                sample_id=sample.sample_id,
            )
        )


def _tile_fields(sample: Sample, order: TileOrder | None) -> dict:
    if sample.tile is None:
        return {}
    row = {"tile_index": sample.tile}
    if order is not None and order.order is not None:
        box = tile_box(sample.tile, order=order.order)
        row.update(
            {
                "tile_order": order.order,
                "tile_row": box.row,
                "tile_col": box.col,
                "tile_x": box.x,
                "tile_y": box.y,
                "tile_width": box.width,
                "tile_height": box.height,
            }
        )
    return row


def build_rows(
    samples: list[Sample], infos: dict, *, root: Path, order: TileOrder | None, issues: list[Issue]
) -> list[dict]:
    """One dict per sample with every schema column present (missing values as None)."""
    empty = {name: None for name in MANIFEST_SCHEMA.names}
    rows = []
    for sample in samples:
        row = dict(empty)
        row.update(
            {
                "sample_id": sample.sample_id,
                "source": sample.source,
                "class_name": sample.cls,
                "label": sample.label,
                "number": sample.number,
                "parent_id": sample.parent_id,
                "group_id": sample.group_id,
                "split": sample.split,
                "root": root.as_posix(),
                "synthetic": "meta" in sample.files,
            }
        )
        row.update(_tile_fields(sample, order))
        row.update(_file_fields(sample, infos, root, issues))
        rows.append(row)
    codes_by_sample: dict[str, list[str]] = {}
    for issue in issues:
        if issue.sample_id:
            codes_by_sample.setdefault(issue.sample_id, []).append(issue.code)
    for row in rows:
        row["problems"] = sorted(set(codes_by_sample.get(row["sample_id"], [])))
        for key in ("cbc_problems", "morphology_keywords"):
            row[key] = row[key] or []
    return rows
