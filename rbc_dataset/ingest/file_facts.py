"""Look at one file: hash, real format, header size and mode, truncation; parse reports.

Runs in worker processes, so it takes and returns plain values only.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from rbc_dataset.fileio import is_truncated, sha256_bytes, sniff_format
from rbc_dataset.reports import CBC_TESTS, REPORT_MAX_BYTES, parse_cbc_text, parse_morphology_text

Image.MAX_IMAGE_PIXELS = 200_000_000  # refuse decompression bombs, allow very large smears


def _decode_text(data: bytes) -> str:
    """Reports are UTF-8 (with or without BOM) or latin-1 (the µ sign)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _image_header(data: bytes, fmt: str | None) -> dict:
    """Width, height and mode from the header only (no full decode), or the reason it cannot be read."""
    if not data:
        return {"error": "empty file (0 bytes)"}
    if fmt is None:
        return {"error": f"not an image: unknown leading bytes {data[:8]!r}"}
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height, mode = image.width, image.height, image.mode
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        return {"error": f"header cannot be read as {fmt}: {exc}"}
    except Image.DecompressionBombError as exc:
        return {"error": f"refused as a decompression bomb: {exc}"}
    if is_truncated(data, fmt):
        return {
            "error": f"truncated {fmt} file: the end-of-image marker is missing ({len(data)} bytes)",
            "width": width,
            "height": height,
            "mode": mode,
        }
    return {"width": width, "height": height, "mode": mode}


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
        info.update(_image_header(data, fmt))
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
