"""Load one file of a pair for validation: every way it can fail becomes a finding, never an exception."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from rbc_dataset.fileio import (
    EXTENSION_FORMATS,
    ImageRefused,
    decode_image,
    image_header,
    link_leaves,
    read_file,
    sniff_format,
)

# Findings about a file itself: such a pair is never decoded for a thumbnail (a bomb, a link out of the root ...).
FILE_FINDINGS = frozenset(
    {
        "empty_file",
        "not_an_image",
        "truncated_file",
        "unreadable_file",
        "undecodable_file",
        "too_many_pixels",
        "symlink_outside_root",
    }
)


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


def load_file(path: Path, rel: str, *, max_pixels: int, root: Path | None = None) -> Loaded:
    """Read, sniff, check and decode one image or mask file (``fileio``'s header check comes first).

    With ``root``, a file reached through a symbolic link that leaves the root is reported, never read:
    nothing from outside the dataset may reach a report.
    """
    loaded = Loaded(path, rel)
    if root is not None and link_leaves(path, root):
        loaded.findings.append(
            (
                "symlink_outside_root",
                "error",
                "a file inside the dataset folder",
                "a symbolic link to a file outside the dataset folder (not followed, not read)",
                "copy the file into the dataset or remove the link",
            )
        )
        return loaded
    try:
        data = read_file(path)
        loaded.format = sniff_format(data[:16])
        _check_extension(loaded)
        header = image_header(data, path, max_pixels=max_pixels)
        loaded.mode, loaded.orientation = header.mode, header.orientation
        array = decode_image(data, path, flags=cv2.IMREAD_UNCHANGED, max_pixels=max_pixels)
    except ImageRefused as refused:
        loaded.findings.append((refused.code, "error", refused.expected, refused.found, refused.fix))
        return loaded
    loaded.array = array
    return loaded


def _check_extension(loaded: Loaded) -> None:
    named = EXTENSION_FORMATS.get(loaded.path.suffix.lower())
    if named and loaded.format and named != loaded.format:
        loaded.findings.append(
            (
                "extension_mismatch",
                "warning",
                f"{named.upper()} bytes, as the name says",
                f"{loaded.format.upper()} bytes",
                "rename or re-encode; readers here go by the bytes",
            )
        )
