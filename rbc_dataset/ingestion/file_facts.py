"""Look at one file: hash, real format, header size and mode, truncation; parse reports.

Runs in worker processes, so it takes and returns plain values only.
"""

from __future__ import annotations

import json
from pathlib import Path

from rbc_dataset.fileio import ImageRefused, image_header, sha256_bytes, sniff_format
from rbc_dataset.reports import CBC_TESTS, REPORT_MAX_BYTES, parse_cbc_text, parse_morphology_text

OUTSIDE_LINK = "a symbolic link to a file outside the dataset folder (not followed, not read)"


def _decode_text(data: bytes) -> str:
    """Reports are UTF-8 (with or without BOM) or latin-1 (the µ sign)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _image_header(data: bytes, path: str) -> dict:
    """Width, height and mode from the header only, through the check every decode goes through (``fileio``),
    or why the file is refused (never quoting its bytes)."""
    try:
        header = image_header(data, path)
    except ImageRefused as refused:
        return {"error": f"{refused.code.replace('_', ' ')}: {refused.found}"}
    return {"width": header.width, "height": header.height, "mode": header.mode}


def inspect_file(path: str, role: str) -> dict:
    """Facts about one file of the given role (image roles, ``cbc``, ``morphology``, ``meta``, other)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return {"path": path, "error": f"cannot be read: {exc.strerror or exc}"}
    info: dict = {"path": path, "sha256": sha256_bytes(data), "bytes": len(data)}
    if role in ("image", "mask", "rgb_mask", "instances"):
        fmt = sniff_format(data[:16])
        info["format"] = fmt
        info.update(_image_header(data, path))
    elif role in ("cbc", "morphology") and len(data) > REPORT_MAX_BYTES:
        # Not parsed: a report is a few hundred bytes, and parsing a huge one costs minutes and gigabytes.
        info["too_large"] = f"{len(data):,} bytes, more than the {REPORT_MAX_BYTES:,} a report may have"
        if role == "cbc":
            info["cbc"] = {**{f"cbc_{t}": None for t in CBC_TESTS}, "cbc_problems": ["too_large"], "cbc_raw": None}
    elif role == "cbc":
        info["cbc"] = _flatten_cbc(parse_cbc_text(_decode_text(data), source=path))
    elif role == "morphology":
        result = parse_morphology_text(_decode_text(data))
        info["morphology"] = {"keywords": list(result.keywords), "raw": result.raw_text}
    elif role == "meta":
        info["meta"] = _read_meta(data)
    return info


def _flatten_cbc(result) -> dict:
    out = {f"cbc_{test}": result.values[test] for test in CBC_TESTS}
    out.update({f"cbc_{test}_flag": bool(result.flagged[test]) for test in CBC_TESTS})
    out["cbc_problems"] = list(result.problems)
    out["cbc_raw"] = result.raw_text
    return out


def _read_meta(data: bytes) -> dict:
    """The few fields of a synthetic per-image JSON that the manifest keeps."""
    try:
        meta = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return {"error": f"not valid JSON: {exc}"}
    return {"severity": meta.get("severity"), "pattern": meta.get("pattern")}


def inspect_many(items: list[tuple[str, str]]) -> list[dict]:
    """Worker entry: inspect a batch of (path, role) pairs."""
    return [inspect_file(path, role) for path, role in items]
