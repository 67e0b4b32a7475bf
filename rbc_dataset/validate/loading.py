"""Load one file of a pair for validation: every way it can fail becomes a finding, never an exception."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from rbc_dataset.fileio import EXTENSION_FORMATS, is_truncated, sniff_format

EXIF_ORIENTATION = 0x0112


@dataclass
class Loaded:
    """A decoded file (``array`` None when it could not be decoded) and the facts found on the way."""

    path: Path
    rel: str
    array: np.ndarray | None = None
    format: str | None = None
    mode: str | None = None  # PIL mode from the header: RGB, L, RGBA, P, I;16 ...
    orientation: int = 1  # EXIF orientation tag, 1 = as stored
    findings: list[tuple] = field(default_factory=list)  # (code, severity, expected, found, fix)


def _orientation(image: Image.Image) -> int:
    """EXIF orientation without decoding pixels (for PNG, getexif() would decode the whole image first)."""
    if image.format == "PNG":
        raw = image.info.get("exif")
        if not raw:
            return 1
        exif = Image.Exif()
        exif.load(raw)
    else:
        exif = image.getexif()
    return int(exif.get(EXIF_ORIENTATION, 1) or 1)


def _header(data: bytes, loaded: Loaded, max_pixels: int) -> bool:
    """Read size, mode and EXIF orientation without decoding; False when the file must not be decoded."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height, loaded.mode = image.width, image.height, image.mode
            loaded.orientation = _orientation(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        loaded.findings.append(
            (
                "unreadable_file",
                "error",
                f"a readable {loaded.format} file",
                f"a header that cannot be read ({exc})",
                "re-download or re-export the file",
            )
        )
        return False
    if width * height > max_pixels:
        loaded.findings.append(
            (
                "too_many_pixels",
                "error",
                f"at most {max_pixels:,} pixels",
                f"{width}x{height} = {width * height:,} (a decompression bomb?)",
                "check the file; raise --max-pixels only for trusted data",
            )
        )
        return False
    return True


def load_file(path: Path, rel: str, max_pixels: int) -> Loaded:
    """Read, sniff, check and decode one image or mask file."""
    loaded = Loaded(path, rel)
    try:
        data = path.read_bytes()
    except OSError as exc:
        loaded.findings.append(
            (
                "unreadable_file",
                "error",
                "a readable file",
                f"an OS error: {exc.strerror}",
                "check that the file exists and is readable",
            )
        )
        return loaded
    loaded.format = sniff_format(data[:16])
    if loaded.format is None:
        loaded.findings.append(
            (
                "not_an_image",
                "error",
                "PNG, JPEG, TIFF or BMP bytes",
                f"unknown leading bytes {data[:8]!r} ({len(data)} bytes)",
                "re-export the file",
            )
        )
        return loaded
    named = EXTENSION_FORMATS.get(path.suffix.lower())
    if named and named != loaded.format:
        loaded.findings.append(
            (
                "extension_mismatch",
                "warning",
                f"{named.upper()} bytes, as the name says",
                f"{loaded.format.upper()} bytes",
                "rename or re-encode; readers here go by the bytes",
            )
        )
    if is_truncated(data, loaded.format):  # before the header: PIL's EXIF reader fails on cut-off files
        loaded.findings.append(
            (
                "truncated_file",
                "error",
                f"a complete {loaded.format} file",
                f"no end-of-image marker after {len(data)} bytes",
                "re-download or re-export the file",
            )
        )
        return loaded
    if not _header(data, loaded, max_pixels):
        return loaded
    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None:
        loaded.findings.append(
            (
                "undecodable_file",
                "error",
                f"decodable {loaded.format} data",
                "data OpenCV cannot decode",
                "re-export the file",
            )
        )
        return loaded
    if array.ndim == 3 and array.shape[2] == 3:
        array = cv2.cvtColor(array, cv2.COLOR_BGR2RGB)
    elif array.ndim == 3 and array.shape[2] == 4:
        array = cv2.cvtColor(array, cv2.COLOR_BGRA2RGBA)
    loaded.array = array
    return loaded
