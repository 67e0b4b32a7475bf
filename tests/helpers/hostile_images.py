"""Hostile image files for tests: decompression bombs, names that are HTML, and a guard that fails on decoding.

A bomb is a valid PNG (1-bit, paletted) declaring ``side`` x ``side`` pixels: about 110 KB on disk for 30,000²
but 900 MB as indices and 2.7 GB as the RGB array OpenCV would make of it, so any test that decodes one is
both slow and caught by ``forbid_decoding``.
"""

from __future__ import annotations

import functools
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np

from tests.helpers import tree_hashes

HTML_NAMES = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "<iframe srcdoc=x>")
FILE_SAFE_HTML = "<img src=x onerror=alert(1)>"  # no '/', so it can be a file or folder name


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


@functools.cache
def png_bomb(side: int = 30_000) -> bytes:
    """PNG bytes of a ``side`` x ``side`` 1-bit paletted image of zeros (built row by row, never held decoded)."""
    rows = zlib.compressobj(9)
    row = bytes(1 + (side + 7) // 8)  # filter byte + packed bits
    idat = b"".join(rows.compress(row) for _ in range(side)) + rows.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 3, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"PLTE", b"\x00\x00\x00\xff\xff\xff")
        + _chunk(b"IDAT", idat)
        + _chunk(b"IEND", b"")
    )


def forbid_decoding(monkeypatch, data: bytes) -> None:
    """Make ``cv2.imdecode`` fail the test when it is handed ``data`` (checked by the PNG header bytes)."""
    original = cv2.imdecode
    signature = data[:33]  # PNG signature + IHDR: unique to the bomb's size

    def guarded(buffer, flags):
        if bytes(np.asarray(buffer[:33], np.uint8)) == signature:
            raise AssertionError("a refused file reached cv2.imdecode")
        return original(buffer, flags)

    monkeypatch.setattr(cv2, "imdecode", guarded)


def outside_output(folder: Path) -> dict[str, str]:
    """Checksums of every file under ``folder`` except its ``out/`` subfolder (inputs and anything stray)."""
    return {k: v for k, v in tree_hashes(folder).items() if not k.startswith("out/")}
