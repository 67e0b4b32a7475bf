"""Decoding a shard's stored image and mask bytes, and the 0/1 mask check, without PyTorch.

The loaders (``hdf5.py``, ``hf.py``, ``streaming.py``) and ``rbc-dataset verify`` decode through these
functions, so both see the same pixels; verify runs in the curation install, which has no torch
(``pip install rbc-dataset`` without extras).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from rbc_dataset.errors import DataError
from rbc_dataset.fileio import ImageRefused, image_header

PARQUET_FIX = "run `rbc-dataset build ROOT --out DIR` (with the parquet format) and pass DIR"
# OpenCV >= 4.10 decodes straight to RGB; older versions decode to BGR and need a conversion.
_IMREAD_RGB = getattr(cv2, "IMREAD_COLOR_RGB", None)


def check_mask(mask: np.ndarray, where: str | Path | None) -> np.ndarray:
    """``mask`` if it is an (H, W) uint8 array of class indices 0 (background) and 1 (cell); a DataError otherwise.

    Every mask a loader returns (and every mask ``verify`` hashes) passes here: a mask of 0/255, of three
    channels or of 16 bits would make a segmentation loss fail ("Target 255 is out of bounds") or, with
    ``ignore_index=255``, silently ignore every cell pixel.
    """
    if mask.ndim == 2 and mask.dtype == np.uint8 and (mask.size == 0 or int(mask.max()) <= 1):
        return mask
    if mask.ndim != 2 or mask.dtype != np.uint8:
        found = f"a {mask.dtype} array of shape {mask.shape}"
    else:
        found = "values " + ", ".join(str(v) for v in np.unique(mask)[:8].tolist())
    raise DataError(
        where,
        "a single-channel 8-bit mask of class indices 0 (background) and 1 (cell)",
        found,
        "rebuild with `rbc-dataset build ROOT --out DIR --overwrite` (builds before format 2 stored Parquet masks "
        "as 0/255)",
    )


def _check_header(data: bytes, where: str | None, what: str) -> None:
    """The project's check before every decode (empty data, not an image, decompression bombs)."""
    try:
        image_header(data, where)
    except ImageRefused as refused:
        raise DataError(where, f"{what} bytes", refused.found, PARQUET_FIX) from refused


def decode_image(data: bytes, where: str | None = None) -> np.ndarray:
    """(H, W, 3) RGB uint8 from encoded image bytes (``where`` names the sample in errors)."""
    _check_header(data, where, "PNG image")
    buffer = np.frombuffer(data, np.uint8)
    if _IMREAD_RGB is not None:
        image = cv2.imdecode(buffer, _IMREAD_RGB)
    else:
        image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
        image = image if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if image is None:
        raise DataError(where, "PNG image bytes", "bytes OpenCV cannot decode", PARQUET_FIX)
    return image


def decode_mask(data: bytes, where: str | None = None) -> np.ndarray:
    """(H, W) uint8 of class indices 0/1 from the PNG bytes of a mask (``where`` names the sample in errors).

    The bytes are decoded as stored (no threshold): a mask that is not single-channel 8-bit 0/1 is refused by
    ``check_mask``, so the loaders and ``verify`` see exactly what ``datasets.load_dataset`` users see.
    """
    return check_mask(decode_stored_mask(data, where), where)


def decode_stored_mask(data: bytes, where: str | None = None) -> np.ndarray:
    """The mask PNG's pixels exactly as stored (any channels, depth and values): what ``verify`` inspects."""
    _check_header(data, where, "PNG mask")
    mask = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise DataError(where, "PNG mask bytes", "bytes OpenCV cannot decode", PARQUET_FIX)
    return mask
